"""The one mapping between lake buckets/prefixes and their local mirror under `build/lake/`.

In the clusters each layer is a bucket named `<prefix>-<stack>-<layer>`; on a laptop the same layout lives in
`build/lake/<layer>/`. Object keys are identical in both, so dbt sources, Airbyte destination paths and Dremio
folders all derive from the same key.
"""

from __future__ import annotations

from pathlib import Path

from infra.model.catalog import LAKE_LAYERS, BronzeDataset

DEFAULT_LOCAL_ROOT = Path("build/lake")


def object_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def local_path(layer: str, key: str = "", root: Path = DEFAULT_LOCAL_ROOT) -> Path:
    """Where an object key of a lake layer lives in the local mirror."""
    if layer not in LAKE_LAYERS:
        raise ValueError(f"'{layer}' is not a lake layer; use one of {', '.join(LAKE_LAYERS)}")
    return root / layer / key


def bronze_local_glob(dataset: BronzeDataset, root: Path = DEFAULT_LOCAL_ROOT) -> str:
    """Glob over every date partition of a bronze dataset in the local mirror."""
    return str(local_path("bronze", dataset.prefix, root) / "date=*" / "*.parquet")


def mart_key(model: str) -> str:
    """Object prefix of a gold mart: `<model>/` (each mart in its own folder of the gold layer)."""
    return f"{model}/"
