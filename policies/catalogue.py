"""Renders docs/policies.md, the catalogue of every policy, from the pack itself and its per-stack config.

Run `python -m policies.catalogue > docs/policies.md` (or `make policy-docs`); a test fails when the committed
file differs from what this renders.
"""

from __future__ import annotations

import json
from pathlib import Path

from .common import REGISTRY
from .exemptions import ALLOW_LIST, CLAIM_ANNOTATION, CLAIM_TAG, EXCEPTIONS, MAX_DAYS, SETTING, WARN_DAYS
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
config the program refuses early (exit 2) and the gate agree; and the catalog's role-to-layer matrix: for every
access surface (IAM and MinIO identity policies, PostgreSQL, Dremio, Superset, Elasticsearch) what each principal
may do on each layer, schema, space and index, derived from the catalog's roles (`infra/dataflow.yaml`) by the
program's own grant helpers, plus the stack's AWS accounts (`aws.allowedAccountIds`). A grant the matrix does not
imply is a violation, so widening access changes that file, which the security team reviews
(docs/decisions/0054-role-matrix-in-the-pack-config.md). The pack imports nothing of the program and runs
from its own folder under any name, as `pulumi policy publish` ships it.

Resource policies judge one resource's inputs; stack policies join every bucket to its companion resources
(by the property dependency of the companion's `bucket` input on the bucket's URN, since the bucket's id is
unknown at preview; else by the `bucket` name; else by a dependency on that bucket alone), so a missing
companion is a violation on the bucket. Every policy is written against inputs known at preview; a document
that is unknown at preview is itself a violation.

## Exemptions and exceptions

Exemptions live in one place: the `{SETTING}` setting of `{ALLOW_LIST}` in the stack's
`policies/config/<stack>.json`, which the security team owns (`.github/CODEOWNERS`). Each entry names the policy
id, the resource as `<type>::<logical name>` (the end of its URN; an entry on a `helm.v3.Release` also covers the
objects that release installs), a reason and an expiry date (`YYYY-MM-DD`, the last day it counts, at most
{MAX_DAYS} days after the evaluation date), and, for a policy with named checks, optionally `checks`: the only
checks of the policy the entry exempts (`"checks": ["root"]`); the policy still judges the resource on every other
check, so an exemption meant for one problem does not hide another. An entry naming a check the policy does not
have is refused. `make policy-config` copies each policy's entries into that policy's own
`{SETTING}` setting (a policy sees only its own settings; the gate refuses copies that differ). Only policies marked
exemptable honour an entry. An entry with a blank reason, a code instead of an id, an unknown policy or one that
cannot be exempted, no or a malformed expiry, an expiry passed or more than a year ahead, or naming no resource of
the stack does not count, and `{ALLOW_LIST}` reports it. A resource never exempts itself: one that claims an
exemption through a `{CLAIM_TAG}` tag or `{CLAIM_ANNOTATION}` annotation the list does not give it is a
violation of the same policy (mandatory in prod).

The evaluation date is an input: the gate sets it (`make plan DATE=YYYY-MM-DD`, default today in UTC; tests fix
it), every plan report prints it with the exemptions honoured and refused, and an exemption within {WARN_DAYS} days
of its expiry is a warning in the plan summary. Under the Pulumi CLI the pack judges on the day of the run.

The same setting's `{EXCEPTIONS}` lists what a stack keeps against the platform's direction where no policy fails,
each with a reason and an expiry date: every long-lived AWS access key must be listed there (else a violation of
`{ALLOW_LIST}`). `make evidence STACK=<stack>` reports both lists.

__EXEMPTION_TABLES__

## Evidence for auditors

`make evidence STACK=<stack> [DATE=YYYY-MM-DD]` writes `build/evidence/<stack>.md`, `.json` and `.html` (one page,
no script or external asset, to open or attach as it is): the pack's name, version and content hash (SHA-256 over
each file the pack ships, its config and virtualenv aside), the enforcement config (the file's SHA-256, each
policy's level and settings), the evaluation date, every policy's result for every resource it judged (`pass`,
`fail` with the message, `exempt` with the allow-list's reason and expiry, `skipped` when a value it needed was
unknown; a disabled policy judged nothing), every exemption and exception with its status on that date, and the
policies grouped by the platform's principles with the CIS benchmark controls each matches (CIS AWS Foundations
Benchmark v5.0.0 and CIS Kubernetes Benchmark v1.10.0, by control id; the ids and titles are copied from prowler's
compliance files, cited in the report). A resource policy judged a resource unless it told the engine it does not
apply (it never read the resource's inputs); a stack policy judged the resources whose inputs it read. The same
program, config, pack and date give byte-identical files. It prints one summary line and exits `0` (no mandatory
violation), `1` (a mandatory violation; the report is written), `2` (bad input) or `3` (the gate could not run).

How the security team uses it: run it on the release commit with the date of the audit period's end (or keep the
CI run's files: every deploy run keeps `evidence-<stack>-deployed`, the report of exactly what it deployed, judged
on the day it deployed, for 90 days), hand over the HTML page with the JSON beside it, and quote the two hashes:
the pack's content hash and the config's SHA-256 say which rules and which enforcement produced the results. A rerun
of the same commit and date reproduces the files byte for byte.

## Checks only the gate makes

Under `pulumi preview --policy-pack` a `helm.v3.Release` is one resource: the Kubernetes policies judge its
`values` at the paths recorded for its chart, never the objects the chart renders. The offline gate over a render
(`make render STACK=<stack> GATE=1`, infra/offline/render/gate.py; the deploy workflow runs it before `pulumi up`)
renders every release with the plan's values and gives each rendered object to the pack as a resource of its
kind, marked as Helm marks what it installs. The policies below marked **Gate only** judge those objects, or
need another fact the Pulumi policy SDK does not give the pack, there and only there; the table's `gate` column
marks them. The deploy workflow runs the gate (`make plan STACK=<stack>` and the render gate) before `pulumi up`
and stops on any mandatory violation, so what only the gate checks is still checked before every deploy.

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


def _allow_lists() -> str:
    """Every stack's exemptions and exceptions as the config files list them."""
    sections = []
    for path in sorted(CONFIG_DIR.glob("*.json")):
        allow_list = json.loads(path.read_text()).get(ALLOW_LIST, {})
        rows = [f"| `{e.get('policy', '')}` | `{e.get('resource', '')}` | "
                f"{', '.join(f'`{check}`' for check in e.get('checks', [])) or 'all'} | {e.get('expires', '')} | "
                f"{e.get('reason', '')} |" for e in allow_list.get(SETTING, [])]
        table = "\n".join(["| policy | resource | checks | expires | reason |", "|---|---|---|---|---|", *rows]) \
            if rows \
            else "No exemption."
        sections.append(f"### `{path.stem}`: {len(rows)} exemption(s)\n\n{table}")
        rows = [f"| `{e.get('resource', '')}` | {e.get('expires', '')} | {e.get('reason', '')} |"
                for e in allow_list.get(EXCEPTIONS, [])]
        table = "\n".join(["| resource | expires | reason |", "|---|---|---|", *rows]) if rows else "No exception."
        sections.append(f"### `{path.stem}`: {len(rows)} exception(s)\n\n{table}")
    return "\n\n".join(sections)


def render() -> str:
    rows = ["| code | id | severity | kind | tags | gate |", "|---|---|---|---|---|---|"]
    sections = []
    for policy in POLICIES:
        meta = REGISTRY[policy.name]
        tags = ", ".join(policy.tags or [])
        rows.append(
            f"| {meta.code} | [`{policy.name}`](#{policy.name}) | {policy.severity.value} | {meta.kind} | {tags} | "
            f"{'gate only' if meta.gate else ''} |"
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
            f"- **Exemptions:** {'exemptable through the allow-list above' if meta.exemptable else 'none'}",
        ]
        if meta.gate:
            lines.append(f"- **Gate only:** {meta.gate}")
        if meta.named_checks:
            lines.append("- **Named checks** (an exemption may name some, `checks`): " + "; ".join(
                f"`{name}`: {what}" for name, what in meta.named_checks.items()))
        if policy.config_schema:
            settings = "; ".join(
                f"`{key}` (default `{json.dumps(spec.get('default'))}`): {spec.get('description', '').rstrip('.')}"
                for key, spec in policy.config_schema.properties.items()
            )
            lines.append(f"- **Settings:** {settings}.")
        sections.append("\n".join(lines))
    intro = INTRO.replace("__EXEMPTION_TABLES__", _allow_lists())
    return f"{intro}\n## Policies\n\n" + "\n".join(rows) + "\n\n" + "\n\n".join(sections) + "\n"


if __name__ == "__main__":
    print(render(), end="")
