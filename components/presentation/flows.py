"""The presentation layer's vendor-documented flows: Superset's web, worker and init pods, and the Valkey the
runtime runs for it (components/presentation/cache.py).

Pure data (components/kit/flows.py); components/platform.py lists it.
"""

from __future__ import annotations

from components.kit.flows import Flow, FlowTable, Port, Service, Workload, chart_source
from components.presentation import cache
from components.presentation.spec import LAYER, RELEASE
from infra.model.naming import SUPERSET_PORT

FLIGHT_PORT = 32010  # Dremio's Arrow Flight endpoint, Superset's `dremio+flight` database
SUPERSET_CHART = "apache/superset"
SUPERSET_DOCS = "https://superset.apache.org/docs/"
VALKEY_DOCS = "https://valkey.io/topics/replication/"


def _superset(commit: str, template: str) -> str:
    return chart_source(SUPERSET_CHART, commit, f"helm/superset/templates/{template}")


WEB = Workload("superset", LAYER, {"app": RELEASE, "release": RELEASE}, (Port(SUPERSET_PORT),),
               source=_superset("392583800dc4", "deployment.yaml"), service="superset")
WORKER = Workload("superset-worker", LAYER, {"app": f"{RELEASE}-worker", "release": RELEASE},
                  source=_superset("00b37d750b8e", "deployment-worker.yaml"), service="superset")
INIT = Workload("superset-init", LAYER, {"app": RELEASE, "release": RELEASE, "job": f"{RELEASE}-init-db"},
                source=_superset("0397710bc44e", "init-job.yaml"), service="superset")


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
        Flow(INIT, Service("postgresql"), None, "`superset db upgrade` and `superset init`", metadata),
    ]
    for pod in (WEB, WORKER):
        flows += [
            Flow(pod, Service("postgresql"), None, "keeps dashboards, users and query state", metadata),
            Flow(pod, cache_pods, cache.PORT, "caches results and passes Celery tasks",
                 SUPERSET_DOCS + "configuration/async-queries-celery"),
            Flow(pod, Service("dremio"), FLIGHT_PORT, "queries gold through Dremio's Arrow Flight endpoint",
                 SUPERSET_DOCS + "configuration/databases#dremio"),
        ]
    if replicas > 1:
        flows.append(Flow(cache_pods, cache_pods, cache.PORT, "replicas follow the primary", VALKEY_DOCS))
    return FlowTable("presentation", (WEB, WORKER, INIT, cache_pods), tuple(flows))
