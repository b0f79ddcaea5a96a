"""Where things live: the repository, the dbt project, the local lake mirror and the bronze datasets dbt reads.

Lake paths come from infra/model/lake.py (the one mapping between buckets and local folders); this module only
adds the dbt-side names of the same datasets.
"""

from __future__ import annotations

import os
from pathlib import Path

from infra.model.catalog import BronzeDataset, Catalog, load_catalog
from infra.model.lake import DEFAULT_LOCAL_ROOT
from tooling.errors import UsageError

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_DIR = REPO_ROOT / "dbt"
BUILD_DIR = REPO_ROOT / "build"
PROFILE_NAME = "dataplatform"

# The bronze datasets the models read, as (source, stream) in the data-flow catalog.
CUSTOMERS = ("postgres", "customers")
ORDERS = ("postgres", "orders")


def lake_root() -> Path:
    """The local lake mirror: DBT_LAKE_ROOT if set, else build/lake under the repository."""
    configured = os.environ.get("DBT_LAKE_ROOT")
    return Path(configured) if configured else REPO_ROOT / DEFAULT_LOCAL_ROOT


def duckdb_path() -> Path:
    configured = os.environ.get("DBT_DUCKDB_PATH")
    return Path(configured) if configured else BUILD_DIR / "dbt" / "dataplatform.duckdb"


def bronze_dataset(source: str, stream: str, catalog: Catalog | None = None) -> BronzeDataset:
    """The catalog's bronze dataset for a stream; an error naming the catalog if it is not declared."""
    for dataset in (catalog or load_catalog()).bronze_datasets():
        if (dataset.source, dataset.stream) == (source, stream):
            return dataset
    raise UsageError(f"infra/dataflow.yaml declares no stream '{stream}' in source '{source}'; the dbt models need it")


def postgres_table(dataset: BronzeDataset) -> str:
    """Table name of a bronze dataset in the `bronze` schema of the postgres target: `<source>__<stream>`."""
    return f"{dataset.source}__{dataset.stream}"
