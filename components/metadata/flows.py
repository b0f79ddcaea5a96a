"""The metadata layer's vendor-documented flows: CloudNativePG's instances (dev) or RDS (prod), and the migrations
Job the program runs against them.

Pure data (components/kit/flows.py); components/platform.py lists it.
"""

from __future__ import annotations

from components.kit.flows import KUBERNETES_API, Endpoint, Flow, FlowTable, Outside, Port, Service, Workload
from components.metadata.config import MetadataSettings
from components.metadata.log_routes import CLUSTER_NAME

CNPG_DOCS = "https://cloudnative-pg.io/documentation/current/"
RDS = Outside("rds", "the RDS PostgreSQL instance, in the cluster's VPC")
POSTGRES_PORT = 5432

INSTANCES = Workload(
    "metadata-postgresql", "metadata", {"cnpg.io/cluster": CLUSTER_NAME, "cnpg.io/podRole": "instance"},
    # 5432 PostgreSQL, 8000 the instance manager's status endpoint, 9187 its metrics exporter.
    (Port(POSTGRES_PORT), Port(8000), Port(9187)), source=CNPG_DOCS + "labels_annotations/",
    service="postgresql",
)
MIGRATIONS = Workload(
    "metadata-migrations", "metadata", {"app.kubernetes.io/name": "metadata-migrations"},
    source="components/metadata/component.py", service="migrations", declared=True,
)


def flow_table(settings: MetadataSettings) -> FlowTable:
    """The metadata layer's pods, flows and PostgreSQL endpoint in a stack with these settings."""
    flows = [
        Flow(MIGRATIONS, Service("postgresql"), None, "applies migrations/ to the platform database",
             "components/metadata/component.py"),
    ]
    if settings.backend == "rds":
        endpoint = Endpoint("postgresql", (POSTGRES_PORT,), RDS,
                            "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ConnectToPostgreSQLInstance.html")
        return FlowTable("metadata", (MIGRATIONS,), tuple(flows), (endpoint,))
    instances = INSTANCES if settings.instances == 1 else _replicated(INSTANCES)
    flows += [
        Flow(instances, Service(KUBERNETES_API.name), None,
             "the instance manager reports status and reads its Cluster through the API",
             CNPG_DOCS + "security/"),
        Flow(instances, Service("object-store"), None, "archives WAL and base backups with barman-cloud",
             CNPG_DOCS + "backup_barmanobjectstore/"),
    ]
    if settings.instances > 1:
        flows.append(Flow(instances, instances, POSTGRES_PORT, "replicas stream WAL from the primary",
                          CNPG_DOCS + "networking/"))
    endpoint = Endpoint("postgresql", (POSTGRES_PORT,), source=CNPG_DOCS + "service_management/")
    return FlowTable("metadata", (instances, MIGRATIONS), tuple(flows), (endpoint,))


def _replicated(workload: Workload) -> Workload:
    return Workload(workload.name, workload.layer, workload.labels, workload.ports, workload.source,
                    workload.service, replicas=2)
