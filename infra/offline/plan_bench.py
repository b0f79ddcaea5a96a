"""Benchmark of the offline plan: wall time and peak memory of `python -m infra.offline.plan`, each run a fresh process.

    python -m infra.offline.plan_bench --stack prod [--runs 5] [--target 3.0]     (make plan-bench STACK=prod)

Prints one line per run and a summary (median, fastest, slowest, peak resident memory of the largest process:
the plan's own, not the pack's), writes `build/bench/plan-<stack>.json` with the machine's load average, and exits
1 when the median is over `--target` seconds. Timings depend on the machine and on what else runs on it; the
target is for an otherwise idle 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from infra.model.stackfiles import REPO_ROOT


def one_run(stack: str, out: Path) -> tuple[float, int]:
    """(wall seconds, peak resident KiB) of one `python -m infra.offline.plan` in a fresh interpreter, as `make plan`
    does."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.offline.plan", "--stack", stack, "--out", str(out), "--quiet"],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    errors = process.stderr.read()
    # wait4 gives this child's own usage (its largest process: the plan, not the pack it started).
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode not in (0, 1):
        raise SystemExit(f"plan {stack} failed (exit {process.returncode}):\n{errors.decode().strip()}")
    return seconds, usage.ru_maxrss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make plan-bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--target", type=float, default=3.0, help="seconds the median must not exceed")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench")
    args = parser.parse_args(argv)
    plans = args.out / "plans"
    runs = []
    for index in range(1, args.runs + 1):
        seconds, peak_kib = one_run(args.stack, plans)
        runs.append({"seconds": round(seconds, 3), "peak_mib": round(peak_kib / 1024, 1)})
        print(f"plan-bench {args.stack}: run {index}/{args.runs}: {seconds:.2f} s, {peak_kib / 1024:.0f} MiB",
              flush=True)
    walls = [run["seconds"] for run in runs]
    summary = {
        "stack": args.stack,
        "runs": runs,
        "median_seconds": round(statistics.median(walls), 3),
        "min_seconds": min(walls),
        "max_seconds": max(walls),
        "peak_mib": max(run["peak_mib"] for run in runs),
        "target_seconds": args.target,
        "load_average": [round(value, 2) for value in _load()],
    }
    summary["passed"] = summary["median_seconds"] <= args.target
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"plan-{args.stack}.json").write_text(json.dumps(summary, indent=2) + "\n")
    verdict = "within" if summary["passed"] else "OVER"
    print(
        f"plan-bench {args.stack}: median {summary['median_seconds']:.2f} s (min {summary['min_seconds']:.2f}, "
        f"max {summary['max_seconds']:.2f}) over {args.runs} runs, peak {summary['peak_mib']:.0f} MiB, "
        f"{verdict} the {args.target:.1f} s target -> {args.out / f'plan-{args.stack}.json'}"
    )
    return 0 if summary["passed"] else 1


def _load() -> tuple[float, float, float]:
    try:
        with open("/proc/loadavg") as handle:
            first, second, third = handle.read().split()[:3]
        return float(first), float(second), float(third)
    except (OSError, ValueError):
        return (0.0, 0.0, 0.0)


if __name__ == "__main__":
    sys.exit(main())
