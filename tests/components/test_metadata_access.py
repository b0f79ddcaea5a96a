"""The metadata database's recorded roles, schemas, grants and default privileges, applied to a real PostgreSQL 15
with pgaudit, give each role exactly the catalog's rights, and the migrations are idempotent."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors

from components.metadata.access import MIGRATOR
from infra.migrations import apply as apply_migrations
from infra.model.catalog import load_catalog
from tests.support.pg_translate import apply_recording
from tests.support.postgres import PostgresServer
from tests.support.recordings import record_metadata

pytestmark = pytest.mark.integration

PGAUDIT = {"shared_preload_libraries": "pgaudit", "pgaudit.log": "ddl,role,write", "pgaudit.log_catalog": "off",
           "log_destination": "stderr"}


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with PostgresServer.start(settings=PGAUDIT) as started:
        yield started


@pytest.fixture(scope="module")
def applied(server):
    recording = record_metadata("dev")
    migrated: list[list[str]] = []
    log = apply_recording(server, recording,
                          before_grants=lambda: migrated.append(apply_migrations(server.dsn("platform", MIGRATOR))))
    with psycopg.connect(server.dsn("platform", MIGRATOR), autocommit=True) as conn:
        # Tables the layers' writers create after the grants: default privileges must cover them.
        for layer in ("bronze", "silver", "gold"):
            conn.execute(f"CREATE TABLE {layer}.orders (id int PRIMARY KEY, amount numeric)")
            conn.execute(f"INSERT INTO {layer}.orders VALUES (1, 10)")
    return {"recording": recording, "log": log, "migrated": migrated[0]}


def as_role(server: PostgresServer, role: str, statement: str, login: bool = False) -> list[tuple]:
    """Run one statement as `role`: logged in when it can log in, else through SET ROLE from a superuser."""
    dsn = server.dsn("platform", role if login else "postgres")
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not login:
            conn.execute(f"SET ROLE {role}")
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


def denied(server: PostgresServer, role: str, statement: str, login: bool = False) -> bool:
    try:
        as_role(server, role, statement, login)
    except errors.InsufficientPrivilege:
        return True
    return False


def test_migrations_ran_as_the_owner_role(server, applied):
    assert applied["migrated"] == ["V001__airbyte_state.sql", "V002__dbt_run_history.sql",
                                   "V003__drop_airbyte_state.sql"]
    owners = as_role(server, "postgres", "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'platform' "
                     "ORDER BY 1")
    assert owners == [("dbt_run_history", MIGRATOR), ("schema_migrations", MIGRATOR)]


def test_the_analyst_reads_marts_created_later_and_cannot_write(server, applied):
    assert as_role(server, "analyst", "SELECT amount FROM gold.orders") == [(10,)]
    assert denied(server, "analyst", "INSERT INTO gold.orders VALUES (2, 1)")
    assert denied(server, "analyst", "CREATE TABLE gold.mine (id int)")
    assert denied(server, "analyst", "SELECT * FROM bronze.orders")
    assert denied(server, "analyst", "SELECT * FROM silver.orders")


def test_ingestion_writes_only_bronze(server, applied):
    as_role(server, "airbyte", "INSERT INTO bronze.orders VALUES (2, 5)", login=True)
    as_role(server, "airbyte", "CREATE TABLE bronze.new_stream (id int)", login=True)
    for statement in ("INSERT INTO silver.orders VALUES (3, 1)", "INSERT INTO gold.orders VALUES (3, 1)",
                      "CREATE TABLE silver.x (id int)", "SELECT * FROM gold.orders",
                      "INSERT INTO platform.dbt_run_history (run_id) VALUES (gen_random_uuid())"):
        assert denied(server, "airbyte", statement, login=True), statement


def test_transformation_reads_bronze_and_builds_silver_and_gold(server, applied):
    assert as_role(server, "dbt", "SELECT count(*) FROM bronze.orders", login=True)[0][0] >= 1
    as_role(server, "dbt", "INSERT INTO gold.orders VALUES (4, 2)", login=True)
    assert denied(server, "dbt", "INSERT INTO bronze.orders VALUES (5, 1)", login=True)
    # dbt builds as its group role, so the analyst can read what it creates.
    with psycopg.connect(server.dsn("platform", "dbt"), autocommit=True) as conn:
        conn.execute("SET ROLE transformation")
        conn.execute("CREATE TABLE gold.daily_revenue AS SELECT 1 AS revenue")
    assert as_role(server, "analyst", "SELECT revenue FROM gold.daily_revenue") == [(1,)]


def test_tables_a_service_login_creates_are_usable_by_the_other_services(server, applied):
    """Services create tables as the login they connect with, not as their group: the default privileges cover
    the logins too, or the layer's readers get "permission denied for table"."""
    as_role(server, "airbyte", "CREATE TABLE bronze.stream_by_login (id int)", login=True)
    as_role(server, "airbyte", "INSERT INTO bronze.stream_by_login VALUES (7)", login=True)
    assert as_role(server, "dbt", "SELECT id FROM bronze.stream_by_login", login=True) == [(7,)]
    assert as_role(server, "dremio", "SELECT id FROM bronze.stream_by_login", login=True) == [(7,)]
    as_role(server, "dbt", "CREATE TABLE gold.mart_by_login AS SELECT 3 AS revenue", login=True)
    assert as_role(server, "superset", "SELECT revenue FROM gold.mart_by_login", login=True) == [(3,)]
    assert as_role(server, "analyst", "SELECT revenue FROM gold.mart_by_login") == [(3,)]
    assert denied(server, "analyst", "UPDATE gold.mart_by_login SET revenue = 4")


def test_every_catalog_role_matches_the_read_write_matrix(server, applied):
    catalog = load_catalog()
    for role in catalog.roles:
        for layer in ("bronze", "silver", "gold"):
            can_read = not denied(server, role.name, f"SELECT 1 FROM {layer}.orders LIMIT 1")
            can_write = not denied(server, role.name, f"UPDATE {layer}.orders SET amount = amount WHERE id = 1")
            assert (can_read, can_write) == (layer in role.readable, layer in role.writes), (role.name, layer)


def test_no_role_but_the_bootstrap_admin_is_superuser_and_public_has_nothing(server, applied):
    supers = as_role(server, "postgres", "SELECT rolname FROM pg_roles WHERE rolsuper")
    assert supers == [("postgres",)]
    managed = {r.input("name") for r in applied["recording"].of_type("postgresql:index/role:Role")}
    creators = as_role(server, "postgres", "SELECT rolname FROM pg_roles WHERE rolcreaterole OR rolcreatedb "
                       "OR rolbypassrls OR rolreplication")
    assert managed.isdisjoint(name for (name,) in creators)
    as_role(server, "postgres", "CREATE ROLE outsider LOGIN")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(server.dsn("platform", "outsider")).close()
    rights = as_role(server, "postgres", "SELECT has_schema_privilege('public', 'public', 'CREATE'), "
                     "has_schema_privilege('public', 'public', 'USAGE'), "
                     "has_database_privilege('public', 'platform', 'TEMPORARY')")
    assert rights == [(False, False, False)]


def test_pgaudit_logs_ddl(server, applied):
    as_role(server, MIGRATOR, "CREATE TABLE gold.audited_example (id int)", login=True)
    log = (server.data_dir / "server.log").read_text()
    assert "AUDIT: SESSION," in log and ",DDL,CREATE TABLE,TABLE,gold.audited_example," in log


def test_applying_the_migrations_twice_changes_nothing(server, applied):
    def snapshot() -> list[tuple]:
        return as_role(server, "postgres",
                       "SELECT table_name, column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema = 'platform' ORDER BY 1, 2")

    before = snapshot()
    assert apply_migrations(server.dsn("platform", MIGRATOR)) == []
    assert snapshot() == before
