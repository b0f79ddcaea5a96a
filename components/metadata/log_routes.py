"""What the metadata database ships to the logs layer: pgaudit's records, into the audit trail.

CloudNativePG's `postgres` container of the `metadata` cluster writes JSON lines; only the `pgaudit` logger's are
shipped, already split into fields by the operator.
"""

from __future__ import annotations

from components.logs import shipping

# The CloudNativePG cluster's name (its pods carry it as the `cnpg.io/cluster` label).
CLUSTER_NAME = "metadata"
LOG_TAG = "postgres.log"
AUDIT_TAG = "postgres.audit"
ROUTE = shipping.audit_route(AUDIT_TAG)
LOG_TIME = shipping.Parser("postgres_log_time", {
    "Format": "regex",
    "Regex": r"^(?<time>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+) UTC$",
    "Time_Key": "time",
    "Time_Format": "%Y-%m-%d %H:%M:%S.%L",
})

LOG_SOURCE = shipping.LogSource(
    name="metadata",
    claims=(shipping.claim(*shipping.container_of(label=("cnpg.io/cluster", CLUSTER_NAME)), LOG_TAG),),
    parsers=(shipping.JSON_LINE, LOG_TIME),
    routes=(ROUTE,),
    filters=(
        shipping.parse(LOG_TAG, "log", shipping.JSON_LINE),
        shipping.retag(LOG_TAG, f"$logger ^pgaudit$ {AUDIT_TAG} false", "pg_emitter"),
        shipping.lift(AUDIT_TAG, "record", "pg_"),
        shipping.lift(AUDIT_TAG, "pg_audit", "audit_"),
        shipping.parse(AUDIT_TAG, "pg_log_time", LOG_TIME),
        shipping.modify(AUDIT_TAG, {"pg_user_name": "actor", "pg_database_name": "database",
                                    "audit_class": "class", "audit_command": "action",
                                    "audit_object_name": "object", "audit_statement": "statement",
                                    "pg_connection_from": "remote_address"}, {"source": "postgresql"}),
        shipping.allow(ROUTE),
    ),
)
