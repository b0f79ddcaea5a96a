-- The seed's airbyte_state had no writer: Airbyte keeps each connection's state (its cursor, its CDC position) in
-- its own database and answers it through its API; a copy here would be a second, older truth. What the platform
-- records of each sync is the batch's: every run's syncs (connection, job, status, rows) in
-- platform.dbt_run_history's metadata, and the job logs in airbyte-logs-*. docs/metadata-and-logs.md says so.
DROP TABLE IF EXISTS platform.airbyte_state;
