"""The catalog parses into typed models, derives bronze datasets, and rejects broken declarations by key path."""

from __future__ import annotations

import copy

import pytest
import yaml

from infra.catalog import CATALOG_PATH, load_catalog, parse_catalog
from infra.errors import ConfigError


@pytest.fixture()
def document() -> dict:
    return yaml.safe_load(CATALOG_PATH.read_text())


def test_checked_in_catalog_parses():
    catalog = load_catalog()
    assert [source.name for source in catalog.sources] == ["postgres", "mysql", "mongodb", "api", "files"]
    assert [mart.name for mart in catalog.marts] == ["fct_customer_lifetime_value", "fct_daily_revenue"]
    assert catalog.lake.layer("gold").codec == "zstd"
    assert catalog.lake.layer("logs").retention_days == 90


def test_bronze_datasets_follow_the_lake_layout():
    datasets = load_catalog().bronze_datasets()
    assert [dataset.prefix for dataset in datasets] == [
        "postgres/customers/",
        "postgres/orders/",
        "mysql/products/",
        "mongodb/reviews/",
        "api/exchange_rates/",
        "files/campaigns/",
    ]
    assert datasets[1].partition_template == "postgres/orders/date={date}/"


def test_roles_read_what_they_write():
    catalog = load_catalog()
    assert catalog.role("transformation").readable == ("bronze", "silver", "gold")
    assert catalog.role("data_engineer").readable == ("bronze",)
    assert catalog.role("analyst").readable == ("gold",)


def test_schedules_in_minutes():
    catalog = load_catalog()
    assert {source.name: source.schedule.minutes for source in catalog.sources} == {
        "postgres": 30, "mysql": 0, "mongodb": 30, "api": 15, "files": 1440,
    }


def broken(document: dict, mutate) -> dict:
    changed = copy.deepcopy(document)
    mutate(changed)
    return changed


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(
            lambda d: d["sources"][0]["streams"][0].update(destination_sync_mode="append_dedup"),
            "catalog: sources.0.streams.0: stream 'customers': the lake's S3 destination cannot deduplicate; use "
            "`append` (staging in dbt keeps the latest version of each row)",
            id="dedup-into-the-lake",
        ),
        pytest.param(
            lambda d: d["sources"][0]["streams"][1].pop("cursor_field"),
            "catalog: sources.0.streams.1: stream 'orders': incremental sync needs `cursor_field`",
            id="incremental-without-cursor",
        ),
        pytest.param(
            lambda d: d["sources"].append(copy.deepcopy(d["sources"][0])),
            "catalog: source names must be unique; repeated: postgres",
            id="duplicate-source",
        ),
        pytest.param(
            lambda d: d["roles"].append(
                {"name": "reverse", "description": "x", "reads": ["gold"], "writes": ["bronze"], "storage": False}
            ),
            "catalog: roles.6: role 'reverse' reads gold and writes bronze: writing upstream of a layer it reads "
            "breaks the one-way flow",
            id="role-writes-upstream",
        ),
        pytest.param(
            lambda d: d["sources"][3].update(schedule={"every": "7m"}),
            "catalog: sources.3.schedule.every: '7m': minutes must divide 60 (5m, 10m, 15m, 20m, 30m) (got '7m')",
            id="bad-schedule",
        ),
        pytest.param(
            lambda d: d["lake"]["layers"]["logs"].update(retention_days=-1),
            "catalog: lake.layers.logs.retention_days: Input should be greater than or equal to 0 (got -1)",
            id="negative-retention",
        ),
        pytest.param(
            lambda d: d["lake"]["layers"].pop("silver"),
            "catalog: lake.layers: every lake layer must be declared; missing: silver",
            id="missing-layer",
        ),
        pytest.param(
            lambda d: d["sources"][3].update(replication="cdc"),
            "catalog: sources.3: source 'api': CDC is only available for postgres, mysql and mongodb",
            id="cdc-on-an-api",
        ),
        pytest.param(
            lambda d: d["marts"][0].update(owner="finance"),
            "catalog: marts.0.owner: unknown key; remove it or check its spelling",
            id="unknown-key",
        ),
    ],
)
def test_broken_catalog_is_rejected_with_the_key_path(document, mutate, message):
    with pytest.raises(ConfigError) as raised:
        parse_catalog(broken(document, mutate))
    assert str(raised.value) == message


def test_missing_catalog_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_catalog(tmp_path / "dataflow.yaml")
    assert str(raised.value).endswith("dataflow.yaml: the data-flow catalog is missing; restore infra/dataflow.yaml")
