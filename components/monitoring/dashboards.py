"""Grafana dashboards as code: plain dicts, written as deterministic JSON into ConfigMaps that Grafana's dashboard
sidecar loads (the label `grafana_dashboard: "1"`, kube-prometheus-stack's convention; docs/runtime.md, "Dashboards").

    board = pipeline_health(PipelineHealth("minio", "cloudnative-pg", 30, sync_pods="replication-job-.*",
                                           query_seconds="log_metric_histogram_dremio_query_duration_seconds",
                                           responses="log_metric_counter_superset_http_responses_total"))
    text = dashboard_json(board)        # components/monitoring/component.py: sorted keys, two-space indent

The stack installs no Grafana (kube-prometheus-stack's `grafana.enabled: false`): the ConfigMaps are for the Grafana
a team already runs. Every panel selects through a `datasource` variable (any Prometheus data source of that Grafana)
and only metrics the plan serves (tests/components/test_metric_inventory.py parses every panel's query); where the
seed asks for a figure no series carries, the panel is a text panel that says so and why, not an empty graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from infra.model.naming import namespace_name

# Grafana 11/12's dashboard JSON model version.
SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PLATFORM = 'namespace=~"dp-.*"'
WIDTH, HEIGHT = 8, 8


@dataclass(frozen=True)
class PipelineHealth:
    """What the pipeline-health board depends on in a stack."""

    storage: Literal["minio", "s3"]
    database: Literal["cloudnative-pg", "rds"]
    slow_query_seconds: int
    sync_pods: str
    """Regular expression of the pods Airbyte starts per sync attempt (the ingestion layer's)."""
    query_seconds: str
    """The histogram of Dremio's query durations the log shipper derives (the lakehouse's `LogMetric`)."""
    responses: str
    """The counter of Superset's responses by `status_class` (the presentation layer's `LogMetric`)."""


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}


def _graph(kind: str, title: str, description: str, unit: str, *queries: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [_target(expr, legend, chr(ord("A") + index)) for index, (expr, legend) in enumerate(queries)],
    }


def timeseries(title: str, description: str, unit: str, *queries: tuple[str, str]) -> dict[str, Any]:
    return _graph("timeseries", title, description, unit, *queries)


def stat(title: str, description: str, unit: str, *queries: tuple[str, str]) -> dict[str, Any]:
    return _graph("stat", title, description, unit, *queries)


def table(title: str, description: str, unit: str, *queries: tuple[str, str]) -> dict[str, Any]:
    panel = _graph("table", title, description, unit, *queries)
    for target in panel["targets"]:
        target.update(instant=True, range=False, format="table")
    return panel


def unavailable(title: str, why: str) -> dict[str, Any]:
    """A figure the seed asks for that no series carries: the panel says so, and why."""
    return {"type": "text", "title": title, "description": "Not available in this platform.",
            "options": {"mode": "markdown", "content": f"**Not available.** {why}"}}


def _row(title: str) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def _laid_out(sections: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Rows, each followed by its panels three to a line; ids and grid positions in order."""
    panels: list[dict[str, Any]] = []
    y = 0
    for title, members in sections:
        panels.append({**_row(title), "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}})
        y += 1
        for index, panel in enumerate(members):
            x = (index % 3) * WIDTH
            if index and index % 3 == 0:
                y += HEIGHT
            panels.append({**panel, "gridPos": {"x": x, "y": y, "w": WIDTH, "h": HEIGHT}})
        y += HEIGHT
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    return panels


def _sync_status(health: PipelineHealth) -> list[dict[str, Any]]:
    ingestion = f'namespace="{namespace_name("ingestion")}",pod=~"{health.sync_pods}"'
    return [
        stat("Sync attempts by outcome",
             "Airbyte's replication pods (one per sync attempt) by phase, as kube-state-metrics reports them while "
             "the pod exists.", "short",
             (f"count by (phase) (kube_pod_status_phase{{{ingestion}}} == 1)", "{{phase}}")),
        table("Sync attempt durations",
              "Seconds from start to completion of each replication pod still listed.", "s",
              (f"max by (pod) (kube_pod_completion_time{{{ingestion}}}) "
               f"- on (pod) max by (pod) (kube_pod_start_time{{{ingestion}}})", "{{pod}}")),
        unavailable("Records synced",
                    "Airbyte reports records per sync in its job API and its UI; its metrics (OpenTelemetry) are an "
                    "Enterprise feature, and its logs carry no line this platform turns into a series. See "
                    "docs/runtime.md, \"Metric inventory\"."),
        table("Time since each scheduled job last succeeded",
              "Every CronJob of the platform (dbt, backups, ...): seconds since its last successful run.", "s",
              (f"time() - max by (namespace, cronjob) (kube_cronjob_status_last_successful_time{{{PLATFORM}}})",
               "{{namespace}}/{{cronjob}}")),
        table("Failed Jobs still listed",
              "Jobs of the platform with a failed pod (kept per the CronJobs' failedJobsHistoryLimit).", "short",
              (f"max by (namespace, job_name) (kube_job_status_failed{{{PLATFORM}}}) > 0",
               "{{namespace}}/{{job_name}}")),
    ]


def _storage(health: PipelineHealth) -> list[dict[str, Any]]:
    panels = [
        timeseries("Volume usage", "Used share of every platform PersistentVolumeClaim (the alert fires under 15% "
                   "free).", "percentunit",
                   (f"1 - kubelet_volume_stats_available_bytes{{{PLATFORM}}} "
                    f"/ kubelet_volume_stats_capacity_bytes{{{PLATFORM}}}",
                    "{{namespace}}/{{persistentvolumeclaim}}")),
    ]
    if health.storage == "minio":
        panels += [
            timeseries("Object store: bytes per bucket", "MinIO's bucket usage (its scanner updates it "
                       "periodically).", "bytes", ("sum by (bucket) (minio_bucket_usage_total_bytes)", "{{bucket}}")),
            timeseries("Object store: objects per bucket", "MinIO's object count per bucket.", "short",
                       ("sum by (bucket) (minio_bucket_usage_object_total)", "{{bucket}}")),
            stat("Object store: usable capacity free", "MinIO's usable free capacity.", "bytes",
                 ("min(minio_cluster_capacity_usable_free_bytes)", "free")),
        ]
    else:
        panels.append(unavailable(
            "Object store: bytes and objects per bucket",
            "The lake is on AWS S3, which reports bucket size and object count to CloudWatch (`BucketSizeBytes`, "
            "`NumberOfObjects`, daily); this Prometheus does not read CloudWatch."))
    if health.database == "cloudnative-pg":
        panels += [
            timeseries("PostgreSQL: database size", "Size of each database of the metadata cluster.", "bytes",
                       ("max by (datname) (cnpg_pg_database_size_bytes)", "{{datname}}")),
            timeseries("PostgreSQL: connections", "Backends per database (CloudNativePG's `backends` query).",
                       "short", ("sum by (datname) (cnpg_backends_total)", "{{datname}}")),
        ]
    else:
        panels.append(unavailable(
            "PostgreSQL: size and connections",
            "The metadata database is on RDS, which reports `FreeStorageSpace` and `DatabaseConnections` to "
            "CloudWatch; this Prometheus does not read CloudWatch."))
    return panels


def _queries(health: PipelineHealth) -> list[dict[str, Any]]:
    histogram = health.query_seconds
    bound = f"{float(health.slow_query_seconds):.1f}"
    return [
        timeseries("Dremio query duration", "Quantiles of Dremio's query durations (from queries.json, through the "
                   "log shipper).", "s",
                   *((f"histogram_quantile({q}, sum by (le) (rate({histogram}_bucket[$__rate_interval])))", f"p{p}")
                     for q, p in ((0.5, 50), (0.9, 90), (0.99, 99)))),
        timeseries("Dremio queries per second", "Finished queries per second.", "reqps",
                   (f"sum(rate({histogram}_count[$__rate_interval]))", "queries")),
        timeseries(f"Dremio queries slower than {health.slow_query_seconds} s", "Per second; the slow-query alert "
                   "fires on any.", "reqps",
                   (f"sum(rate({histogram}_count[$__rate_interval])) "
                    f'- sum(rate({histogram}_bucket{{le="{bound}"}}[$__rate_interval]))', "slow")),
        unavailable("Reflection refresh time",
                    "Dremio OSS writes no reflection refresh duration to queries.json or to a metrics endpoint this "
                    "platform scrapes."),
        unavailable("dbt model time",
                    "dbt writes model timings to its run artifacts (run_results.json) inside the run's pod; nothing "
                    "exports them as series. The run's own success and age are under Sync status."),
    ]


def _dashboard_load(health: PipelineHealth) -> list[dict[str, Any]]:
    responses = health.responses
    return [
        timeseries("Superset API requests per second", "Responses of Superset's web server per second by status "
                   "class (from gunicorn's access log, health checks excluded).", "reqps",
                   (f"sum by (status_class) (rate({responses}[$__rate_interval]))", "{{status_class}}xx")),
        timeseries("Superset server error ratio", "Share of 5xx responses (the alert fires over 5%).",
                   "percentunit",
                   (f'sum(rate({responses}{{status_class="5"}}[$__rate_interval])) '
                    f"/ sum(rate({responses}[$__rate_interval]))", "5xx")),
        unavailable("Dashboard load time",
                    "Superset's access log is gunicorn's default format, which has no request duration, and "
                    "Superset's statsd logger is not configured; no series carries how long a dashboard takes to "
                    "load."),
    ]


def pipeline_health(health: PipelineHealth) -> dict[str, Any]:
    """The seed's "data pipeline health" board: sync status, storage capacity, query performance, dashboard load."""
    return {
        "uid": "dataplatform-pipeline-health",
        "title": "Data platform: pipeline health",
        "description": "Syncs, storage, queries and dashboards of the data platform (generated by the platform's "
                       "code; changes in Grafana are overwritten).",
        "tags": ["dataplatform"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [{
            "type": "datasource", "name": "datasource", "label": "Prometheus", "query": "prometheus",
            "hide": 0, "refresh": 1, "includeAll": False, "multi": False, "skipUrlSync": False, "options": [],
            "current": {"text": "default", "value": "default"},
        }]},
        "panels": _laid_out([
            ("Sync status", _sync_status(health)),
            ("Storage capacity", _storage(health)),
            ("Query performance", _queries(health)),
            ("Dashboard load time and API", _dashboard_load(health)),
        ]),
    }


def dashboards(health: PipelineHealth) -> dict[str, dict[str, Any]]:
    """The platform's dashboards by file name (one ConfigMap each)."""
    return {"pipeline-health.json": pipeline_health(health)}
