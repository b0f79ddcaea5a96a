"""What every policy of the pack shares: metadata, unknown-safe reads, bucket joins and exemptions.

Every policy is built by `resource_policy()` or `stack_policy()`, which wrap its check: an exemptable policy skips
the resources its `exemptions` setting exempts (policies/exemptions.py), and a resource policy that neither read a
resource's inputs nor reported on it tells the engine it does not apply to that resource (`not_applicable`), so the
gate knows which resources each policy judged (the evidence report's pass, fail, exempt or skipped).

Policies see inputs in the engine's form (camelCase keys). At preview some values are unknown, and touching
one through the SDK's proxy skips the whole policy, so everything here reads with `known()`, which turns an
unknown into `UNKNOWN` instead, and tests for presence by iterating keys, which never touches a value.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyResource,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from .exemptions import SETTINGS_SCHEMA, covering, evaluation_date, honoured, judge

FRAMEWORK = "dataplatform-baseline"
DOCS = "docs/policies.md"
ID_VERBS = ("enable", "disallow", "configure", "require")

ROLE_TAG = "dataplatform:role"
# The reasons a resource policy gives the engine for not judging a resource (the gate reads them back).
NOT_APPLICABLE_EXEMPT = "exempt: "
NOT_APPLICABLE_UNREAD = "not a resource this policy judges"

AWS_BUCKET = "aws:s3/bucket:Bucket"
MINIO_BUCKET = "minio:index/s3Bucket:S3Bucket"
# The pack's own audit defaults, for a stack config that names none (the program writes its stacks' facts into
# policies/config/<stack>.json): the fewest days an audit trail is kept, and the bucket roles that hold one.
MIN_AUDIT_DAYS = 90
AUDIT_BUCKET_ROLES = ["logs", "access-logs"]


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Meta:
    """What the catalogue and the gate know about a policy beyond the SDK's fields."""

    id: str
    code: str
    title: str
    checks: str
    exemptable: bool
    kind: str  # "resource" or "stack"
    gate: str = ""
    """What of this check only the offline gate makes (the facts the Pulumi policy SDK does not give the pack: the
    objects a chart renders, the secret marking of an input, ...); empty when `pulumi preview --policy-pack` makes
    all of it. docs/policies.md marks it (policies/catalogue.py)."""
    named_checks: Mapping[str, str] | None = None
    """Check name -> what it checks, for a policy whose exemptions may name checks (policies/exemptions.py)."""


# The part every Kubernetes resource policy leaves to the gate: under the CLI a Helm release is one resource.
GATE_RENDERED = ("judges every object a chart renders (pods, services, secrets) only in the offline gate over a "
                 "render (`make render GATE=1`, the deploy workflow), not under the CLI, which sees the release's "
                 "values alone")


REGISTRY: dict[str, Meta] = {}


def _register(meta: Meta) -> None:
    if meta.id in REGISTRY:
        raise ValueError(f"policy id {meta.id} is declared twice")
    REGISTRY[meta.id] = meta


def resource_policy(
    policy_id: str,
    code: str,
    title: str,
    checks: str,
    severity: Severity,
    tags: list[str],
    remediation: str,
    validate: Callable,
    exemptable: bool = False,
    config: dict[str, dict[str, Any]] | None = None,
    gate: str | None = None,
    named_checks: Mapping[str, str] | None = None,
) -> ResourceValidationPolicy:
    """`gate`: what of the check only the offline gate makes (Meta.gate); a Kubernetes policy's default is the
    rendered objects. `named_checks`: the checks an exemption may name on its own (the validation asks
    `waived(name)` before it reports a problem of one)."""
    if gate is None:
        gate = GATE_RENDERED if "kubernetes" in tags else ""
    _register(Meta(policy_id, code, title, checks, exemptable, "resource", gate=gate,
                   named_checks=dict(named_checks or {})))
    fields = _fields(policy_id, code, title, severity, tags, remediation, _with_exemptions(config, exemptable))
    return ResourceValidationPolicy(name=policy_id, validate=_judging_resources(policy_id, validate, exemptable),
                                    **fields)


def stack_policy(
    policy_id: str,
    code: str,
    title: str,
    checks: str,
    severity: Severity,
    tags: list[str],
    remediation: str,
    validate: Callable,
    exemptable: bool = False,
    config: dict[str, dict[str, Any]] | None = None,
    gate: str = "",
) -> StackValidationPolicy:
    _register(Meta(policy_id, code, title, checks, exemptable, "stack", gate=gate))
    fields = _fields(policy_id, code, title, severity, tags, remediation, _with_exemptions(config, exemptable))
    return StackValidationPolicy(name=policy_id, validate=_judging_stack(policy_id, validate, exemptable), **fields)


def _with_exemptions(config: dict[str, dict[str, Any]] | None, exemptable: bool) -> dict[str, dict[str, Any]] | None:
    """An exemptable policy's schema has the `exemptions` and `evaluationDate` settings; no other policy's has."""
    return {**(config or {}), **SETTINGS_SCHEMA} if exemptable else config


def exempted(args: Any, policy_id: str) -> dict[str, Any]:
    """Resource key -> the entry of this policy's `exemptions` setting that counts on the evaluation date. An entry
    that does not count is ignored here; the allow-list policy reports it."""
    if not REGISTRY[policy_id].exemptable:
        return {}
    config = args.get_config() or {}
    try:
        on = evaluation_date(config)
    except ValueError:
        return {}
    return honoured(judge(config.get("exemptions") or [], on, {policy_id: True}, None,
                          {policy_id: list(REGISTRY[policy_id].named_checks or {})}), policy_id)


def is_exempt(args: Any, policy_id: str, resource: Any) -> bool:
    """Whether `resource` (a stack policy's `PolicyResource`) is exempt from `policy_id`."""
    parent = resource.parent.urn if resource.parent is not None else None
    return covering(exempted(args, policy_id), resource.urn, parent) is not None


class _Reads(threading.local):
    """The inputs object of the resource a resource policy is judging, and whether the policy read it; and, while
    `resources_read()` runs a stack policy, whose inputs it read."""

    watched: Any = None
    read: bool = False
    waived: frozenset[str] = frozenset()
    owners: dict[int, str] | None = None
    touched: set[str] | None = None


_reads = _Reads()


def waived(check: str) -> bool:
    """Whether the resource being judged is exempt from the named check `check` of the policy judging it (an
    exemption narrowed to that check); the policy then leaves that check's problems out and reports the rest."""
    return check in _reads.waived


def _judging_resources(policy_id: str, validate: Callable, exemptable: bool) -> Callable:
    def judged(args: Any, report_violation: Callable) -> None:
        checks: frozenset[str] = frozenset()
        if exemptable:
            entry = covering(exempted(args, policy_id), args.urn, getattr(args.opts, "parent", None))
            if entry is not None and not entry.checks:
                args.not_applicable(f"{NOT_APPLICABLE_EXEMPT}{entry.reason} (until {entry.expires})")
            if entry is not None:
                checks = frozenset(entry.checks)
        reported = False

        def report(message: str, urn: str | None = None) -> None:
            nonlocal reported
            reported = True
            report_violation(message, urn)

        outer = (_reads.watched, _reads.read, _reads.waived)
        _reads.watched, _reads.read, _reads.waived = args.props, False, checks
        try:
            validate(args, report)
            read = _reads.read
        finally:
            _reads.watched, _reads.read, _reads.waived = outer
        if not read and not reported:
            args.not_applicable(NOT_APPLICABLE_UNREAD)

    return judged


def resources_read(resources: Sequence[Any], run: Callable[[], Any]) -> set[str]:
    """The URNs of `resources` whose inputs `run()` read through `known()` or `has_key()`: the resources a stack
    policy judged, which the evidence report lists (the engine's protocol carries no such list for stack policies).
    Not used while the engine runs the pack."""
    outer = (_reads.owners, _reads.touched)
    _reads.owners, _reads.touched = {id(resource.props): resource.urn for resource in resources}, set()
    try:
        run()
        return set(_reads.touched)
    finally:
        _reads.owners, _reads.touched = outer


def _note_read(value: Any) -> None:
    if value is _reads.watched and value is not None:
        _reads.read = True
    if _reads.owners is not None and _reads.touched is not None:
        urn = _reads.owners.get(id(value))
        if urn is not None:
            _reads.touched.add(urn)


def _judging_stack(policy_id: str, validate: Callable, exemptable: bool) -> Callable:
    if not exemptable:
        return validate

    def judged(args: Any, report_violation: Callable) -> None:
        exempt = exempted(args, policy_id)
        parents = {resource.urn: resource.parent.urn for resource in args.resources if resource.parent is not None}

        def report(message: str, urn: str | None = None) -> None:
            if urn and covering(exempt, urn, parents.get(urn)) is not None:
                return
            report_violation(message, urn)

        validate(args, report)

    return judged


def _fields(
    policy_id: str,
    code: str,
    title: str,
    severity: Severity,
    tags: list[str],
    remediation: str,
    config: dict[str, dict[str, Any]] | None,
) -> dict[str, Any]:
    return {
        "description": title,
        "display_name": title,
        "severity": severity,
        "tags": tags,
        "remediation_steps": remediation,
        "url": f"{DOCS}#{policy_id}",
        # The SDK has no field for a short control code; a compliance framework's reference is one.
        "framework": PolicyComplianceFramework(name=FRAMEWORK, version="1", reference=code),
        "config_schema": PolicyConfigSchema(properties=config) if config else None,
    }


# ---- unknown-safe reads ----------------------------------------------------------------------------


def known(value: Any, *path: str | int) -> Any:
    """The value at `path`, None when absent, UNKNOWN when it (or anything on the way) is unknown."""
    _note_read(value)
    current = value
    for part in path:
        try:
            if isinstance(part, int):
                if not isinstance(current, Sequence) or isinstance(current, str) or part >= len(current):
                    return None
                current = current[part]
            else:
                if not isinstance(current, Mapping) or part not in list(iter(current)):
                    return None
                current = current[part]
        except UnknownValueError:
            return UNKNOWN
    return current


def has_key(value: Any, key: str) -> bool:
    """Whether `key` is set at all (known or unknown), without touching its value."""
    _note_read(value)
    return isinstance(value, Mapping) and key in list(iter(value))


def items(value: Any) -> list[Any]:
    """A known list's elements (an unknown or absent list gives none)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [known(value, index) for index in range(len(value))]
    return []


def truthy(value: Any) -> bool:
    """A boolean input; provider config arrives as strings ("true")."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def whole(value: Any) -> Any:
    """A number as a person writes it: 90.0 becomes 90, inside lists and mappings too. The engine hands policy config
    over as protobuf values, where every number is a double, and a message saying "at least 90.0d" is one
    Elasticsearch and a reader would both reject."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: whole(value[key]) for key in value}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [whole(item) for item in value]
    return value


def number(value: Any) -> int | float | None:
    """A numeric input (a string of digits too), whole when it is whole."""
    if isinstance(value, bool) or value is None or value is UNKNOWN:
        return None
    if isinstance(value, (int, float)):
        return whole(value)
    if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value):
        return whole(float(value))
    return None


def setting(args: Any, key: str, default: Any) -> Any:
    """A policy's config value, numbers whole where they are whole."""
    config = args.get_config() or {}
    return whole(config.get(key, default))


# ---- buckets and their companions ------------------------------------------------------------------


def tags_of(props: Any) -> dict[str, str]:
    tags = known(props, "tags")
    if not isinstance(tags, Mapping):
        return {}
    result = {}
    for key in list(iter(tags)):
        value = known(tags, key)
        if isinstance(value, str):
            result[key] = value
    return result


def bucket_name(props: Any) -> str | None:
    name = known(props, "bucket")
    return name if isinstance(name, str) else None


def bucket_role(props: Any, roles: Iterable[str]) -> str | None:
    """The bucket's role: its `dataplatform:role` tag, else the longest known role its name ends with."""
    role = tags_of(props).get(ROLE_TAG)
    if role:
        return role
    name = bucket_name(props) or ""
    matches = [candidate for candidate in roles if name.endswith(f"-{candidate}")]
    return max(matches, key=len) if matches else None


AUDIT_BUCKETS_SETTING = {
    "type": "array",
    "items": {"type": "string"},
    "default": [],
    "description": "Physical names of the stack's audit buckets (the program's, `make policy-config`): judged as "
                   "audit buckets whatever their role tag says.",
}


def is_audit_bucket(props: Any, roles: Iterable[str], names: Iterable[str]) -> bool:
    """Whether a bucket holds an audit trail: its physical name is one the stack's facts call audit (so renaming
    or dropping its role tag does not take it out of the audit policies), or its role is an audit role."""
    roles = list(roles)
    return bucket_name(props) in set(names) or bucket_role(props, roles) in roles


def label(resource: Any) -> str:
    """How messages name a bucket: its logical name, plus the physical one when it is known."""
    physical = bucket_name(resource.props)
    return f"'{resource.name}' ({physical})" if physical and physical != resource.name else f"'{resource.name}'"


def _urns(resources: Iterable[PolicyResource]) -> set[str]:
    return {resource.urn for resource in resources}


def companions(resources: Sequence[PolicyResource], bucket: PolicyResource, type_: str) -> list[PolicyResource]:
    """Resources of `type_` that configure `bucket`.

    The join is by the `bucket` input's property dependency on the bucket's URN (the bucket's id is unknown at
    preview); without property dependencies, by the `bucket` name when it is known, and last by a plain
    dependency on exactly this bucket.
    """
    name = bucket_name(bucket.props)
    found = []
    for resource in resources:
        if resource.resource_type != type_:
            continue
        by_property = _urns(resource.property_dependencies.get("bucket", []))
        if by_property:
            if bucket.urn in by_property:
                found.append(resource)
            continue
        target = known(resource.props, "bucket")
        if isinstance(target, str):
            if name is not None and target == name:
                found.append(resource)
            continue
        buckets = {dep.urn for dep in resource.dependencies if dep.resource_type == bucket.resource_type}
        if buckets == {bucket.urn}:
            found.append(resource)
    return found


def of_type(resources: Sequence[PolicyResource], type_: str) -> list[PolicyResource]:
    return [resource for resource in resources if resource.resource_type == type_]


# ---- policy documents (IAM, S3 bucket policies, MinIO) ---------------------------------------------


def policy_statements(document: Any) -> list[dict[str, Any]] | None:
    """The statements of a policy document given as JSON text or a mapping; None when it is not readable."""
    if document is UNKNOWN or document is None:
        return None
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return None
    if not isinstance(document, Mapping):
        return None
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    return [statement for statement in statements if isinstance(statement, Mapping)]


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def wildcard_principal(statement: Mapping[str, Any]) -> bool:
    """Whether an Allow statement admits anyone: Principal "*" or {"AWS": "*"}, or any NotPrincipal."""
    if statement.get("Effect") != "Allow":
        return False
    if "NotPrincipal" in statement:
        return True
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in as_list(value) for value in principal.values())
    return False


def wildcard_grant(statement: Mapping[str, Any]) -> str | None:
    """What is too broad in an Allow statement of an identity policy, or None."""
    if statement.get("Effect") != "Allow":
        return None
    if "NotAction" in statement or "NotResource" in statement:
        return "NotAction/NotResource"
    for action in as_list(statement.get("Action")):
        if action == "*" or (isinstance(action, str) and action.endswith(":*")):
            return f"action {action}"
    if "*" in as_list(statement.get("Resource")):
        return "resource *"
    return None


# ---- credentials inside URLs ------------------------------------------------------------------------

# A URL anywhere in a value, and a password that only refers to a variable the runtime fills in: `${VAR}` (shells,
# most config loaders) or `$(VAR)` (Kubernetes expands it in a container's env from another env variable).
URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s\"'<>`]+", re.IGNORECASE)
VARIABLE_REFERENCE = re.compile(r"^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|\([A-Za-z_][A-Za-z0-9_]*\))$")


def url_passwords(value: Any) -> list[str]:
    """The URLs in `value` that carry a literal password (`scheme://user:password@host`), the password masked; a
    user without a password, an empty password or a `${VAR}`/`$(VAR)` reference is none."""
    if not isinstance(value, str):
        return []
    found = []
    for match in URL.finditer(value):
        scheme, rest = match.group(0).split("://", 1)
        authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
        if "@" not in authority:
            continue
        userinfo, host = authority.rsplit("@", 1)
        user, colon, password = userinfo.partition(":")
        if not colon or not password or VARIABLE_REFERENCE.match(password):
            continue
        found.append(f"{scheme}://{user}:****@{host}{rest[len(authority):]}")
    return found
