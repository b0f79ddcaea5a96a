-- One row per dbt run (the seed's dbt_run_history), written by the pipeline runner and the scheduled dbt job.
CREATE SCHEMA IF NOT EXISTS platform;

CREATE TABLE IF NOT EXISTS platform.dbt_run_history (
    run_id UUID PRIMARY KEY,
    project_name VARCHAR(255),
    started_at TIMESTAMP,
    completed_at TIMESTAMP,
    status VARCHAR(50),
    models_run INTEGER,
    tests_run INTEGER,
    metadata JSONB
);

CREATE INDEX IF NOT EXISTS dbt_run_history_started_at ON platform.dbt_run_history (started_at DESC);

COMMENT ON TABLE platform.dbt_run_history IS 'One row per dbt run: timing, outcome, counts and run metadata.';
