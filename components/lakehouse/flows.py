"""The lakehouse's vendor-documented flows: Dremio's coordinator and executors (ZooKeeper, fabric, the lake, the
sources they read), the batch and the backup job. All are the program's own workloads
(components/lakehouse/spec.py): the ports stated here are the spec's, and the network check holds them to the
recorded objects' container ports.

Pure data (components/kit/flows.py); components/platform.py lists it.
"""

from __future__ import annotations

from components.kit.flows import Flow, FlowTable, Port, Service, Workload
from components.lakehouse.batch import BATCH
from components.lakehouse.config import LakehouseSettings
from components.lakehouse.spec import BACKUP, FABRIC_PORT, FLIGHT_PORT, JDBC_PORT, WEB_PORT, ZOOKEEPER_PORT
from infra.model.naming import AIRBYTE_API_TLS_PORT, SUPERSET_PORT

DREMIO_DOCS = "https://docs.dremio.com/current/"
ZOOKEEPER_DOC = "https://docs.dremio.com/25.x/get-started/cluster-deployments/architecture/zookeeper"
# dremio.conf's reference: `services.fabric.port` 45678, every node's port for the others.
FABRIC_DOC = "https://docs.dremio.com/24.3.x/admin/configuration-files/"
SPEC = "components/lakehouse/spec.py"

COORDINATOR = Workload("dremio-coordinator", "lakehouse",
                       {"app.kubernetes.io/name": "dremio", "app.kubernetes.io/component": "coordinator"},
                       tuple(Port(port) for port in (FABRIC_PORT, WEB_PORT, FLIGHT_PORT, JDBC_PORT, ZOOKEEPER_PORT)),
                       source=SPEC, service="dremio", declared=True)
BATCH_WORKLOAD = Workload(BATCH, "lakehouse", {"app.kubernetes.io/name": BATCH},
                          source="components/lakehouse/component.py", service="dbt", declared=True)
BATCH_SOURCE = "components/lakehouse/batch.py"
BACKUP_WORKLOAD = Workload(BACKUP, "lakehouse", {"app.kubernetes.io/name": BACKUP},
                           source="components/lakehouse/component.py", service="dremio", declared=True)
# BackupResource.createBackup: the coordinator writes the backup itself, through its distributed store's file system.
BACKUP_SOURCE = ("https://github.com/dremio/dremio-oss/blob/c7fee0bcd44c928c0ff57481dd6a484c4caeae33/"
                 "dac/backend/src/main/java/com/dremio/dac/resource/BackupResource.java")


def executors(settings: LakehouseSettings) -> Workload:
    """The executor StatefulSet's pods (two stand-ins where executors talk to each other)."""
    return Workload("dremio-executor", "lakehouse",
                    {"app.kubernetes.io/name": "dremio", "app.kubernetes.io/component": "executor"},
                    (Port(FABRIC_PORT),), source=SPEC, service="dremio", declared=True,
                    replicas=min(settings.executors, 2))


def flow_table(settings: LakehouseSettings) -> FlowTable:
    """Dremio's, the batch's and the backup's pods and flows in a stack with these settings."""
    executor = executors(settings)
    flows = [
        Flow(executor, COORDINATOR, ZOOKEEPER_PORT, "registers with the coordinator's embedded ZooKeeper",
             ZOOKEEPER_DOC),
        Flow(executor, COORDINATOR, FABRIC_PORT, "returns query fragments' results over the fabric", FABRIC_DOC),
        Flow(COORDINATOR, executor, FABRIC_PORT, "sends query fragments over the fabric", FABRIC_DOC),
        Flow(BATCH_WORKLOAD, Service("airbyte"), AIRBYTE_API_TLS_PORT, "the syncs step starts and polls the marts' "
             "syncs through Airbyte's public API (its TLS front)", "components/lakehouse/batch_syncs.py"),
        Flow(BATCH_WORKLOAD, COORDINATOR, WEB_PORT, "dbt-dremio runs the models through the REST API; the "
             "reflections step sets refresh policies and queues refreshes", BATCH_SOURCE),
        Flow(BATCH_WORKLOAD, Service("postgresql"), None, "the dbt step records the run in platform.dbt_run_history",
             "components/lakehouse/batch_dbt.py"),
        Flow(BATCH_WORKLOAD, Service("superset"), SUPERSET_PORT, "imports the marts' asset bundle into Superset and "
             "warms its charts' cache", BATCH_SOURCE),
        Flow(BACKUP_WORKLOAD, COORDINATOR, WEB_PORT, "asks the coordinator for a backup of its KV store "
             "(POST /apiv2/login, /apiv2/backup); the coordinator writes it to the object store", BACKUP_SOURCE),
    ]
    if settings.executors > 1:
        flows.append(Flow(executor, executor, FABRIC_PORT, "executors exchange data between fragments", FABRIC_DOC))
    for node in (COORDINATOR, executor):
        flows += [
            Flow(node, Service("object-store"), None, "reads and writes the lake's layers",
                 DREMIO_DOCS + "sonar/data-sources/object/s3/"),
            Flow(node, Service("postgresql"), None, "reads the metadata database source",
                 DREMIO_DOCS + "sonar/data-sources/databases/postgres/"),
        ]
    return FlowTable("lakehouse", (COORDINATOR, executor, BATCH_WORKLOAD, BACKUP_WORKLOAD), tuple(flows))
