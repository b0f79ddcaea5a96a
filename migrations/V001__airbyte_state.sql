-- The platform's own schema, and Airbyte's sync state per connection (the seed's airbyte_state).
CREATE SCHEMA IF NOT EXISTS platform;

CREATE TABLE IF NOT EXISTS platform.airbyte_state (
    connection_id UUID PRIMARY KEY,
    state JSONB NOT NULL,
    updated_at TIMESTAMP DEFAULT NOW()
);

COMMENT ON TABLE platform.airbyte_state IS 'Latest sync state of each Airbyte connection.';
