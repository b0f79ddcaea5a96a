"""The catalog parses into typed models, derives bronze datasets, and rejects broken declarations by key path."""

from __future__ import annotations

import copy

import pytest
import yaml

from infra.catalog import CATALOG_PATH, Schedule, load_catalog, parse_catalog
from infra.errors import ConfigError


@pytest.fixture()
def document() -> dict:
    return yaml.safe_load(CATALOG_PATH.read_text())


def test_checked_in_catalog_parses(document):
    catalog = load_catalog()
    assert [source.name for source in catalog.sources] == [source["name"] for source in document["sources"]]
    assert [mart.name for mart in catalog.marts] == [mart["name"] for mart in document["marts"]]
    assert catalog.lake.layer("gold").codec == "zstd"
    assert catalog.lake.layer("logs").retention_days == 90


def test_bronze_datasets_follow_the_lake_layout(document):
    """One dataset per source and stream, in catalog order, under `<source>/<stream>/`, partitioned by date."""
    datasets = load_catalog().bronze_datasets()
    declared = [(source["name"], stream["name"]) for source in document["sources"] for stream in source["streams"]]
    assert [(dataset.source, dataset.stream) for dataset in datasets] == declared
    for dataset in datasets:
        assert dataset.prefix == f"{dataset.source}/{dataset.stream}/"
        assert dataset.partition_template == f"{dataset.source}/{dataset.stream}/date={{date}}/"


def test_roles_read_what_they_write():
    catalog = load_catalog()
    assert catalog.role("transformation").readable == ("bronze", "silver", "gold")
    assert catalog.role("data_engineer").readable == ("bronze",)
    assert catalog.role("analyst").readable == ("gold",)


@pytest.mark.parametrize(("schedule", "minutes"), [
    ({"every": "15m"}, 15), ({"every": "30m"}, 30), ({"every": "1h"}, 60), ({"every": "6h"}, 360),
    ({"every": "1d", "at": "01:00"}, 1440), ({"every": "continuous"}, 0),
])
def test_schedules_in_minutes(schedule, minutes):
    assert Schedule.model_validate(schedule).minutes == minutes


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
