"""The exemption allow-list: which exemptions count, judged on an evaluation date.

The only source of exemptions is the pack's per-stack config, `policies/config/<stack>.json`, owned by the security
team (.github/CODEOWNERS): the `exemptions` setting of `pack-exemption-require-allow-list` lists every exemption
of the stack, one entry each:

    {"policy": "<policy id>", "resource": "<type>::<logical name>", "reason": "...", "expires": "YYYY-MM-DD"}

An entry may narrow itself to named checks of the policy (`"checks": ["root"]`, the names docs/policies.md lists
for a policy that has them): the policy then still judges the resource and drops only the problems of those checks,
so an exemption meant for running as root does not also let the pod add capabilities. An entry naming a check the
policy does not have is refused.

`resource` is the end of the resource's URN (`aws:s3/bucket:Bucket::platform-lake-access-logs`): exact, no
pattern, so an entry can never cover a resource added later. An entry on a `helm.v3.Release` also covers the
objects that release installs (the gate over a render gives them the release as parent). An entry counts from
its listing through its expiry date (inclusive), at most `MAX_DAYS` ahead of the evaluation date, and only for a
policy marked exemptable. Everything else is refused, and the allow-list policy reports each refusal: nothing is
dropped silently. `make policy-config` copies each policy's entries into that policy's own `exemptions` setting,
which is what the policy honours (a policy sees only its own settings); the gate refuses a config whose copies
differ from the list.

The same config lists the stack's exceptions (`exceptions`: resource, reason, expiry): what the platform keeps
against its own direction where no policy fails, such as a long-lived cloud key where the client cannot take a
workload identity. Every AWS access key must be listed there, so each one left is a reviewed, dated decision, and
the evidence report (`make evidence`) lists them.

The evaluation date is an input: the `evaluationDate` setting, which the gate sets (`make plan DATE=...`, fixed in
tests); without it, the day of the run in UTC, as under the Pulumi CLI.

Nothing here imports the SDK, so the gate and the evidence report judge entries with this same code.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ALLOW_LIST = "pack-exemption-require-allow-list"
SETTING = "exemptions"
EXCEPTIONS = "exceptions"
# Resources that must be listed as exceptions: a long-lived key where the principle is workload identity.
EXCEPTION_TYPES = ("aws:iam/accessKey:AccessKey",)
DATE_SETTING = "evaluationDate"
# An exemption is listed for a year at most, so each one is reviewed again at least yearly; one within
# `WARN_DAYS` of its expiry is reported so it is renewed or fixed before it stops counting.
MAX_DAYS = 366
WARN_DAYS = 30
# What a resource may still carry to claim an exemption; a claim the list does not honour is a violation.
CLAIM_TAG = "dataplatform:policy-exemptions"
CLAIM_ANNOTATION = "dataplatform/policy-exemptions"
RELEASE = "kubernetes:helm.sh/v3:Release"

CODE = re.compile(r"^DP-[A-Z0-9]+-\d+$")
RESOURCE = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9./-]*:[A-Za-z0-9]+::\S+$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

ENTRY_SCHEMA = {
    "type": "object",
    "properties": {
        "policy": {"type": "string", "description": "The exempted policy's id (not its code)."},
        "resource": {"type": "string", "description": "`<type>::<logical name>`, the end of the resource's URN."},
        "reason": {"type": "string", "description": "Why, in one sentence."},
        "expires": {"type": "string", "description": "Last day the exemption counts (YYYY-MM-DD)."},
        "checks": {"type": "array", "items": {"type": "string"},
                   "description": "Optional: only these named checks of the policy are exempted (docs/policies.md)."},
    },
}
EXCEPTION_SCHEMA = {
    "type": "object",
    "properties": {
        "resource": ENTRY_SCHEMA["properties"]["resource"],
        "reason": ENTRY_SCHEMA["properties"]["reason"],
        "expires": {"type": "string", "description": "Last day the exception stands (YYYY-MM-DD)."},
    },
}
SETTINGS_SCHEMA = {
    SETTING: {
        "type": "array",
        "items": ENTRY_SCHEMA,
        "default": [],
        "description": "The exemptions of this stack: policy, resource, reason and expiry date (docs/policies.md)",
    },

    DATE_SETTING: {
        "type": "string",
        "description": "The date exemptions are judged on (YYYY-MM-DD); the gate sets it, else the day of the run",
    },
}


ALLOW_LIST_SCHEMA = {
    **SETTINGS_SCHEMA,
    EXCEPTIONS: {
        "type": "array",
        "items": EXCEPTION_SCHEMA,
        "default": [],
        "description": "The exceptions of this stack (every AWS access key among them): resource, reason, expiry",
    },
}


@dataclass(frozen=True)
class Judged:
    """One listed entry and what became of it on the evaluation date."""

    policy: str
    resource: str
    reason: str
    expires: str
    status: str  # "honoured", "expiring" (honoured, within WARN_DAYS of its expiry) or "refused"
    problem: str = ""
    days_left: int | None = None
    checks: tuple[str, ...] = ()
    """The named checks of the policy the entry exempts; empty: the whole policy."""

    @property
    def counts(self) -> bool:
        return self.status != "refused"

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "resource": self.resource,
            "reason": self.reason,
            "expires": self.expires,
            "status": self.status,
            "problem": self.problem,
            "daysLeft": self.days_left,
            **({"checks": list(self.checks)} if self.checks else {}),
        }


def resource_key(urn: str) -> str:
    """`<type>::<name>` of a URN (`urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>`)."""
    parts = urn.split("::", 3)
    if len(parts) < 4:
        return urn
    return f"{parts[2].rsplit('$', 1)[-1]}::{parts[3]}"


def parse_date(value: Any) -> datetime.date | None:
    if not isinstance(value, str) or not ISO_DATE.match(value):
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


def evaluation_date(config: Mapping[str, Any]) -> datetime.date:
    """The `evaluationDate` setting, else today in UTC; a malformed date is an error, never today."""
    given = config.get(DATE_SETTING)
    if given in (None, ""):
        return datetime.datetime.now(datetime.UTC).date()
    parsed = parse_date(given)
    if parsed is None:
        raise ValueError(f"{DATE_SETTING} {given!r} is not a date (YYYY-MM-DD)")
    return parsed


def judged_on(config: Mapping[str, Any], report_violation: Any) -> datetime.date | None:
    """The evaluation date of a policy that judges by date; None, with the malformed date reported, when the
    setting is not a date (a policy never falls back to today for a date it was given)."""
    try:
        return evaluation_date(config)
    except ValueError as error:
        report_violation(f"{error}; the gate sets it, or leave it unset to judge on the day of the run.")
        return None


def _text(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    return value.strip() if isinstance(value, str) else ""


def judge(
    entries: Iterable[Any],
    on: datetime.date,
    exemptable: Mapping[str, bool],
    codes: Mapping[str, str] | None = None,
    checks: Mapping[str, Iterable[str]] | None = None,
) -> list[Judged]:
    """Every entry judged on `on`: `exemptable` maps each policy id of the pack to whether it may be exempted,
    `codes` each policy code to its id (to name the id when an entry gives a code), `checks` each policy id to the
    names of its checks (an entry's `checks` must be among them; not given: the names are not judged here)."""
    codes = codes or {}
    judged: list[Judged] = []
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        if not isinstance(entry, Mapping):
            judged.append(Judged("", "", "", "", "refused", f"entry {entry!r} is not an object"))
            continue
        policy, resource = _text(entry, "policy"), _text(entry, "resource")
        reason, expires = _text(entry, "reason"), _text(entry, "expires")
        problem, days_left = _problem(policy, resource, reason, expires, on, exemptable, codes), None
        named, check_problem = _checks(entry, policy, checks)
        problem = problem or check_problem
        if not problem and (policy, resource) in seen:
            problem = "listed twice; keep one entry"
        seen.add((policy, resource))
        status = "refused"
        if not problem:
            days_left = (parse_date(expires) - on).days  # type: ignore[operator]
            status = "expiring" if days_left <= WARN_DAYS else "honoured"
        judged.append(Judged(policy, resource, reason, expires, status, problem, days_left, named))
    return judged


def _checks(entry: Mapping[str, Any], policy: str,
            checks: Mapping[str, Iterable[str]] | None) -> tuple[tuple[str, ...], str]:
    """An entry's named checks, and why they do not count ("" when they do)."""
    if "checks" not in entry:
        return (), ""
    given = entry["checks"]
    if not isinstance(given, list) or not given or not all(isinstance(item, str) and item.strip() for item in given):
        return (), f"checks {given!r} is not a non-empty list of check names; name the checks or drop the key"
    named = tuple(item.strip() for item in given)
    if checks is not None:
        known_checks = sorted(checks.get(policy, ()))
        unknown = [item for item in named if item not in known_checks]
        if unknown:
            offer = f"its checks are {', '.join(known_checks)}" if known_checks else "it has no named checks"
            return named, f"`{policy}` has no check {', '.join(unknown)}; {offer} (docs/policies.md)"
    return named, ""


def judge_exceptions(entries: Iterable[Any], on: datetime.date) -> list[Judged]:
    """The listed exceptions judged on `on` as exemptions are, without a policy."""
    judged: list[Judged] = []
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, Mapping):
            judged.append(Judged("", "", "", "", "refused", f"entry {entry!r} is not an object"))
            continue
        resource, reason, expires = _text(entry, "resource"), _text(entry, "reason"), _text(entry, "expires")
        problem = _dated_problem(resource, reason, expires, on) or (
            "listed twice; keep one entry" if resource in seen else "")
        seen.add(resource)
        days_left = None if problem else (parse_date(expires) - on).days  # type: ignore[operator]
        status = "refused" if problem else "expiring" if days_left <= WARN_DAYS else "honoured"  # type: ignore
        judged.append(Judged("", resource, reason, expires, status, problem, days_left))
    return judged


def _problem(policy: str, resource: str, reason: str, expires: str, on: datetime.date,
             exemptable: Mapping[str, bool], codes: Mapping[str, str]) -> str:
    if not policy:
        return "it names no policy; give the policy id"
    if policy not in exemptable:
        if policy in codes:
            return f"`{policy}` is a code; give the policy id `{codes[policy]}`"
        if CODE.match(policy):
            return f"`{policy}` is a code and no policy of the pack has it; give a policy id (docs/policies.md)"
        return f"no policy `{policy}` in the pack (docs/policies.md lists them)"
    if not exemptable[policy]:
        return f"`{policy}` cannot be exempted; fix the resource instead"
    return _dated_problem(resource, reason, expires, on)


def _dated_problem(resource: str, reason: str, expires: str, on: datetime.date) -> str:
    if not RESOURCE.match(resource):
        return f"resource {resource!r} is not `<type>::<logical name>` (the end of the resource's URN)"
    if not reason:
        return "the reason is blank; say why in one sentence"
    expiry = parse_date(expires)
    if expiry is None:
        return f"expires {expires!r} is not a date (YYYY-MM-DD); every exemption has an expiry date"
    if expiry < on:
        return f"expired on {expires}; renew it with a new date or fix the resource"
    if (expiry - on).days > MAX_DAYS:
        return f"expires {expires}, more than {MAX_DAYS} days after {on.isoformat()}; list it for a year at most"
    return ""


def honoured(judged: Iterable[Judged], policy: str) -> dict[str, Judged]:
    """Resource key -> the entry exempting it from `policy`, for the entries that count."""
    return {entry.resource: entry for entry in judged if entry.counts and entry.policy == policy}


def covering(exempt: Mapping[str, Judged], urn: str, parent: str | None = None) -> Judged | None:
    """The entry that exempts the resource `urn`: its own, or its release's when a listed release installed it."""
    own = exempt.get(resource_key(urn))
    if own is not None:
        return own
    if parent and resource_key(parent).startswith(f"{RELEASE}::"):
        return exempt.get(resource_key(parent))
    return None


def slices(entries: Iterable[Any]) -> dict[str, list[Any]]:
    """Policy id -> its entries, as `make policy-config` copies them into each policy's own setting."""
    result: dict[str, list[Any]] = {}
    for entry in entries:
        if isinstance(entry, Mapping) and isinstance(entry.get("policy"), str):
            result.setdefault(entry["policy"].strip(), []).append(dict(entry))
    return result


def claims(props: Any, read: Any) -> list[str]:
    """The policy ids a resource claims to be exempt from, in its tag or annotation; `read(value, *path)` reads
    a value the way the caller can (the pack's unknown-safe `known`, or a plain lookup)."""
    found = []
    for path in (("tags", CLAIM_TAG), ("metadata", "annotations", CLAIM_ANNOTATION)):
        value = read(props, *path)
        if isinstance(value, str):
            found += value.replace(",", " ").split()
    return sorted(set(found))
