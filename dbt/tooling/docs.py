"""`dbt docs generate` on the local target (the catalog is read from the DuckDB database of the last build).

    PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.docs     -> build/dbt/target/index.html
"""

from __future__ import annotations

import sys

from tooling import dbt_invoke
from tooling.errors import cli
from tooling.pipeline import require_bronze


@cli
def main(argv: list[str] | None = None) -> int:
    require_bronze()
    outcome = dbt_invoke.run(["docs", "generate"], "local")
    if outcome.returncode == 0:
        print(f"documentation written to {dbt_invoke.TARGET_PATH / 'index.html'}")
    return outcome.returncode


if __name__ == "__main__":
    sys.exit(main())
