"""The PostgreSQL connection of the `postgres` target, from the same environment variables as dbt/profiles.yml."""

from __future__ import annotations

import os

from tooling.errors import UsageError


def target_conninfo() -> str:
    user = os.environ.get("DBT_PG_USER")
    if not user:
        raise UsageError("the postgres target needs DBT_PG_USER (and DBT_PG_HOST, DBT_PG_PORT, DBT_PG_DATABASE, "
                         "DBT_PG_PASSWORD as needed) in the environment")
    parts = {
        "host": os.environ.get("DBT_PG_HOST", "127.0.0.1"),
        "port": os.environ.get("DBT_PG_PORT", "5432"),
        "dbname": os.environ.get("DBT_PG_DATABASE", "dataplatform"),
        "user": user,
        "sslmode": os.environ.get("DBT_PG_SSLMODE", "prefer"),
    }
    if os.environ.get("DBT_PG_PASSWORD"):
        parts["password"] = os.environ["DBT_PG_PASSWORD"]
    return " ".join(f"{key}={value}" for key, value in parts.items())
