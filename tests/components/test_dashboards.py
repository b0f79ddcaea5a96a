"""The pipeline-health board ships as code: one ConfigMap per dashboard in `dp-monitoring`, labelled for Grafana's
dashboard sidecar, holding deterministic JSON that Grafana's dashboard JSON schema accepts. It covers the seed's
sync status, storage capacity, query performance and dashboard load time; what no series carries is a text panel
that says so. Every panel's query is parsed and resolved by tests/components/test_metric_inventory.py.

The schema is the one Grafana publishes for its dashboard model (grafana/grafana-foundation-sdk
`jsonschema/dashboard.jsonschema.json`, generated from Grafana's own schema); it is read from
`../shared/vendor-specs/grafana/` and the check skips, naming the file, where that is missing."""

from __future__ import annotations

import json

import pytest

from components.monitoring.component import DASHBOARD_LABEL, dashboard_json
from components.monitoring.dashboards import PipelineHealth, dashboards, pipeline_health
from infra.offline.harness import unwrap_secret
from tests.support import promql
from tests.support.vendor_specs import VENDOR_SPECS

STACKS = ["dev", "prod"]


def health(storage: str, database: str) -> PipelineHealth:
    """The board's inputs as the platform passes them (components/platform.py)."""
    from components.ingestion.spec import REPLICATION_POD
    from components.lakehouse.log_routes import QUERY_SECONDS
    from components.presentation.log_routes import RESPONSES

    return PipelineHealth(storage, database, 30, sync_pods=REPLICATION_POD, query_seconds=QUERY_SECONDS.series,
                          responses=RESPONSES.series)
SCHEMA = "grafana/dashboard.jsonschema.json"
SEED_ROWS = ["Sync status", "Storage capacity", "Query performance", "Dashboard load time and API"]


def config_maps(recording):
    return [resource for resource in recording.of_type(promql.CONFIG_MAP)
            if (resource.input("metadata").get("labels") or {}).get("grafana_dashboard") == "1"]


def board(recording) -> dict:
    return promql.dashboards(recording)["pipeline-health.json"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_board_is_a_configmap_for_grafanas_sidecar_with_deterministic_json(stack, stack_recording):
    recording = stack_recording(stack)
    (config_map,) = config_maps(recording)
    metadata = config_map.input("metadata")
    assert metadata["namespace"] == "dp-monitoring" and metadata["name"] == "grafana-dashboard-pipeline-health"
    assert DASHBOARD_LABEL.items() <= metadata["labels"].items()
    text = config_map.input("data")["pipeline-health.json"]
    assert text == dashboard_json(json.loads(text))  # sorted keys, fixed indent: the same board, the same bytes


def test_the_same_stack_gives_the_same_bytes_and_each_panel_a_unique_id():
    inputs = health("minio", "cloudnative-pg")
    assert dashboard_json(pipeline_health(inputs)) == dashboard_json(pipeline_health(inputs))
    ids = [panel["id"] for panel in promql.panels(pipeline_health(inputs))]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("stack", STACKS)
def test_the_board_covers_the_seeds_sections_and_says_what_it_cannot_show(stack, stack_recording):
    dashboard = board(stack_recording(stack))
    panels = dashboard["panels"]
    assert [panel["title"] for panel in panels if panel["type"] == "row"] == SEED_ROWS
    for panel in panels:
        if panel["type"] == "text":
            assert panel["options"]["content"].startswith("**Not available.** ") and "targets" not in panel
        elif panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert all(target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                       for target in panel["targets"])
    texts = {panel["title"] for panel in panels if panel["type"] == "text"}
    assert {"Dashboard load time", "Records synced"} <= texts
    (variable,) = dashboard["templating"]["list"]
    assert (variable["type"], variable["name"], variable["query"]) == ("datasource", "datasource", "prometheus")


def test_prod_says_where_s3_and_rds_report_and_dev_graphs_minio_and_postgres(dev, prod):
    def kinds(recording) -> dict[str, str]:
        return {panel["title"]: panel["type"] for panel in board(recording)["panels"]}

    assert kinds(dev)["Object store: bytes per bucket"] == "timeseries"
    assert kinds(dev)["PostgreSQL: connections"] == "timeseries"
    assert kinds(prod)["Object store: bytes and objects per bucket"] == "text"
    assert kinds(prod)["PostgreSQL: size and connections"] == "text"
    assert not {"Object store: bytes per bucket", "PostgreSQL: connections"} & set(kinds(prod))


@pytest.mark.parametrize("stack", STACKS)
def test_the_stack_installs_no_grafana_the_configmaps_serve_the_teams_own(stack, stack_recording):
    (release,) = [resource for resource in stack_recording(stack).of_type(promql.RELEASE)
                  if resource.input("name") == "prometheus"]
    assert unwrap_secret(release.inputs["values"])["grafana"] == {"enabled": False}


def test_grafanas_dashboard_schema_accepts_the_board_and_refuses_a_broken_one():
    import jsonschema

    path = VENDOR_SPECS / SCHEMA
    if not path.is_file():
        pytest.skip(f"Grafana's dashboard schema {path} is missing (grafana/grafana-foundation-sdk "
                    "jsonschema/dashboard.jsonschema.json, beside the project in shared/vendor-specs/)")
    validator = jsonschema.Draft7Validator(json.loads(path.read_text()))
    for inputs in (health("minio", "cloudnative-pg"), health("s3", "rds")):
        for name, dashboard in dashboards(inputs).items():
            errors = [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(dashboard)]
            assert not errors, f"{name}: {errors}"
        broken = pipeline_health(inputs)
        broken["panels"][1]["gridPos"]["w"] = "wide"
        broken["refresh"] = 60
        assert len(list(validator.iter_errors(broken))) >= 2
