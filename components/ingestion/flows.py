"""The ingestion layer's vendor-documented flows: Airbyte's services talking to each other, to the API server,
the metadata database and the object store, and its job pods to the sources and the lake.

Pure data (components/kit/flows.py); components/platform.py lists it. The chart rows cite the pinned chart V2 as
airbytehq/charts packages it: `airbyte-2.1.1.tgz/airbyte/<path inside the package>`; the job pods' rows cite the
workload launcher's source in airbyte-platform's release/2.1.0.
"""

from __future__ import annotations

from urllib.parse import urlparse

from components.ingestion.config import IngestionSettings
from components.ingestion.spec import API_PORT, API_TLS_PORT, RELEASE
from components.kit.flows import KUBERNETES_API, Flow, FlowTable, Outside, Port, Service, Workload, chart_source
from infra.model.catalog import Catalog

CHART_COMMIT = "2f78bfbb9b09"  # airbytehq/charts: "chore: release airbyte/airbyte 2.1.1"
PLATFORM_COMMIT = "061b8f3c77"  # airbytehq/airbyte-platform release/2.1.0
TEMPORAL_PORT = 7233
WORKLOAD_API_PORT = 8007
SOURCE_DOCS = "https://docs.airbyte.com/integrations/sources/"
# Each kind's connector and the port it connects to when the stack config names none.
SOURCE_PORTS = {"postgres": ("postgres", 5432), "mysql": ("mysql", 3306), "mongodb": ("mongodb-v2", 27017),
                "rest_api": ("declarative-manifest", 443), "csv_files": ("s3", 443)}


def _chart(path: str) -> str:
    return chart_source("airbytehq/charts", CHART_COMMIT, f"airbyte-2.1.1.tgz/airbyte/{path}")


def _component(folder: str, ports: tuple[Port, ...] = (), template: str = "deployment.yaml") -> Workload:
    """The pods of the chart's template folder `airbyte-<name>`: V2 labels them `app.kubernetes.io/name: <name>`
    and the release (`templates/_helpers.tpl`, `airbyte.selectorLabels`)."""
    name = folder.removeprefix("airbyte-")
    return Workload(
        folder, "ingestion", {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": RELEASE},
        ports, source=_chart(f"templates/{folder}/{template}"), service="airbyte",
    )


SERVER = _component("airbyte-server", (Port(API_PORT), Port(API_TLS_PORT)))  # 8443: the program's TLS sidecar
# 9000 the heartbeat server, 9001-9030 the Temporal activity port pool the chart declares.
WORKER = _component("airbyte-worker", tuple(Port(port) for port in range(9000, 9031)))
WORKLOAD_LAUNCHER = _component("airbyte-workload-launcher", (Port(8016),))
WORKLOAD_API_SERVER = _component("airbyte-workload-api-server", (Port(WORKLOAD_API_PORT),))
CRON = _component("airbyte-cron")
BOOTLOADER = _component("airbyte-bootloader", template="pod.yaml")
TEMPORAL = _component("airbyte-temporal", (Port(TEMPORAL_PORT),))
# The pods the workload launcher creates for every check, discover and sync (one pod holds the source, the
# destination and the orchestrator); its pod sweeper finds them by this label.
JOBS = Workload(
    "airbyte-jobs", "ingestion", {"airbyte": "job-pod"},
    source=chart_source("airbytehq/airbyte-platform", PLATFORM_COMMIT,
                        "airbyte-workload-launcher/src/main/kotlin/pods/PodLabeler.kt"),
    service="airbyte",
)
# Airbyte's public connector registry and source stubs (connectors.airbyte.com), which the server and cron read.
REGISTRY = Outside("airbyte-registry", "connectors.airbyte.com, Airbyte's connector registry")
WORKLOADS = (SERVER, WORKER, WORKLOAD_LAUNCHER, WORKLOAD_API_SERVER, CRON, BOOTLOADER, TEMPORAL, JOBS)


def _internal_flows() -> list[Flow]:
    database = "https://docs.airbyte.com/platform/deploying-airbyte/integrations/database"
    storage = "https://docs.airbyte.com/platform/deploying-airbyte/integrations/storage"
    jobs = "https://docs.airbyte.com/platform/understanding-airbyte/jobs"
    api = Service(KUBERNETES_API.name)
    # Each platform pod's environment, in its template: `airbyte.database.envs` (DATABASE_URL),
    # `airbyte.temporal.envs` (TEMPORAL_HOST), `airbyte.common.envs` (INTERNAL_API_HOST, the server's Service),
    # `airbyte.workloadApiServer.envs` (WORKLOAD_API_HOST), `airbyte.storage.envs` (the object store).
    flows = [
        Flow(client, Service("postgresql"), None, "keeps its configuration and job history in the database", database)
        for client in (SERVER, WORKER, WORKLOAD_LAUNCHER, WORKLOAD_API_SERVER, CRON, BOOTLOADER)
    ]
    flows += [Flow(client, TEMPORAL, TEMPORAL_PORT, "schedules and runs workflows through Temporal", client.source)
              for client in (SERVER, WORKER, WORKLOAD_LAUNCHER, WORKLOAD_API_SERVER, CRON)]
    flows += [Flow(client, SERVER, API_PORT, "calls the internal configuration API", client.source)
              for client in (WORKER, WORKLOAD_LAUNCHER, WORKLOAD_API_SERVER, CRON)]
    flows += [Flow(client, WORKLOAD_API_SERVER, WORKLOAD_API_PORT, "claims and reports workloads", client.source)
              for client in (WORKER, WORKLOAD_LAUNCHER, CRON)]
    flows += [Flow(client, Service("object-store"), None, "reads and writes state, logs and workload output", storage)
              for client in (SERVER, WORKER, WORKLOAD_LAUNCHER)]
    flows += [
        Flow(TEMPORAL, Service("postgresql"), None,
             "Temporal keeps its workflows in its databases; its init container sets up their schema",
             TEMPORAL.source),
        Flow(BOOTLOADER, api, None, "adds the data plane's credentials to the auth Secret before the release goes on",
             chart_source("airbytehq/airbyte-platform", PLATFORM_COMMIT,
                          "airbyte-bootloader/src/main/kotlin/io/airbyte/bootloader/DataplaneInitializer.kt")),
        Flow(WORKLOAD_LAUNCHER, api, None, "creates, watches and deletes the job pods",
             chart_source("airbytehq/airbyte-platform", PLATFORM_COMMIT,
                          "airbyte-workload-launcher/src/main/kotlin/pods/KubePodLauncher.kt")),
        Flow(JOBS, SERVER, API_PORT, "the orchestrator calls the internal configuration API", jobs),
        Flow(JOBS, WORKLOAD_API_SERVER, WORKLOAD_API_PORT, "the sidecar and orchestrator report the workload", jobs),
        Flow(JOBS, Service("object-store"), None, "writes bronze and the job's state and logs", jobs),
        Flow(SERVER, REGISTRY, 443, "reads connector definitions and source stubs from the registry",
             _chart("templates/config/_connector.tpl")),
        Flow(CRON, REGISTRY, 443, "updates connector definitions from the registry (`cron.jobs.updateDefinitions`)",
             _chart("values.yaml")),
    ]
    return flows


def source_flows(catalog: Catalog, settings: IngestionSettings) -> list[Flow]:
    """The job pods' connections to each catalog source, where the stack config says it lives."""
    flows = []
    for source in catalog.sources:
        connector, default_port = SOURCE_PORTS[source.kind]
        endpoint = settings.sources.get(source.name)
        host, port = (endpoint.host, endpoint.port) if endpoint is not None else (None, None)
        if endpoint is not None and endpoint.url:
            parsed = urlparse(endpoint.url)
            host, port = parsed.hostname, parsed.port
        where = host or ("Amazon S3" if source.kind == "csv_files" else "its host")
        outside = Outside(f"source-{source.name}", f"the {source.kind} source `{source.name}` ({where})",
                          f"ingestion.sources.{source.name}.cidrs")
        flows.append(Flow(JOBS, outside, port or default_port, f"reads source `{source.name}`",
                          SOURCE_DOCS + connector))
    return flows


def flow_table(catalog: Catalog, settings: IngestionSettings) -> FlowTable:
    """Airbyte's pods and flows in a stack with these settings."""
    return FlowTable("ingestion", WORKLOADS, (*_internal_flows(), *source_flows(catalog, settings)))
