"""The presentation layer's vendor-documented flows: Superset's web, worker and setup pods (the program's own
workloads, components/presentation/spec.py: their labels and ports are read from the recorded objects), and the
Valkey the runtime runs for it (components/presentation/cache.py).

Pure data (components/kit/flows.py); components/platform.py lists it.
"""

from __future__ import annotations

from components.kit.flows import Flow, FlowTable, Port, Service, Workload, chart_source
from components.presentation import cache
from components.presentation.spec import HTTP_PORT, LAYER, SETUP_JOB, WEB, WORKER, labels

FLIGHT_PORT = 32010  # Dremio's Arrow Flight endpoint, Superset's `dremio+flight` database
SPEC = "components/presentation/spec.py"
SUPERSET_DOCS = "https://superset.apache.org/docs/"
VALKEY_DOCS = "https://valkey.io/topics/replication/"


WEB_PODS = Workload(WEB, LAYER, labels("web"), (Port(HTTP_PORT),), source=SPEC, service="superset", declared=True)
WORKER_PODS = Workload(WORKER, LAYER, labels("worker"), source=SPEC, service="superset", declared=True)
SETUP = Workload(SETUP_JOB, LAYER, labels("setup"), source=SPEC, service="superset", declared=True)


def valkey(replicas: int) -> Workload:
    return Workload(
        "valkey", LAYER, {"app.kubernetes.io/name": "valkey", "app.kubernetes.io/instance": cache.NAME},
        (Port(cache.PORT),),
        source=chart_source("valkey-io/valkey-helm", "valkey-0.11.0", "valkey/templates/deploy_valkey.yaml"),
        service=cache.NAME, replicas=min(replicas, 2),
    )


def flow_table(replicas: int) -> FlowTable:
    """Superset's and Valkey's pods and flows; Valkey replicates where the stack runs more than one replica."""
    cache_pods = valkey(replicas)
    metadata = SUPERSET_DOCS + "configuration/configuring-superset#setting-up-a-production-metadata-database"
    flows = [
        Flow(SETUP, Service("postgresql"), None, "`superset db upgrade` and `superset init`", metadata),
    ]
    for pod in (WEB_PODS, WORKER_PODS):
        flows += [
            Flow(pod, Service("postgresql"), None, "keeps dashboards, users and query state", metadata),
            Flow(pod, cache_pods, cache.PORT, "caches results and passes Celery tasks",
                 SUPERSET_DOCS + "configuration/async-queries-celery"),
            Flow(pod, Service("dremio"), FLIGHT_PORT, "queries gold through Dremio's Arrow Flight endpoint",
                 SUPERSET_DOCS + "configuration/databases#dremio"),
        ]
    if replicas > 1:
        flows.append(Flow(cache_pods, cache_pods, cache.PORT, "replicas follow the primary", VALKEY_DOCS))
    return FlowTable("presentation", (WEB_PODS, WORKER_PODS, SETUP, cache_pods), tuple(flows))
