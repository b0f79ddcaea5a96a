"""The pipeline-health board ships as code: one ConfigMap per dashboard in `dp-monitoring`, labelled for Grafana's
dashboard sidecar, holding deterministic JSON that Grafana's dashboard JSON schema accepts. It covers the seed's
sync status, storage capacity, query performance and dashboard load time; what no series carries is a text panel
that says so. Every panel's query is parsed and resolved by tests/components/test_metric_inventory.py.

Grafana's dashboard model is the one Grafana publishes for code, PyPI `grafana-foundation-sdk` (the types its generator
derives from Grafana's own schema, for Grafana 11.6; pinned in requirements.txt, so the check runs wherever the tests
do): tests/support/grafana_models.py reads each board into those types and judges it by them."""

from __future__ import annotations

import json

import pytest

from components.monitoring.component import DASHBOARD_LABEL, dashboard_json
from components.monitoring.dashboards import PipelineHealth, dashboards, pipeline_health
from infra.offline.harness import unwrap_secret
from tests.support import promql
from tests.support.grafana_models import dashboard_problems

STACKS = ["dev", "prod"]


def health(storage: str, database: str) -> PipelineHealth:
    """The board's inputs as the platform passes them (components/platform.py)."""
    from components.ingestion.spec import REPLICATION_POD
    from components.lakehouse.log_routes import QUERY_SECONDS
    from components.presentation.log_routes import RESPONSES

    return PipelineHealth(storage, database, 30, sync_pods=REPLICATION_POD, query_seconds=QUERY_SECONDS.series,
                          responses=RESPONSES.series)
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


def test_grafanas_dashboard_model_takes_the_board_and_refuses_a_broken_one():
    for inputs in (health("minio", "cloudnative-pg"), health("s3", "rds")):
        for name, dashboard in dashboards(inputs).items():
            assert dashboard_problems(dashboard) == [], name
        broken = pipeline_health(inputs)
        broken["panels"][1]["gridPos"]["w"] = "wide"
        broken["refresh"] = 60
        broken["schemaVerison"] = broken.pop("schemaVersion")
        stat = next(panel for panel in broken["panels"] if panel["type"] == "stat")
        stat["options"]["colorMode"] = "rainbow"
        table = next(panel for panel in broken["panels"] if panel["type"] == "table")
        table["targets"][0]["instant"] = "yes"
        assert sorted(dashboard_problems(broken)) == sorted([
            "dashboard.refresh: 60 is not a string",
            "dashboard.panels[1].grid_pos.w: 'wide' is not an integer",
            "dashboard.schemaVerison: not a field of Grafana's model (dropped when read)",
            f"dashboard.panels[{broken['panels'].index(stat)}].options.color_mode: 'rainbow' is not one of "
            "BigValueColorMode's values ['background', 'background_solid', 'none', 'value']",
            f"dashboard.panels[{broken['panels'].index(table)}].targets[0].instant: 'yes' is not a boolean",
        ])
