"""The plan-time reading of dbt's lineage refuses what it cannot stand behind (a ref to no model, a source the
catalog does not declare), and a mart's reflection refresh is a period (tests/dbt/test_lineage.py holds the reading
itself to dbt's manifest)."""

from __future__ import annotations

import copy

import pytest
import yaml

from infra.model import lineage
from infra.model.catalog import CATALOG_PATH, load_catalog, parse_catalog
from infra.model.errors import ConfigError


def _project(tmp_path, models: dict[str, str]):
    for path, sql in models.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(sql)
    return tmp_path


def test_a_mart_reading_an_undeclared_source_is_refused_naming_it(tmp_path):
    root = _project(tmp_path, {
        "staging/shop/stg_shop__carts.sql": "select * from {{ source('shop', 'carts') }}",
        "marts/carts.sql": "{{ config(materialized='view') }} select * from {{ ref('stg_shop__carts') }}",
    })
    with pytest.raises(ConfigError, match=r"dbt marts read source\(s\) shop that infra/dataflow.yaml does not "
                                          r"declare; declared: postgres, mysql, mongodb, api, files"):
        lineage.mart_sources(load_catalog(), root)


def test_a_ref_to_no_model_is_refused_naming_it(tmp_path):
    root = _project(tmp_path, {"marts/carts.sql": "select * from {{ ref('int_carts_joined') }}"})
    with pytest.raises(ConfigError, match=r"dbt model 'int_carts_joined' is referenced but no file"):
        lineage.mart_sources(load_catalog(), root)


def test_only_the_sources_under_the_marts_are_the_batchs(tmp_path):
    root = _project(tmp_path, {
        "staging/postgres/stg_postgres__orders.sql": "select * from {{ source('postgres', 'orders') }}",
        "staging/mysql/stg_mysql__products.sql": "select * from {{ source(\"mysql\", \"products\") }}",
        "marts/orders.sql": "-- depends_on: {{ ref('stg_postgres__orders') }}\nselect 1",
    })
    assert lineage.mart_sources(load_catalog(), root) == ("postgres",)
    models = lineage.read_models(root)
    assert lineage.dremio_tables_under(models, "orders") == ["stg_postgres__orders"]


@pytest.mark.parametrize("refresh", [{"every": "continuous"}, {"every": "1d", "at": "01:00"}])
def test_a_reflection_refresh_must_be_a_period(refresh):
    document = copy.deepcopy(yaml.safe_load(CATALOG_PATH.read_text()))
    document["marts"][0]["reflection"]["refresh"] = refresh
    with pytest.raises(ConfigError, match=r"marts\[customers\]\.reflection\.refresh: a refresh policy is a period"):
        parse_catalog(document)
