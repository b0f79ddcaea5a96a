"""Generate dbt's bronze sources from the data-flow catalog, so every stream Airbyte lands is a dbt source.

    PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.bronze_sources [--check]

One source per catalog source, one table per stream. The same table resolves per target:
- local (DuckDB): the Parquet files of its bronze prefix in the lake mirror (path from infra/model/lake.py);
- postgres: table `bronze.<source>__<stream>`, filled by tooling.load_postgres;
- dremio: `<lake source>."<bronze bucket>".<source>.<stream>`, the promoted folder of its bronze prefix, read
  through the lakehouse's read-only lake source (names from infra/model/naming.py, set by the runner; the defaults
  are the `dev` stack's).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from infra.model import naming
from infra.model.catalog import Catalog, load_catalog
from infra.model.lake import bronze_local_glob
from tooling import layout
from tooling.errors import UsageError, cli

SOURCES_FILE = layout.DBT_DIR / "models" / "staging" / "_bronze_sources.yml"
LAKE_ROOT_EXPRESSION = "{{ env_var('DBT_LAKE_ROOT', 'build/lake') }}"
LAKE_ROOT = Path(LAKE_ROOT_EXPRESSION)
DREMIO_DEFAULTS = naming.dbt_dremio_environment(naming.DEFAULT_PREFIX, naming.DEFAULT_STACK)
HEADER = ("# Generated from infra/dataflow.yaml by `PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.bronze_sources`.\n"
          "# Do not edit: change the catalog and regenerate (a test fails when this file is stale).\n")


def render(catalog: Catalog) -> str:
    sources = []
    for source in catalog.sources:
        tables = []
        for dataset in (d for d in catalog.bronze_datasets() if d.source == source.name):
            stream = next(s for s in source.streams if s.name == dataset.stream)
            tables.append({
                "name": dataset.stream,
                "description": (f"Stream `{dataset.stream}` as Airbyte lands it ({stream.sync_mode}, "
                                f"{stream.destination_sync_mode}); primary key {', '.join(dataset.primary_key)}; "
                                f"one `date=` partition per load under bronze `{dataset.prefix}`."),
                "identifier": (f"{{{{ '{dataset.stream}' if target.type == 'dremio' "
                               f"else '{layout.postgres_table(dataset)}' }}}}"),
                "config": {"external_location": f"read_parquet('{bronze_local_glob(dataset, LAKE_ROOT)}')"},
            })
        sources.append({
            "name": source.name,
            "description": f"Bronze landing of source `{source.name}`: {source.description}",
            # On Dremio: the lakehouse's read-only lake source, whose paths start with the bronze bucket.
            "database": (f"{{{{ env_var('DBT_DREMIO_BRONZE_SOURCE', '{DREMIO_DEFAULTS['DBT_DREMIO_BRONZE_SOURCE']}') "
                         "if target.type == 'dremio' else target.database }}"),
            "schema": (f"{{{{ env_var('DBT_DREMIO_BRONZE_BUCKET', '{DREMIO_DEFAULTS['DBT_DREMIO_BRONZE_BUCKET']}') "
                       f"~ '.{source.name}' if target.type == 'dremio' else 'bronze' }}}}"),
            "tables": tables,
        })
    body = yaml.safe_dump({"version": 2, "sources": sources}, sort_keys=False, width=120, allow_unicode=True)
    return HEADER + body


@cli
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    wanted = render(load_catalog())
    if argv == ["--check"]:
        if not SOURCES_FILE.exists() or SOURCES_FILE.read_text() != wanted:
            raise UsageError(f"{SOURCES_FILE} is stale; regenerate it with "
                             "`PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.bronze_sources`")
        return 0
    if argv:
        raise UsageError("usage: python -m tooling.bronze_sources [--check]")
    SOURCES_FILE.write_text(wanted)
    print(f"wrote {SOURCES_FILE.relative_to(layout.REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
