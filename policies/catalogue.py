"""Renders docs/policies.md, the catalogue of every policy, from the pack itself and its per-stack config.

Run `python -m policies.catalogue > docs/policies.md` (or `make policy-docs`); a test fails when the committed
file differs from what this renders.
"""

from __future__ import annotations

import json
from pathlib import Path

from .common import EXEMPTION_REASON_TAG, EXEMPTIONS_TAG, REGISTRY
from .registry import PACK_NAME, POLICIES

CONFIG_DIR = Path(__file__).resolve().parent / "config"

INTRO = f"""# Policy catalogue: `{PACK_NAME}`

Generated from `policies/` by `python -m policies.catalogue`; do not edit by hand.

The pack runs under the CLI as `pulumi preview --policy-pack policies/ --policy-pack-config
policies/config/<stack>.json`, and offline through the gate (`infra/offline/gate/`, part of `make plan`). The config
files set enforcement per stack: `dev` is advisory, `prod` is mandatory. They also carry, as data, what the pack
must know about the program, written by `make policy-config` (a test fails when they drift): the `charts` setting
of the Kubernetes policies (where each pinned chart keeps its hardening settings in its values, from
`infra/model/charts.py`); the audit policies' `auditRoles` and `auditPolicies` (which buckets and indices hold audit
trails) and, in a prod-stage stack, their `minDays`: the audit minimum the stack config's model enforces, so a
config the program refuses early (exit 2) and the gate agree. The pack imports nothing of the program and runs
from its own folder under any name, as `pulumi policy publish` ships it.

Resource policies judge one resource's inputs; stack policies join every bucket to its companion resources
(by the property dependency of the companion's `bucket` input on the bucket's URN, since the bucket's id is
unknown at preview; else by the `bucket` name; else by a dependency on that bucket alone), so a missing
companion is a violation on the bucket. Every policy is written against inputs known at preview; a document
that is unknown at preview is itself a violation.

## Exemptions

A policy marked *exemptable* skips a resource that carries both tags:

- `{EXEMPTIONS_TAG}`: the exempted policy ids, separated by spaces (AWS tag values allow no commas);
- `{EXEMPTION_REASON_TAG}`: why, in one sentence.

An exemption without a reason does not count, and policies not marked exemptable ignore the tags. The tags are
in the program, so every exemption is reviewed with the code that needs it. The one exemption today: the
`access-logs` bucket is exempt from `aws-s3-bucket-require-kms-encryption` and `aws-s3-bucket-enable-object-lock`
because S3 cannot deliver server access logs into a bucket with SSE-KMS default encryption or object lock; it
keeps SSE-S3 (still required by `aws-s3-bucket-enable-encryption`), versioning and at least 90 days of retention.

## Checks only the gate makes

Under `pulumi preview --policy-pack` a `helm.v3.Release` is one resource: the Kubernetes policies judge its
`values` at the paths recorded for its chart, never the objects the chart renders. The offline gate over a render
(`make render STACK=<stack> GATE=1`, infra/offline/render/gate.py; the deploy workflow runs it before `pulumi up`)
renders every release with the plan's values and gives each rendered object to the pack as a resource of its
kind, marked as Helm marks what it installs. The policies below marked **Rendered charts** judge those objects
there, and only there.

## What the policies cannot see

Provider defaults and computed values, live state and drift, default providers, and resources outside this
program. MinIO has no resource for a TLS-only bucket policy, access logging, abort of multipart uploads or object
lock retention, so those controls are S3-only; MinIO's audit trail is its server's audit webhook.
"""


def _levels(name: str) -> str:
    levels = []
    for path in sorted(CONFIG_DIR.glob("*.json")):
        config = json.loads(path.read_text())
        level = config.get("all", "advisory")
        own = config.get(name)
        if isinstance(own, str):
            level = own
        elif isinstance(own, dict):
            level = own.get("enforcementLevel", level)
        levels.append(f"{path.stem}: {level}")
    return ", ".join(levels)


def render() -> str:
    rows = ["| code | id | severity | kind | tags |", "|---|---|---|---|---|"]
    sections = []
    for policy in POLICIES:
        meta = REGISTRY[policy.name]
        tags = ", ".join(policy.tags or [])
        rows.append(
            f"| {meta.code} | [`{policy.name}`](#{policy.name}) | {policy.severity.value} | {meta.kind} | {tags} |"
        )
        lines = [
            f'<a id="{policy.name}"></a>',
            f"### {meta.code} `{policy.name}`",
            "",
            f"{meta.title}.",
            "",
            f"- **Checks:** {meta.checks}",
            f"- **Severity:** {policy.severity.value}; **tags:** {tags}; **kind:** {meta.kind} policy",
            f"- **Remediation:** {policy.remediation_steps}",
            f"- **Enforcement:** {_levels(policy.name)}",
            f"- **Exemptions:** {'exemptable through the tags above' if meta.exemptable else 'none'}",
        ]
        if meta.kind == "resource" and "kubernetes" in (policy.tags or []):
            lines.append("- **Rendered charts:** also judges every object a chart renders, in the offline gate over "
                         "a render only (`make render GATE=1`, the deploy workflow), not under the CLI")
        if policy.config_schema:
            settings = "; ".join(
                f"`{key}` (default `{json.dumps(spec.get('default'))}`): {spec.get('description', '').rstrip('.')}"
                for key, spec in policy.config_schema.properties.items()
            )
            lines.append(f"- **Settings:** {settings}.")
        sections.append("\n".join(lines))
    return f"{INTRO}\n## Policies\n\n" + "\n".join(rows) + "\n\n" + "\n\n".join(sections) + "\n"


if __name__ == "__main__":
    print(render(), end="")
