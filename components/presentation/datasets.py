"""The Superset dataset of a gold mart, as the asset bundle carries it (components/presentation/assets/datasets/).

One dataset per mart of the catalog: the mart's Dremio view in the marts schema (`gold.marts`), on the bundle's
Dremio connection, described as the catalog describes the mart, with the mart's columns in the order given and
Superset's COUNT(*) metric. Pure: infra/offline/mart_assets.py passes each mart's columns as its dbt model declares
them (dbt/models/marts/_marts__models.yml) and writes the files (`make mart-assets`); `spec.bundle_datasets` reads
them back.

    text = render(mart, [DatasetColumn("order_date", temporal=True), DatasetColumn("daily_revenue")],
                  database_uuid="c2fc7b74-56b5-581a-9239-4dc36f7badf6")
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from infra.model import naming, yamlio
from infra.model.catalog import Mart

# The version Superset's importer expects of every file of a bundle (metadata.yaml says the same).
BUNDLE_VERSION = "1.0.0"


@dataclass(frozen=True)
class DatasetColumn:
    name: str
    temporal: bool = False
    """Superset offers it as a time column (`is_dttm`): time grains, time ranges, the x axis of time series."""


def dataset_uuid(mart: Mart, database_uuid: str) -> str:
    """The catalog's `dataset_uuid`, else one derived from the mart's name under the Dremio connection's uuid, as
    the charts' are (`chart:<mart>`): the same mart gets the same dataset in every stack and on every import."""
    if mart.dataset_uuid is not None:
        return str(mart.dataset_uuid)
    return str(uuid.uuid5(uuid.UUID(database_uuid), f"dataset:{mart.name}"))


def dataset(mart: Mart, columns: Sequence[DatasetColumn], database_uuid: str) -> dict[str, Any]:
    """The dataset's document, in the key order of Superset's own export."""
    return {
        "table_name": mart.name,
        "schema": naming.DREMIO_MARTS_SCHEMA,
        "description": mart.description,
        "uuid": dataset_uuid(mart, database_uuid),
        "database_uuid": database_uuid,
        "main_dttm_col": None,
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "sql": None,
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "version": BUNDLE_VERSION,
        "metrics": [{
            "metric_name": "count", "verbose_name": "COUNT(*)", "metric_type": "count", "expression": "COUNT(*)",
            "description": None, "d3format": None, "extra": None, "warning_text": None,
        }],
        "columns": [{
            "column_name": column.name, "verbose_name": None, "is_dttm": column.temporal, "is_active": True,
            "type": None, "groupby": True, "filterable": True, "expression": None, "description": None,
            "python_date_format": None, "extra": None,
        } for column in columns],
    }


def render(mart: Mart, columns: Sequence[DatasetColumn], database_uuid: str) -> str:
    """The dataset's file as YAML (without the generated-file header the writer adds)."""
    return yamlio.dump(dataset(mart, columns, database_uuid), sort_keys=False, width=120)
