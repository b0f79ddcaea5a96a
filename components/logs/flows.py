"""The logs layer's vendor-documented flows: the ECK-managed Elasticsearch nodes, the Fluent Bit shipper (the runtime
releases it; its pipeline is components/logs/shipping.py) and the snapshot exporter (components/logs/exporter.py).

Pure data (components/kit/flows.py); components/platform.py lists it.
"""

from __future__ import annotations

from components.kit.flows import AWS_APIS, KUBERNETES_API, Flow, FlowTable, Port, Service, Workload, chart_source
from components.logs import exporter
from components.logs.config import LogsSettings
from components.logs.shipping import AUDIT_PORT, ELASTICSEARCH_PORT, LOG_METRICS_PORT

CLUSTER = "logs"  # the Elasticsearch resource's name (components/logs/component.py CLUSTER_NAME)
METRICS_PORT = 2020
FLUENT_BIT_DOCS = "https://docs.fluentbit.io/manual/"
SNAPSHOT_DOCS = "https://www.elastic.co/docs/deploy-manage/tools/snapshot-and-restore/"
_ECK = "elastic/cloud-on-k8s"


def _eck(path: str) -> str:
    return chart_source(_ECK, "v3.5.0", path)


FLUENT_BIT = Workload(
    "fluent-bit", "logs", {"app.kubernetes.io/name": "fluent-bit", "app.kubernetes.io/instance": "fluent-bit"},
    # The chart's `http` port (`metricsPort`) and the runtime's `extraPorts`: MinIO's audit webhook, log metrics.
    (Port(METRICS_PORT), Port(AUDIT_PORT), Port(LOG_METRICS_PORT)),
    source=chart_source("fluent/helm-charts", "fluent-bit-0.58.1", "charts/fluent-bit/templates/_pod.tpl"),
    service="log-shipper",
)

EXPORTER_DOCS = "https://github.com/prometheus-community/elasticsearch_exporter/blob/v1.11.0/README.md"
EXPORTER = Workload(
    "elasticsearch-exporter", "logs",
    {"app.kubernetes.io/name": exporter.CHART, "app.kubernetes.io/instance": exporter.RELEASE},
    (Port(exporter.PORT),),
    source=chart_source("prometheus-community/helm-charts", "prometheus-elasticsearch-exporter-7.4.0",
                        "charts/prometheus-elasticsearch-exporter/templates/deployment.yaml"),
)


def nodes(settings: LogsSettings) -> tuple[Workload, ...]:
    """One workload per ECK node set, labelled as ECK labels its pods."""
    return tuple(
        Workload(
            f"elasticsearch-{node_set.name}", "logs",
            {"common.k8s.elastic.co/type": "elasticsearch", "elasticsearch.k8s.elastic.co/cluster-name": CLUSTER,
             "elasticsearch.k8s.elastic.co/statefulset-name": f"{CLUSTER}-es-{node_set.name}"},
            (Port(ELASTICSEARCH_PORT), Port(9300)),
            source=_eck("pkg/controller/elasticsearch/label/label.go"), service="elasticsearch",
            replicas=min(node_set.count, 2),
        )
        for node_set in settings.node_sets
    )


def flow_table(settings: LogsSettings, web_identity: bool = False, lake_logs: bool = False) -> FlowTable:
    """The logs layer's pods and flows in a stack with these settings; `web_identity`: the nodes get their
    snapshot credentials from AWS STS (S3, IRSA) rather than from their keystore (MinIO); `lake_logs`: the shipper
    also writes the lake's `logs` layer (components/logs/lake.py), with the same kind of credentials."""
    elasticsearch = nodes(settings)
    flows = [
        Flow(FLUENT_BIT, Service(KUBERNETES_API.name), None, "the kubernetes filter reads every record's pod metadata",
             FLUENT_BIT_DOCS + "pipeline/filters/kubernetes"),
        Flow(FLUENT_BIT, Service("elasticsearch"), ELASTICSEARCH_PORT, "ships logs and audit events",
             FLUENT_BIT_DOCS + "pipeline/outputs/elasticsearch"),
        Flow(Service("prometheus"), FLUENT_BIT, METRICS_PORT, "the runtime's ServiceMonitor scrapes the shipper",
             FLUENT_BIT_DOCS + "administration/monitoring"),
        Flow(Service("prometheus"), FLUENT_BIT, LOG_METRICS_PORT, "scrapes the series derived from logs",
             FLUENT_BIT_DOCS + "pipeline/outputs/prometheus-exporter"),
        Flow(EXPORTER, Service("elasticsearch"), ELASTICSEARCH_PORT,
             "reads cluster health, node stats and the snapshot repositories over TLS", EXPORTER_DOCS),
        Flow(Service("prometheus"), EXPORTER, exporter.PORT, "the logs layer's ServiceMonitor scrapes the exporter",
             EXPORTER_DOCS),
    ]
    if lake_logs:
        flows.append(Flow(FLUENT_BIT, Service("object-store"), None,
                          "writes the platform's logs to the lake's logs layer (s3 output, PutObject)",
                          FLUENT_BIT_DOCS + "pipeline/outputs/s3"))
        if web_identity:
            flows.append(Flow(FLUENT_BIT, AWS_APIS, 443,
                              "exchanges its service account token for the lake log writer's credentials at AWS STS",
                              FLUENT_BIT_DOCS + "pipeline/outputs/s3"))
    # Every master-eligible and data node writes snapshot files and reads them back (the repository's
    # verification on creation, snapshots, restores): to MinIO in dev, to S3 in prod.
    for workload in elasticsearch:
        flows.append(Flow(workload, Service("object-store"), None,
                          "writes snapshots to the backups bucket through the S3 repository",
                          SNAPSHOT_DOCS + "s3-repository"))
        if web_identity:
            flows.append(Flow(workload, AWS_APIS, 443,
                              "exchanges its service account token for the snapshot role's credentials at AWS STS",
                              SNAPSHOT_DOCS + "s3-repository"))
    if sum(node_set.count for node_set in settings.node_sets) > 1:
        flows.append(Flow(Service("elasticsearch"), Service("elasticsearch"), 9300,
                          "nodes form the cluster over the transport protocol",
                          _eck("pkg/controller/elasticsearch/network/ports.go")))
    return FlowTable("logs", (FLUENT_BIT, EXPORTER, *elasticsearch), tuple(flows))
