"""The catalog parses into typed models, derives bronze datasets, and rejects broken declarations by key path, naming
list items by their names."""

from __future__ import annotations

import copy

import pytest
import yaml

from infra.model.catalog import (
    CATALOG_PATH,
    PLATFORM_ROLES,
    PLATFORM_SERVICES,
    STORAGE_ROLES,
    Schedule,
    load_catalog,
    parse_catalog,
)
from infra.model.errors import ConfigError


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


def named(items: list[dict], name: str) -> dict:
    return next(item for item in items if item["name"] == name)


def broken(document: dict, mutate) -> dict:
    changed = copy.deepcopy(document)
    mutate(changed)
    return changed


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(
            lambda d: d["sources"][0]["streams"][0].update(destination_sync_mode="append_dedup"),
            "catalog: sources[postgres].streams[customers].destination_sync_mode: the lake's S3 destination cannot "
            "deduplicate; use `append` (staging in dbt keeps the latest version of each row) (got 'append_dedup')",
            id="dedup-into-the-lake",
        ),
        pytest.param(
            lambda d: d["sources"][4]["streams"][0].update(sync_mode="incremental", destination_sync_mode="append"),
            "catalog: sources[files].streams[campaigns].cursor_field: required with `sync_mode: incremental` (a "
            "`standard` source has no cursor of its own)",
            id="incremental-without-cursor",
        ),
        pytest.param(
            lambda d: d["sources"][0]["streams"][1].update(cursor_field="updated_at"),
            "catalog: sources[postgres].streams[orders].cursor_field: a cdc source defines the cursor itself (its log "
            "position) and Airbyte refuses another; remove it (got 'updated_at')",
            id="cdc-with-cursor",
        ),
        pytest.param(
            lambda d: d["sources"][3].pop("connector"),
            "catalog: sources[api].connector: required with kind `rest_api`: the definition id of the Airbyte "
            "connector that reads it",
            id="rest-api-without-connector",
        ),
        pytest.param(
            lambda d: d["sources"].append(copy.deepcopy(d["sources"][0])),
            "catalog: sources: names `postgres` twice; names must be unique",
            id="duplicate-source",
        ),
        pytest.param(
            lambda d: d["roles"].append(
                {"name": "reverse", "description": "x", "reads": ["gold"], "writes": ["bronze"], "storage": False}
            ),
            "catalog: roles[reverse].writes: role 'reverse' reads gold and writes bronze: writing upstream of a layer "
            "it reads breaks the one-way flow (got [\"bronze\"])",
            id="role-writes-upstream",
        ),
        pytest.param(
            lambda d: d["sources"][3].update(schedule={"every": "7m"}),
            "catalog: sources[api].schedule.every: '7m': minutes must divide 60 (5m, 10m, 15m, 20m, 30m) (got '7m')",
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
            "catalog: sources[api].replication: cdc is only available for postgres, mysql and mongodb sources, not "
            "rest_api; use `standard` (got 'cdc')",
            id="cdc-on-an-api",
        ),
        pytest.param(
            lambda d: d["marts"][0].update(owner="finance"),
            "catalog: marts[customers].owner: unknown key; remove it or check its spelling",
            id="unknown-key",
        ),
        pytest.param(
            lambda d: [mart.update(dataset_uuid="0c7ffa9b-7d5c-5a3c-9a43-4e1d8c2b6f10") for mart in d["marts"]],
            "catalog: marts: gives dataset uuid `0c7ffa9b-7d5c-5a3c-9a43-4e1d8c2b6f10` to more than one mart; each "
            "mart's Superset dataset needs its own",
            id="shared-dataset-uuid",
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


@pytest.mark.parametrize(
    ("mutate", "lines"),
    [
        pytest.param(
            lambda d: d["roles"].remove(named(d["roles"], "analyst")),
            ["catalog: roles: must declare `analyst`: Superset's analyst role is it"],
            id="no-analyst",
        ),
        pytest.param(
            lambda d: named(d["roles"], "query_engine").update(storage=False),
            ["catalog: roles[query_engine].storage: must be true: Dremio reads the lake as it with object-store keys "
             "of its own (got false)"],
            id="query-engine-without-keys",
        ),
        pytest.param(
            lambda d: named(d["roles"], "analyst").update(reads=["silver"]),
            ["catalog: roles[analyst].reads: must include gold: Superset's analyst role reads the marts (got "
             '["silver"])'],
            id="analyst-without-gold",
        ),
        pytest.param(
            lambda d: named(d["services"], "dbt").pop("role"),
            ["catalog: services[dbt].role: must be `transformation`: dbt builds silver and gold as it"],
            id="dbt-acting-as-nobody",
        ),
        pytest.param(
            lambda d: named(d["services"], "dbt").update(uses=["superset"]),
            ["catalog: services[dbt].uses: must include `dremio`: dbt works through it (got [\"superset\"])"],
            id="dbt-not-calling-dremio",
        ),
    ],
)
def test_what_the_products_are_wired_to_must_stay(document, mutate, lines):
    with pytest.raises(ConfigError) as raised:
        parse_catalog(broken(document, mutate))
    assert str(raised.value).splitlines() == lines


def test_the_platform_contract_is_what_the_products_use():
    from components.metadata.access import PLATFORM_TABLE_READERS, PLATFORM_TABLE_WRITERS, service_roles
    from components.platform import DATABASE_LOGINS
    from components.presentation.spec import ANALYST_ROLE

    logins = service_roles(load_catalog(), DATABASE_LOGINS)
    assert {service: role for service, (role, _) in PLATFORM_SERVICES.items()} == logins
    assert {*logins.values(), *PLATFORM_TABLE_WRITERS.values(), *PLATFORM_TABLE_READERS, ANALYST_ROLE} == set(
        PLATFORM_ROLES)
    assert set(STORAGE_ROLES) <= set(PLATFORM_ROLES)


def test_a_repeated_key_in_the_catalog_file(tmp_path):
    path = tmp_path / "dataflow.yaml"
    path.write_text(CATALOG_PATH.read_text().replace("version: 1\n", "version: 1\nversion: 1\n", 1))
    with pytest.raises(ConfigError) as raised:
        load_catalog(path)
    assert str(raised.value).startswith(f"{path}: version: duplicate key (lines ")
