"""What Airbyte ships to the logs layer: every container log of its namespace, into the job-log indices.

Time, level and message come from the line; `records_synced` and `bytes_synced` from sync summaries; `job_id` and
`connection_id` from the labels Airbyte puts on job pods; `service: airbyte`.
"""

from __future__ import annotations

from components.logs import shipping
from components.logs.spec import AIRBYTE_LOGS_FIELDS, JOB_LOGS
from infra.model.naming import namespace_name

TAG = "airbyte.job"
ROUTE = shipping.Route(TAG, JOB_LOGS, tuple(AIRBYTE_LOGS_FIELDS))
LINE = shipping.Parser("airbyte_line", {
    "Format": "regex",
    "Regex": r"^(?<time>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:[.,]\d+)?\s+(?<level>[A-Z]+)\s+(?<message>.*)$",
    "Time_Key": "time",
    "Time_Format": "%Y-%m-%d %H:%M:%S",
})
SYNC_COUNTS = shipping.Parser("airbyte_sync_counts", {
    "Format": "regex",
    "Regex": r"\"?(?:recordsSynced|records_synced)\"?\s*[:=]\s*(?<records_synced>\d+)"
    r".*?\"?(?:bytesSynced|bytes_synced)\"?\s*[:=]\s*(?<bytes_synced>\d+)",
    "Types": "records_synced:integer bytes_synced:integer",
})

LOG_SOURCE = shipping.LogSource(
    name="ingestion",
    claims=(shipping.claim(*shipping.container_of(namespace=namespace_name("ingestion")), TAG),),
    parsers=(LINE, SYNC_COUNTS),
    routes=(ROUTE,),
    filters=(
        # The line, then the counts inside sync summaries, then the job pod's labels.
        shipping.parse(TAG, "log", LINE),
        shipping.parse(TAG, "message", SYNC_COUNTS, preserve=True),
        shipping.lift(TAG, "kubernetes", "k8s_"),
        shipping.lift(TAG, "k8s_labels", "label_"),
        shipping.modify(TAG, {"label_job_id": "job_id", "label_connection_id": "connection_id"},
                        {"service": "airbyte"}),
        shipping.allow(ROUTE),
    ),
)
