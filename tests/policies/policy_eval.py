"""Run the pack's policies in-process over a recording, the way the analyzer server hands them resources.

Properties go through the SDK's own deserialisation and unknown-checking proxy, so a policy that touches a value
unknown at preview is reported as `SKIPPED` here, exactly where the server would skip it. Each policy's settings
are its schema defaults, then the recording's stack config (`policies/config/<stack>.json`, which carries the
program's facts such as the charts' hardening paths) without its exemptions and its role-to-layer matrix (they name
the program's resources and principals, not the fixtures'; the stack's accounts stay: the fixtures name prod's),
then the allow-list the test gives (exemptions and exceptions and each policy's copy, as `make policy-config` writes
them), then the test's overrides. Exemptions are judged on `EVALUATION_DATE`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _NotApplicableError  # what `args.not_applicable()` raises; the server catches it
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from infra.offline.harness import RecordedResource, Recording
from infra.offline.role_matrix import PRINCIPAL_KEYS
from policies.exemptions import ALLOW_LIST, DATE_SETTING, SETTING, slices
from policies.registry import POLICIES

EVALUATION_DATE = "2027-01-15"

SKIPPED = "SKIPPED"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "policies" / "config"


def _props(inputs: dict[str, Any]) -> Any:
    # Round-trip through JSON as the wire does (numbers stay floats, secrets keep their signature).
    return unknown_checking_proxy(deserialize_properties(json.loads(json.dumps(inputs))))


def _opts(resource: RecordedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        resource.protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], resource.parent or None
    )


def stack_settings(stack: str) -> dict[str, dict[str, Any]]:
    """Policy id -> the settings `policies/config/<stack>.json` gives it (enforcement levels left out)."""
    document = json.loads((CONFIG_DIR / f"{stack}.json").read_text())
    return {
        name: {key: value for key, value in entry.items()
               if key not in ("enforcementLevel", SETTING, "exceptions", *PRINCIPAL_KEYS.get(name, ()))}
        for name, entry in document.items()
        if isinstance(entry, dict)
    }


def exemption_settings(allow_list: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The allow-list (`exemptions`, `exceptions`) and each listed policy's copy of its own exemptions, as
    `make policy-config` writes them."""
    entries = allow_list.get(SETTING, [])
    return {ALLOW_LIST: dict(allow_list), **{name: {SETTING: own} for name, own in slices(entries).items()}}


def policy_config(policy: Any, *layers: dict[str, Any] | None) -> dict[str, Any]:
    schema = policy.config_schema.properties if policy.config_schema else {}
    config = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
    for layer in layers:
        config.update(layer or {})
    return config


def violations(recording: Recording, config: dict[str, dict[str, Any]] | None = None,
               allow_list: dict[str, Any] | None = None) -> set[tuple[str, str, str]]:
    """Every (policy id, resource name, message) the pack reports; a skipped policy gives message SKIPPED."""
    config = config or {}
    stack = stack_settings(recording.stack)
    listed = exemption_settings(allow_list or {})
    names = {resource.urn: resource.name for resource in recording.resources}
    found: set[tuple[str, str, str]] = set()
    for policy in POLICIES:
        schema = policy.config_schema.properties if policy.config_schema else {}
        dated = {DATE_SETTING: EVALUATION_DATE} if DATE_SETTING in schema else {}
        settings = policy_config(policy, stack.get(policy.name), dated, listed.get(policy.name),
                                 config.get(policy.name))
        if isinstance(policy, ResourceValidationPolicy):
            for resource in recording.resources:
                args = ResourceValidationArgs(
                    resource.type, _props(resource.inputs), resource.urn, resource.name, _opts(resource), None, settings
                )

                def report(message: str, urn: str | None = None, name: str = resource.name, p: str = policy.name):
                    found.add((p, name, message))

                try:
                    policy.validate(args, report)
                except UnknownValueError:
                    found.add((policy.name, resource.name, SKIPPED))
                except _NotApplicableError:
                    pass  # the policy does not judge this resource, or the resource is exempt from it
        else:
            by_urn: dict[str, PolicyResource] = {}
            for resource in recording.resources:
                by_urn[resource.urn] = PolicyResource(
                    resource.type,
                    _props(resource.inputs),
                    resource.urn,
                    resource.name,
                    _opts(resource),
                    None,
                    None,
                    [],
                    {},
                )
            for resource in recording.resources:
                target = by_urn[resource.urn]
                target.parent = by_urn.get(resource.parent)
                target.dependencies = [by_urn[urn] for urn in resource.dependencies if urn in by_urn]
                target.property_dependencies = {
                    key: [by_urn[urn] for urn in urns if urn in by_urn]
                    for key, urns in resource.property_dependencies.items()
                }

            def report_stack(message: str, urn: str | None = None, p: str = policy.name):
                found.add((p, names.get(urn or "", "<stack>"), message))

            try:
                policy.validate(StackValidationArgs(list(by_urn.values()), settings), report_stack)
            except UnknownValueError:
                found.add((policy.name, "<stack>", SKIPPED))
    return found
