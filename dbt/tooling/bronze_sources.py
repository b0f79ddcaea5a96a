"""Generate dbt's bronze sources from the data-flow catalog, so every stream Airbyte lands is a dbt source.

    PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.bronze_sources [--check]

One file per catalog source, `models/staging/<source>/_<source>__sources.yml` (dbt Labs' layout: staging is
organised by source system), one table per stream. The same table resolves per target:
- local (DuckDB): the Parquet files of its bronze prefix in the lake mirror (path from infra/model/lake.py);
- postgres: table `bronze.<source>__<stream>`, filled by tooling.load_postgres;
- dremio: `<lake source>."<bronze bucket>".<source>.<stream>`, the promoted folder of its bronze prefix, read
  through the lakehouse's read-only lake source (names from infra/model/naming.py, set by the runner; the defaults
  are the `dev` stack's).

Each source declares its freshness on `_airbyte_extracted_at` (the time Airbyte read a record), with thresholds
derived from when it is synced (`freshness`): its own schedule in the catalog, or the batch's (the transformation
schedule) for a source the marts read, whose syncs the batch starts. `--check` changes nothing and fails when a file
differs or when a generated sources file names a source the catalog no longer declares; writing removes those.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from infra.model import naming
from infra.model.catalog import Catalog, Schedule, load_catalog
from infra.model.lake import bronze_local_glob
from infra.model.lineage import mart_sources
from tooling import layout
from tooling.errors import UsageError, cli

STAGING_DIR = layout.DBT_DIR / "models" / "staging"
LAKE_ROOT_EXPRESSION = "{{ env_var('DBT_LAKE_ROOT', 'build/lake') }}"
LAKE_ROOT = Path(LAKE_ROOT_EXPRESSION)
DREMIO_DEFAULTS = naming.dbt_dremio_environment(naming.DEFAULT_PREFIX, naming.DEFAULT_STACK)
COMMAND = "PYTHONPATH=dbt .venv-dbt/bin/python -m tooling.bronze_sources"
HEADER = (f"# Generated from infra/dataflow.yaml by `{COMMAND}`.\n"
          "# Do not edit: change the catalog and regenerate (a test fails when this file is stale).\n")
LOADED_AT_FIELD = "_airbyte_extracted_at"
# `continuous` becomes Airbyte's most frequent schedule, once a minute (infra/model/schedules.py).
CONTINUOUS_MINUTES = 1
# A sync takes time to start and run (a pod per sync); no source is called late before this.
MIN_WARN_MINUTES = 30


def sources_file(source: str) -> Path:
    """`models/staging/<source>/_<source>__sources.yml`."""
    return STAGING_DIR / source / f"_{source}__sources.yml"


def freshness(schedule: Schedule) -> tuple[int, int]:
    """(warn, error) after how many minutes without a new record, from the source's schedule.

    Warn once a sync is missed (two intervals, at least MIN_WARN_MINUTES so that a sync's own duration is not a
    miss), error once three more are (twice the warning). `continuous` counts as Airbyte's once a minute."""
    interval = schedule.minutes or CONTINUOUS_MINUTES
    warn = max(2 * interval, MIN_WARN_MINUTES)
    return warn, 2 * warn


def synced_on(catalog: Catalog, name: str) -> Schedule:
    """When a source is synced: by the batch, on the transformation schedule, when the marts read it (its connection
    is manual; infra/model/lineage.py), else on its own schedule."""
    if name in mart_sources(catalog):
        return catalog.transformations.schedule
    return next(source.schedule for source in catalog.sources if source.name == name)


def _period(minutes: int) -> dict[str, int | str]:
    """dbt's `{count, period}` for a number of minutes: in hours when whole hours, else minutes."""
    return {"count": minutes // 60, "period": "hour"} if minutes % 60 == 0 else {"count": minutes, "period": "minute"}


def render_source(catalog: Catalog, name: str) -> str:
    source = next(s for s in catalog.sources if s.name == name)
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
    schedule = synced_on(catalog, source.name)
    warn, error = freshness(schedule)
    cadence = "continuously" if schedule.every == "continuous" else f"every {schedule.every}"
    if source.name in mart_sources(catalog):
        cadence = f"by the batch, {cadence}"
    document = {"version": 2, "sources": [{
        "name": source.name,
        "description": (f"Bronze landing of source `{source.name}`: {source.description} Synced {cadence}; stale "
                        f"(warn) after {warn} minutes without a new record, error after {error}."),
        # On Dremio: the lakehouse's read-only lake source, whose paths start with the bronze bucket.
        "database": (f"{{{{ env_var('DBT_DREMIO_BRONZE_SOURCE', '{DREMIO_DEFAULTS['DBT_DREMIO_BRONZE_SOURCE']}') "
                     "if target.type == 'dremio' else target.database }}"),
        "schema": (f"{{{{ env_var('DBT_DREMIO_BRONZE_BUCKET', '{DREMIO_DEFAULTS['DBT_DREMIO_BRONZE_BUCKET']}') "
                   f"~ '.{source.name}' if target.type == 'dremio' else 'bronze' }}}}"),
        "config": {"loaded_at_field": LOADED_AT_FIELD,
                   "freshness": {"warn_after": _period(warn), "error_after": _period(error)}},
        "tables": tables,
    }]}
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=120, allow_unicode=True)


def render(catalog: Catalog) -> dict[Path, str]:
    """Every sources file the catalog gives, by path."""
    return {sources_file(source.name): render_source(catalog, source.name) for source in catalog.sources}


def generated_files() -> list[Path]:
    """The sources files under models/staging that say they were generated here."""
    return sorted(path for path in STAGING_DIR.glob("*/_*__sources.yml") if path.read_text().startswith(HEADER))


@cli
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    wanted = render(load_catalog())
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    orphans = [path for path in generated_files() if path not in wanted]
    if argv == ["--check"]:
        if stale or orphans:
            names = ", ".join(str(path.relative_to(layout.REPO_ROOT)) for path in [*stale, *orphans])
            raise UsageError(f"stale dbt sources ({names}); regenerate them with `{COMMAND}`")
        return 0
    if argv:
        raise UsageError("usage: python -m tooling.bronze_sources [--check]")
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path])
        print(f"wrote {path.relative_to(layout.REPO_ROOT)}")
    for path in orphans:
        path.unlink()
        print(f"removed {path.relative_to(layout.REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
