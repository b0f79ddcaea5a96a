"""The metadata layer's vendor-documented flows: CloudNativePG's instances and the Barman Cloud plugin that backs
them up (dev) or RDS (prod), and the migrations Job the program runs against them.

Pure data (components/kit/flows.py); components/platform.py lists it.
"""

from __future__ import annotations

from components.kit.flows import (
    KUBERNETES_API,
    Endpoint,
    Flow,
    FlowTable,
    Outside,
    Port,
    Service,
    Workload,
    chart_source,
)
from components.metadata.backups import PLUGIN_LAYER, PLUGIN_PORT, PLUGIN_RELEASE
from components.metadata.config import MetadataSettings
from components.metadata.log_routes import CLUSTER_NAME

CNPG_DOCS = "https://cloudnative-pg.io/documentation/current/"
PLUGIN_DOCS = "https://cloudnative-pg.io/plugin-barman-cloud/docs/"


def _plugin_chart(path: str) -> str:
    return chart_source("cloudnative-pg/charts", "plugin-barman-cloud-v0.7.0", "charts/plugin-barman-cloud/" + path)


def _plugin_source(path: str) -> str:
    return chart_source("cloudnative-pg/plugin-barman-cloud", "v0.13.0", path)

RDS = Outside("rds", "the RDS PostgreSQL instance, in the cluster's VPC")
POSTGRES_PORT = 5432

METRICS_PORT = 9187
INSTANCE_LABELS = {"cnpg.io/cluster": CLUSTER_NAME, "cnpg.io/podRole": "instance"}
# The PodMonitor the metadata layer declares for the instances' exporters (components/metadata/component.py).
INSTANCE_MONITOR = "metadata-postgresql"
INSTANCES = Workload(
    "metadata-postgresql", "metadata", INSTANCE_LABELS,
    # 5432 PostgreSQL, 8000 the instance manager's status endpoint, 9187 its metrics exporter.
    (Port(POSTGRES_PORT), Port(8000), Port(METRICS_PORT)), source=CNPG_DOCS + "labels_annotations/",
    service="postgresql",
)
# The Barman Cloud plugin's Deployment, in the operator's namespace (components/metadata/backups.py).
BACKUP_PLUGIN = Workload(
    "barman-cloud-plugin", PLUGIN_LAYER,
    {"app.kubernetes.io/name": PLUGIN_RELEASE, "app.kubernetes.io/instance": PLUGIN_RELEASE},
    (Port(PLUGIN_PORT),), source=_plugin_chart("templates/deployment.yaml"),
)
MIGRATIONS = Workload(
    "metadata-migrations", "metadata", {"app.kubernetes.io/name": "metadata-migrations"},
    source="components/metadata/component.py", service="migrations", declared=True,
)


def flow_table(settings: MetadataSettings, operator: Workload | None = None) -> FlowTable:
    """The metadata layer's pods, flows and PostgreSQL endpoint in a stack with these settings; `operator`: the
    CloudNativePG operator's pods where the stack installs the operator, and with it the backup plugin."""
    flows = [
        Flow(MIGRATIONS, Service("postgresql"), None, "applies migrations/ to the platform database",
             "components/metadata/component.py"),
    ]
    if settings.backend == "rds":
        endpoint = Endpoint("postgresql", (POSTGRES_PORT,), RDS,
                            "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ConnectToPostgreSQLInstance.html")
        return FlowTable("metadata", (MIGRATIONS,), tuple(flows), (endpoint,))
    instances = INSTANCES if settings.instances == 1 else _replicated(INSTANCES)
    workloads = [instances, MIGRATIONS]
    flows += [
        # The backup sidecar in the same pods reads its ObjectStore and the Secrets it names on this flow too.
        Flow(instances, Service(KUBERNETES_API.name), None,
             "the instance manager reports status and reads its Cluster through the API", CNPG_DOCS + "security/"),
        Flow(instances, Service("object-store"), None,
             "the Barman Cloud sidecar archives WAL and uploads base backups with barman-cloud",
             _plugin_source("internal/cnpgi/common/wal.go")),
        Flow(Service("prometheus"), instances, METRICS_PORT,
             f"the metadata layer's PodMonitor `{INSTANCE_MONITOR}` scrapes each instance's exporter",
             CNPG_DOCS + "monitoring/"),
    ]
    if settings.instances > 1:
        flows.append(Flow(instances, instances, POSTGRES_PORT, "replicas stream WAL from the primary",
                          CNPG_DOCS + "networking/"))
    if operator is not None:
        workloads.append(BACKUP_PLUGIN)
        flows += [
            Flow(BACKUP_PLUGIN, Service(KUBERNETES_API.name), None,
                 "reconciles ObjectStores and the Roles that let each cluster's pods read theirs; leader election",
                 _plugin_source("config/rbac/role.yaml")),
            Flow(operator, BACKUP_PLUGIN, PLUGIN_PORT,
                 "the operator finds the plugin by its Service and calls it over gRPC with mutual TLS",
                 _plugin_chart("templates/service.yaml")),
        ]
    endpoint = Endpoint("postgresql", (POSTGRES_PORT,), source=CNPG_DOCS + "service_management/")
    return FlowTable("metadata", tuple(workloads), tuple(flows), (endpoint,))


def _replicated(workload: Workload) -> Workload:
    return Workload(workload.name, workload.layer, workload.labels, workload.ports, workload.source,
                    workload.service, replicas=2)
