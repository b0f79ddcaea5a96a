"""The exemption allow-list's own policy: every exemption is listed in the stack's policy config and counts there.

It judges the `exemptions` setting (policies/exemptions.py) against the pack on the evaluation date and reports
every entry that does not count (blank reason, a code for an id, an unknown policy or one that cannot be exempted,
no or a malformed expiry, expired, listed for more than a year, listed twice), every entry naming no resource of
the stack, and every resource that claims an exemption (the `dataplatform:policy-exemptions` tag or the
`dataplatform/policy-exemptions` annotation) the list does not give it. A resource never exempts itself. Its
`exceptions` setting must list every long-lived AWS access key, each with a reason and an expiry date.
"""

from __future__ import annotations

from pulumi_policy import Severity

from .common import REGISTRY, known, stack_policy
from .exemptions import (
    ALLOW_LIST,
    ALLOW_LIST_SCHEMA,
    CLAIM_ANNOTATION,
    CLAIM_TAG,
    EXCEPTION_TYPES,
    EXCEPTIONS,
    claims,
    covering,
    honoured,
    judge,
    judge_exceptions,
    judged_on,
    resource_key,
)

CONFIG_FILE = "policies/config/<stack>.json"


def _validate_allow_list(args, report_violation) -> None:
    config = args.get_config() or {}
    on = judged_on(config, report_violation)
    if on is None:
        return
    exemptable = {policy_id: meta.exemptable for policy_id, meta in REGISTRY.items()}
    codes = {meta.code: policy_id for policy_id, meta in REGISTRY.items()}
    checks = {policy_id: list(meta.named_checks or {}) for policy_id, meta in REGISTRY.items()}
    judged = judge(config.get("exemptions") or [], on, exemptable, codes, checks)
    by_key = {resource_key(resource.urn): resource for resource in args.resources}
    for entry in judged:
        target = by_key.get(entry.resource)
        what = f"The exemption of `{entry.resource or '(no resource)'}` from `{entry.policy or '(no policy)'}`"
        if not entry.counts:
            report_violation(f"{what} is refused: {entry.problem} ({CONFIG_FILE}).", target.urn if target else None)
        elif target is None:
            report_violation(f"{what} names no resource of this stack; remove it from {CONFIG_FILE}, or give the "
                             "resource as `<type>::<logical name>` (a release's objects: the release).")
    exceptions = judge_exceptions(config.get(EXCEPTIONS) or [], on)
    for entry in exceptions:
        target = by_key.get(entry.resource)
        what = f"The exception for `{entry.resource or '(no resource)'}`"
        if not entry.counts:
            report_violation(f"{what} is refused: {entry.problem} ({CONFIG_FILE}).", target.urn if target else None)
        elif target is None:
            report_violation(f"{what} names no resource of this stack; remove it from {CONFIG_FILE}.")
    excepted = {entry.resource for entry in exceptions if entry.counts}
    for resource in args.resources:
        if resource.resource_type in EXCEPTION_TYPES and resource_key(resource.urn) not in excepted:
            report_violation(
                f"`{resource_key(resource.urn)}` is a long-lived cloud key that {CONFIG_FILE} does not list as an "
                "exception; give its workload an identity of its own (IRSA or EKS Pod Identity) instead, or have "
                "the security team list it under `exceptions` with the reason and an expiry date.",
                resource.urn,
            )
    for resource in args.resources:
        parent = resource.parent.urn if resource.parent is not None else None
        for policy_id in claims(resource.props, known):
            if covering(honoured(judged, policy_id), resource.urn, parent) is None:
                report_violation(
                    f"`{resource_key(resource.urn)}` claims an exemption from `{policy_id}` that {CONFIG_FILE} does "
                    f"not list; remove its `{CLAIM_TAG}` tag or `{CLAIM_ANNOTATION}` annotation, or have the security "
                    "team list the exemption with its reason and expiry.",
                    resource.urn,
                )


require_allow_list = stack_policy(
    ALLOW_LIST,
    "DP-PACK-001",
    "Exemptions are listed in the stack's policy config and still count",
    "Every entry of this policy's `exemptions` setting names a policy id that may be exempted, a resource of the "
    "stack (`<type>::<logical name>`), a reason and an expiry date no more than a year after the evaluation date "
    "and not before it; no resource claims an exemption (tag or annotation) the list does not give it; every "
    "`aws:iam/accessKey:AccessKey` is listed under `exceptions` with a reason and an expiry date.",
    Severity.HIGH,
    ["access", "audit"],
    "Fix the entry in policies/config/<stack>.json (id, reason, expiry) or remove it, and remove any exemption claim "
    "a resource makes for itself.",
    _validate_allow_list,
    config=dict(ALLOW_LIST_SCHEMA),
)

POLICIES = [require_allow_list]
