"""The gate's findings and the pack's policies as the gate reports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime.proto import analyzer_pb2

LEVELS = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}


LEVEL_NAMES = {value: name for name, value in LEVELS.items()}


SEVERITIES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}


SKIPPED_PREFIX = "can't run policy '"


class GateError(Exception):
    """The pack could not be started, configured or run; the message says what to fix."""


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    code: str
    severity: str
    level: str
    description: str
    config_schema: dict[str, Any]
    required: tuple[str, ...]
    kind: str = ""  # "resource" or "stack", as the pack reports its policy type
    tags: tuple[str, ...] = ()


@dataclass
class GateReport:
    pack: str
    version: str
    stack: str
    preview: bool
    violations: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    resources: int = 0
    seconds: float = 0.0
    evaluation_date: str = ""
    # The allow-list's entries as judged on the evaluation date (policies/exemptions.py `Judged.to_dict()`).
    exemptions: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    # (policy, urn, reason) for each resource a resource policy reported it does not judge (or is exempt from).
    not_applicable: list[tuple[str, str, str]] = field(default_factory=list)
    # Policy -> the level it ran at and the settings it ran with, and the pack's policies as it described them.
    levels: dict[str, str] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, PolicyInfo] = field(default_factory=dict)

    @property
    def mandatory(self) -> list[dict[str, str]]:
        return [violation for violation in self.violations if violation["level"] == "mandatory"]

    @property
    def passed(self) -> bool:
        return not self.mandatory

    @property
    def expiring(self) -> list[dict[str, Any]]:
        return [entry for entry in self.exemptions if entry["status"] == "expiring"]

    def exemption_summary(self) -> str:
        """One line: the evaluation date and what became of the listed exemptions."""
        counted = sum(entry["status"] != "refused" for entry in self.exemptions)
        refused = len(self.exemptions) - counted
        return (f"evaluated on {self.evaluation_date}: {counted} exemption(s) honoured "
                f"({len(self.expiring)} expiring within 30 days), {refused} refused")

    def exemption_warnings(self) -> list[str]:
        return [f"warning: the exemption of `{entry['resource']}` from `{entry['policy']}` expires on "
                f"{entry['expires']} ({entry['daysLeft']} days); renew it in policies/config/{self.stack}.json or fix "
                "the resource" for entry in self.expiring]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "version": self.version,
            "stack": self.stack,
            "preview": self.preview,
            "resources": self.resources,
            "passed": self.passed,
            "evaluationDate": self.evaluation_date,
            "exemptions": self.exemptions,
            "violations": self.violations,
            "skipped": self.skipped,
        }

    def to_text(self) -> str:
        lines = [
            f"policy gate: {self.pack}@{self.version} on stack {self.stack} "
            f"({'preview' if self.preview else 'update'} semantics, {self.resources} resources): "
            f"{len(self.mandatory)} mandatory, {len(self.violations) - len(self.mandatory)} other violations; "
            f"{self.exemption_summary()}"
        ]
        for violation in self.violations:
            lines.append(
                f"  [{violation['level']}] {violation['code']} {violation['policy']} ({violation['severity']}): "
                f"{violation['message']}"
            )
        lines += [f"  {warning}" for warning in self.exemption_warnings()]
        return "\n".join(lines)
