"""`make render STACK=<stack>`: every Helm release of the offline plan rendered from the chart cache and judged.

    python -m infra.offline.render --stack prod [--plan FILE] [--cache DIR] [--out build/render] [--gate]

Reads `build/plan/<stack>.json` (planning the stack first when the file is missing) and, for every
`helm.sh/v3:Release`, renders the cached chart with exactly the plan's values, release name and namespace through
Helm's Go SDK. Checks: the values against the chart's values.schema.json, the chart's kubeVersion, every rendered
object against the Kubernetes schemas of the supported versions, every custom resource (rendered, or declared by
the program) against the CRD the pinned chart ships, objects two owners would create, and the install order
(docs/render.md). Writes `<out>/<stack>/<release>.yaml` and `<out>/<stack>/summary.json`. With `--gate`, the policy
pack then judges every rendered object too (infra/offline/render/gate.py), as the deploy workflow does before
`pulumi up`, and writes `<out>/<stack>/gate.json`.

Exit codes: 0 every check that ran passed (charts missing from the cache are skipped and named), 1 a check failed,
2 bad input (an unknown stack, or no plan and planning failed), 3 (with `--gate`) a mandatory policy fails on a
rendered object, or the gate could not run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from infra.model.stackfiles import REPO_ROOT
from infra.offline.render.cache import CACHE_ENV, default_cache

EXIT_VALID, EXIT_PROBLEMS, EXIT_INPUT, EXIT_GATE = 0, 1, 2, 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make render", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="stack name: Pulumi.<stack>.yaml must exist")
    parser.add_argument("--plan", type=Path, default=None, help="plan file (default: build/plan/<stack>.json, "
                        "planned first when missing)")
    parser.add_argument("--cache", type=Path, default=None,
                        help=f"chart cache (default: ${CACHE_ENV}, else ~/.cache/dataplatform/charts)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "render", help="output folder")
    parser.add_argument("--gate", action="store_true", help="also run the policy pack over every rendered object")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if not (REPO_ROOT / f"Pulumi.{args.stack}.yaml").is_file():
        known = sorted(path.name.split(".")[1] for path in REPO_ROOT.glob("Pulumi.*.yaml"))
        print(f"render: no stack {args.stack!r} (Pulumi.{args.stack}.yaml); stacks: {', '.join(known)}",
              file=sys.stderr)
        return EXIT_INPUT
    plan_path = args.plan or REPO_ROOT / "build" / "plan" / f"{args.stack}.json"
    if not plan_path.is_file():
        if args.plan is not None:
            print(f"render {args.stack}: no plan file {plan_path}", file=sys.stderr)
            return EXIT_INPUT
        print(f"render {args.stack}: no plan yet, planning: python -m infra.offline.plan --stack {args.stack}")
        subprocess.run([sys.executable, "-m", "infra.offline.plan", "--stack", args.stack, "--quiet",
                        "--out", str(plan_path.parent)], cwd=REPO_ROOT, check=False)
        if not plan_path.is_file():
            print(f"render {args.stack}: the plan failed, so there is nothing to render", file=sys.stderr)
            return EXIT_INPUT

    from infra.offline.render.planfile import Plan
    from infra.offline.render.report import console, write
    from infra.offline.render.stage import render_stack

    plan = Plan.load(plan_path)
    if plan.stack != args.stack:
        print(f"render {args.stack}: {plan_path} is the plan of stack {plan.stack!r}", file=sys.stderr)
        return EXIT_INPUT
    render = render_stack(plan, (args.cache or default_cache()).expanduser())
    folder = write(render, args.out)
    print("\n".join(console(render, time.perf_counter() - started, folder)))
    code = EXIT_PROBLEMS if render.problems else EXIT_VALID
    if not args.gate:
        return code
    import json

    from infra.offline.gate import GateError
    from infra.offline.render.gate import describe, judge

    try:
        gate = judge(render)
    except GateError as error:
        print(f"render {args.stack}: the policy gate could not run\n{error}", file=sys.stderr)
        return EXIT_GATE
    (folder / "gate.json").write_text(json.dumps(
        {"stack": args.stack, "rendered": len(gate.rendered), "violations": sorted(
            gate.findings, key=lambda found: (found["urn"], found["policy"]))}, indent=2) + "\n")
    print("\n".join(describe(gate)))
    return EXIT_GATE if gate.mandatory else code


if __name__ == "__main__":
    sys.exit(main())
