"""What watches the log cluster's snapshots: prometheus-community's elasticsearch_exporter, its read-only Elasticsearch
identity, its scrape target and the alerts on its series (docs/decisions/0040-elasticsearch-snapshot-alerts.md).
Pure: no resources; components/logs/component.py declares them.

- The release: chart prometheus-elasticsearch-exporter 7.4.0, image v1.11.0 (the chart's appVersion). Of the
  exporter's optional collectors only `snapshots` is on; the cluster-info, cluster-health and node collectors are
  always on at that tag (main.go registers them unconditionally). It speaks https to the cluster's HTTP Service,
  verifying the server against the stack CA (`--es.ca`, never `--es.ssl-skip-verify`), as the user EXPORTER_USER,
  whose password the container reads from a Secret (`ES_USERNAME`/`ES_PASSWORD`, main.go).
- The identity: a role with exactly the cluster privileges the calls of those collectors need, each call an
  endpoint of the Elasticsearch specification (EXPORTER_CALLS), and no index privilege. The SLM collector is off: its
  `GET /_slm/stats` needs `manage_slm`, which may rewrite a policy's retention and so delete the snapshots it watches.
- The alerts: per SLM policy, from the snapshots collector's series (collector/snapshots.go at v1.11.0), which are
  per repository: each policy writes to a repository of its own (decision 0051), so a series names one policy.
"""

from __future__ import annotations

from typing import Any

from components.kit.hardening import SMALL
from components.kit.images import pinned_tag
from components.kit.release import Hardening, ProductRelease
from components.logs.spec import SnapshotPolicy
from components.monitoring.component import AlertRule, ScrapeTarget
from infra.model.naming import namespace_name, service_host

LAYER = "logs"
RELEASE = "elasticsearch-exporter"
CHART = "prometheus-elasticsearch-exporter"
IMAGE_REGISTRY = "quay.io"
IMAGE_REPOSITORY = "prometheuscommunity/elasticsearch-exporter"
IMAGE_TAG = "v1.11.0"
PORT = 9108  # the chart's `service.httpPort`, passed as `--web.listen-address`
PORT_NAME = "http"
EXPORTER_USER = "elasticsearch-exporter"
EXPORTER_ROLE = "snapshot-monitor"
CREDENTIALS_SECRET = "elasticsearch-exporter-credentials"
CA_SECRET = "elasticsearch-exporter-ca"
CA_KEY = "ca.crt"
CA_DIR = "/ssl"
RUNBOOKS = "docs/backup-and-restore.md"
CLUSTER_RUNBOOKS = "docs/metadata-and-logs.md"
# How late a snapshot may be before it is an alert: a snapshot of a day's indices takes minutes; the margin covers a
# slow repository and SLM's schedule jitter.
GRACE_HOURS = 2

# What the exporter calls at v1.11.0, by the collector that calls it, as endpoints of the Elasticsearch
# specification: cluster-info (cluster/provider.go and pkg/clusterinfo/clusterinfo.go, `GET /`), cluster health
# (collector/cluster_health.go, `GET /_cluster/health`), nodes (collector/nodes.go, `GET /_nodes/_local/stats`
# without `--es.all`), snapshots (collector/snapshots.go: `GET /_snapshot`, then `GET /_snapshot/<repository>/_all`).
EXPORTER_CALLS: dict[str, tuple[str, ...]] = {
    "cluster-info": ("info",),
    "cluster-health": ("cluster.health",),
    "nodes": ("nodes.stats",),
    "snapshots": ("snapshot.get_repository", "snapshot.get"),
}
# The cluster privilege each of those calls is allowed by (one of those the specification lists for it).
CLUSTER_PRIVILEGES = ("monitor", "monitor_snapshot")

# The snapshots collector's series (collector/snapshots.go at v1.11.0), labelled `repository`, and for the newest
# snapshot `state` and `version`: the start time (Unix seconds) of the newest SUCCESS or PARTIAL snapshot, 0 while
# there is none; and the start time of the newest snapshot whatever its state.
LATEST_SUCCESS = "elasticsearch_snapshot_stats_latest_snapshot_timestamp_seconds"
NEWEST_START = "elasticsearch_snapshot_stats_snapshot_start_time_timestamp"
# Whether a collector's last run succeeded, by `collector` (collector/collector.go at v1.11.0).
COLLECTOR_SUCCESS = "elasticsearch_scrape_success"
# The cluster's health colour, one series per colour, 1 for the current one (collector/cluster_health.go at
# v1.11.0), labelled `cluster` (the cluster's name) and `color`.
HEALTH_STATUS = "elasticsearch_cluster_health_status"


def role() -> dict[str, Any]:
    """The exporter's role: cluster monitoring and snapshot reads, no index, no SLM, nothing it could change."""
    return {
        "cluster": list(CLUSTER_PRIVILEGES),
        "indices": [],
        "applications": [],
        "run_as": [],
        "metadata": {"managed_by": "dataplatform", "access": "read"},
        "description": "Prometheus' Elasticsearch exporter: cluster health, node stats and the snapshot repositories.",
    }


def release(endpoint: str) -> ProductRelease:
    """The exporter's release, reading the cluster at `endpoint` (https://host:port)."""
    return ProductRelease(
        name=RELEASE,
        chart=CHART,
        layer=LAYER,
        values={
            "fullnameOverride": RELEASE,
            "replicaCount": 1,
            "image": {"registry": IMAGE_REGISTRY, "repository": IMAGE_REPOSITORY,
                      "tag": pinned_tag(f"{IMAGE_REGISTRY}/{IMAGE_REPOSITORY}", IMAGE_TAG)},
            "serviceAccount": {"create": True, "name": RELEASE, "automountServiceAccountToken": False},
            "es": {
                "uri": endpoint,
                # Only the coordinating node's stats; no index, shard, alias, settings or mapping series.
                "all": False, "indices": False, "indices_settings": False, "indices_mappings": False,
                "aliases": False, "shards": False, "cluster_settings": False, "data_stream": False, "ilm": False,
                "slm": False,
                "snapshots": True,
                "timeout": "30s",
                "sslSkipVerify": False,
                "ssl": {"enabled": True, "useExistingSecrets": True, "ca": {"path": f"{CA_DIR}/{CA_KEY}"},
                        "client": {"enabled": False}},
            },
            "secretMounts": [{"name": "elasticsearch-ca", "secretName": CA_SECRET, "path": CA_DIR}],
            "extraEnvSecrets": {"ES_USERNAME": {"secret": CREDENTIALS_SECRET, "key": "username"},
                                "ES_PASSWORD": {"secret": CREDENTIALS_SECRET, "key": "password"}},
            # The logs layer's own ServiceMonitor scrapes it (scrape_target); the chart's monitors and rules are off.
            "serviceMonitor": {"enabled": False},
            "podMonitor": {"enabled": False},
            "prometheusRule": {"enabled": False},
        },
        hardening=Hardening(resources=SMALL),
    )


def scrape_target() -> ScrapeTarget:
    """The exporter's Service port, by the chart's selector labels (templates/_helpers.tpl)."""
    return ScrapeTarget(RELEASE, LAYER, {"app.kubernetes.io/name": CHART, "app.kubernetes.io/instance": RELEASE},
                        PORT_NAME)


def endpoint(cluster_service: str, port: int) -> str:
    return f"https://{service_host(cluster_service, LAYER)}:{port}"


def snapshot_alert_rules(policies: list[SnapshotPolicy], cluster: str) -> list[AlertRule]:
    """Per SLM policy, on its own repository: no successful snapshot within the policy's interval plus GRACE_HOURS
    (or none ever, or no series to tell), and the newest snapshot failed; once for the cluster, the exporter unable to
    read the repositories at all. None without policies."""
    if not policies:
        return []
    rules = [rule for policy in policies for rule in _policy_alert_rules(policy, cluster)]
    return [*rules, AlertRule(
        "ElasticsearchSnapshotsUnreadable",
        f'max by (namespace, job) ({COLLECTOR_SUCCESS}{{namespace="{namespace_name(LAYER)}", collector="snapshots"}}) '
        "== 0",
        "The Elasticsearch exporter in {{ $labels.namespace }} cannot read the snapshot repositories (cluster "
        "unreachable, credentials refused or a privilege missing): the snapshot alerts cannot tell.",
        duration="15m", labels={"cluster": cluster}, runbooks=RUNBOOKS,
    )]


def late_hours(policy: SnapshotPolicy) -> int:
    """How old the policy's newest success may be before it is late: its own interval plus GRACE_HOURS."""
    return policy.interval_hours + GRACE_HOURS


def _policy_alert_rules(policy: SnapshotPolicy, cluster: str) -> list[AlertRule]:
    where = f'namespace="{namespace_name(LAYER)}", repository="{policy.repository}"'
    by = "max by (namespace, repository)"
    late = late_hours(policy)
    labels = {"cluster": cluster, "policy": policy.name}
    return [
        AlertRule(
            "ElasticsearchSnapshotLate",
            # A success too old; or none at all since at least `late` hours ago (0 then and now: a repository
            # younger than that waits for its first scheduled snapshot); or no series says.
            f"time() - {by} ({LATEST_SUCCESS}{{{where}}} > 0) > {late * 3600}"
            f" or ({by} ({LATEST_SUCCESS}{{{where}}} offset {late}h) == 0"
            f" and on (namespace, repository) {by} ({LATEST_SUCCESS}{{{where}}}) == 0)"
            f" or absent({LATEST_SUCCESS}{{{where}}})",
            f"Elasticsearch SLM policy {policy.name} in {{{{ $labels.namespace }}}} has no successful snapshot in its "
            f"repository {policy.repository} from the last {late} h (it runs every {policy.interval_hours} h), or "
            "no series says when its last one was.",
            duration="1h", labels=labels, runbooks=RUNBOOKS,
        ),
        AlertRule(
            "ElasticsearchSnapshotFailed",
            f'{by} ({NEWEST_START}{{{where}, state="FAILED"}}) > {by} ({LATEST_SUCCESS}{{{where}}})',
            f"The newest snapshot of Elasticsearch SLM policy {policy.name} in {{{{ $labels.namespace }}}} (repository "
            f"{policy.repository}) failed, after its last successful one.",
            duration="5m", labels=labels, runbooks=RUNBOOKS,
        ),
    ]


def cluster_alert_rules() -> list[AlertRule]:
    """A red cluster: a primary shard unassigned, so writes to its index fail and so does every snapshot of it
    (the policies do not take partial snapshots)."""
    return [
        AlertRule(
            "ElasticsearchClusterRed",
            f'max by (namespace, cluster) ({HEALTH_STATUS}{{namespace="{namespace_name(LAYER)}", color="red"}}) == 1',
            "Elasticsearch cluster {{ $labels.cluster }} in {{ $labels.namespace }} is red: a primary shard is "
            "unassigned, so log and audit writes to its index fail and so do snapshots of it.",
            duration="5m", severity="critical", runbooks=CLUSTER_RUNBOOKS,
        ),
    ]
