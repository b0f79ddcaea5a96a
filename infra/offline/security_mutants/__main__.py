"""`make security-mutants`: judge every mutation of the suite and print the counts per layer and the runtime."""

from __future__ import annotations

import sys
import time
from collections import Counter

from infra.offline.security_mutants import LAYERS, MUTATIONS, Bench


def main() -> int:
    started = time.perf_counter()
    stacks = sorted({mutation.stack for mutation in MUTATIONS})
    benches = {stack: Bench(stack, render=any(m.layer == "rendered" and m.stack == stack for m in MUTATIONS))
               for stack in stacks}
    counts: Counter[tuple[str, str]] = Counter()
    wrong = []
    try:
        for mutation in MUTATIONS:
            bench = benches[mutation.stack]
            if mutation.layer == "rendered" and not bench.rendered:
                counts[(mutation.layer, "skipped (no chart cache)")] += 1
                continue
            verdict = bench.judge(mutation)
            if mutation.secure:
                outcome = "secure, passes" if not (verdict.added or verdict.refused) else "secure, BLOCKED"
            elif mutation.refused and verdict.refused:
                outcome = "refused (exit 2)"
            elif verdict.added == set(mutation.expect) and verdict.added and not verdict.refused:
                outcome = "stopped"
            else:
                outcome = "expected failure" if mutation.missing else "NOT AS EXPECTED"
            if outcome in ("secure, BLOCKED", "NOT AS EXPECTED") or (mutation.missing and outcome != "expected "
                                                                                                   "failure"):
                wrong.append(f"{mutation.id}: {outcome}: {verdict.describe()}")
            counts[(mutation.layer, outcome)] += 1
    finally:
        for bench in benches.values():
            bench.close()
    for layer in LAYERS:
        line = ", ".join(f"{outcome} {count}" for (found, outcome), count in sorted(counts.items()) if found == layer)
        print(f"{layer:>9}: {line}")
    print("\n".join(wrong))
    print(f"security mutants: {len(MUTATIONS)} judged in {time.perf_counter() - started:.0f} s")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
