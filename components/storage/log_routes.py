"""What the object store ships to the logs layer: MinIO's audit events (one per S3 call), into the audit trail.

MinIO posts them to the shipper's webhook input, https://<fluent-bit>:8443/<MINIO_AUDIT_TAG> (the URL path is the
tag; the runtime's MinIO release points its audit webhook there). S3 in prod writes server access logs to the
`access-logs` bucket instead.
"""

from __future__ import annotations

from components.logs import shipping
from infra.model.naming import MINIO_AUDIT_TAG

ROUTE = shipping.audit_route(MINIO_AUDIT_TAG)

LOG_SOURCE = shipping.LogSource(
    name="storage",
    parsers=(shipping.ISO8601_TIME,),
    routes=(ROUTE,),
    filters=(
        shipping.parse(MINIO_AUDIT_TAG, "time", shipping.ISO8601_TIME),
        shipping.lift(MINIO_AUDIT_TAG, "api", "api_"),
        shipping.modify(MINIO_AUDIT_TAG, {"accessKey": "actor", "api_name": "action", "api_bucket": "bucket",
                                          "api_object": "object", "api_statusCode": "status_code",
                                          "remotehost": "remote_address"}, {"source": "minio", "class": "S3"}),
        shipping.allow(ROUTE),
    ),
)
