"""The storage layer's vendor-documented flows: MinIO in dev (the runtime releases it), S3 outside the cluster in
prod; where the object store is reached in each.

Pure data (components/kit/flows.py); components/platform.py lists it.
"""

from __future__ import annotations

from components.kit.flows import Endpoint, Flow, FlowTable, Outside, Port, Service, Workload, chart_source
from components.storage.config import StorageConfig

MINIO_CHART = ("minio/minio", "43a740296855", "helm/minio/templates/deployment.yaml")  # "update helm release v5.4.0"
MINIO_PORT = 9000
S3 = Outside("s3", "Amazon S3's regional endpoint")
S3_PORT = 443

MINIO = Workload(
    "minio", "storage", {"app": "minio", "release": "minio"},
    # The API (served over TLS) and the console port the chart always declares (the browser is switched off).
    (Port(MINIO_PORT), Port(9001)), source=chart_source(*MINIO_CHART), service="object-store",
)


def flow_table(config: StorageConfig) -> FlowTable:
    """The storage layer's pods, flows and object-store endpoint in a stack with this config."""
    if config.backend != "minio":
        endpoint = Endpoint("object-store", (S3_PORT,), S3, "https://docs.aws.amazon.com/general/latest/gr/s3.html")
        return FlowTable("storage", endpoints=(endpoint,))
    flows = (
        Flow(MINIO, Service("log-shipper"), 8443, "posts every S3 call to the shipper's audit webhook",
             chart_source("minio/minio", "43a740296855", "docs/logging/README.md")),
        Flow(Service("prometheus"), MINIO, MINIO_PORT, "the runtime's ServiceMonitor scrapes /minio/v2/metrics/cluster",
             chart_source("minio/minio", "43a740296855", "docs/metrics/prometheus/README.md")),
    )
    endpoint = Endpoint("object-store", (MINIO_PORT,), source=chart_source(*MINIO_CHART))
    return FlowTable("storage", (MINIO,), flows, (endpoint,))
