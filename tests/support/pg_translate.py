"""Turn recorded pulumi-postgresql resources into the SQL the provider runs, and apply it to a real server.

What pulumi-postgresql 3.x does, per resource:
- `Role`: CREATE ROLE with its attributes (NOSUPERUSER, NOCREATEDB, ... spelled out), then GRANT of each role in
  `roles` to it;
- `Database`: CREATE DATABASE ... OWNER; `Schema`: CREATE SCHEMA IF NOT EXISTS ... AUTHORIZATION owner;
  `Extension`: CREATE EXTENSION IF NOT EXISTS;
- `Grant`: revoke every privilege of that object type from the role first, then grant the listed ones (an empty
  list only revokes); `objects: []` on tables means every table of the schema; role `public` is PUBLIC;
- `DefaultPrivileges`: the same revoke-then-grant on `ALTER DEFAULT PRIVILEGES FOR ROLE <owner> IN SCHEMA`,
  so they apply to objects that `owner` creates later.
Passwords are not set (the test server trusts local connections).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from infra.offline.harness import RecordedResource, Recording
from tests.support.postgres import PostgresServer

ROLE = "postgresql:index/role:Role"
DATABASE = "postgresql:index/database:Database"
SCHEMA = "postgresql:index/schema:Schema"
EXTENSION = "postgresql:index/extension:Extension"
GRANT = "postgresql:index/grant:Grant"
DEFAULT_PRIVILEGES = "postgresql:index/defaultPrivileges:DefaultPrivileges"
OBJECT_KEYWORDS = {"table": "TABLES", "sequence": "SEQUENCES", "function": "FUNCTIONS", "type": "TYPES"}


def _grantee(role: str) -> sql.Composable:
    return sql.SQL("PUBLIC") if role == "public" else sql.Identifier(role)


def _privileges(resource: RecordedResource) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL(privilege) for privilege in resource.input("privileges", []))


def role_sql(resource: RecordedResource) -> list[sql.Composable]:
    def flag(key: str, yes: str, no: str, default: bool = False) -> str:
        return yes if resource.input(key, default) else no

    attributes = " ".join([
        flag("login", "LOGIN", "NOLOGIN"), flag("superuser", "SUPERUSER", "NOSUPERUSER"),
        flag("createDatabase", "CREATEDB", "NOCREATEDB"), flag("createRole", "CREATEROLE", "NOCREATEROLE"),
        flag("inherit", "INHERIT", "NOINHERIT", True), flag("replication", "REPLICATION", "NOREPLICATION"),
    ])
    name = sql.Identifier(resource.input("name"))
    statements: list[sql.Composable] = [sql.SQL("CREATE ROLE {} WITH " + attributes).format(name)]
    statements += [sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), name)
                   for group in resource.input("roles", [])]
    return statements


def grant_sql(resource: RecordedResource) -> list[sql.Composable]:
    object_type = resource.input("objectType")
    role = _grantee(resource.input("role"))
    schema = resource.input("schema")
    if object_type == "database":
        target = sql.SQL("DATABASE {}").format(sql.Identifier(resource.input("database")))
    elif object_type == "schema":
        target = sql.SQL("SCHEMA {}").format(sql.Identifier(schema))
    elif object_type == "table":
        objects = resource.input("objects", [])
        target = (sql.SQL("TABLE {}").format(sql.SQL(", ").join(sql.Identifier(schema, name) for name in objects))
                  if objects else sql.SQL("ALL TABLES IN SCHEMA {}").format(sql.Identifier(schema)))
    else:
        raise ValueError(f"object type {object_type} is not translated")
    statements: list[sql.Composable] = [sql.SQL("REVOKE ALL PRIVILEGES ON {} FROM {}").format(target, role)]
    if resource.input("privileges"):
        statements.append(sql.SQL("GRANT {} ON {} TO {}").format(_privileges(resource), target, role))
    return statements


def default_privileges_sql(resource: RecordedResource) -> list[sql.Composable]:
    prefix = sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {}").format(
        sql.Identifier(resource.input("owner")), sql.Identifier(resource.input("schema")))
    objects = sql.SQL(OBJECT_KEYWORDS[resource.input("objectType")])
    role = _grantee(resource.input("role"))
    return [
        sql.SQL("{} REVOKE ALL ON {} FROM {}").format(prefix, objects, role),
        sql.SQL("{} GRANT {} ON {} TO {}").format(prefix, _privileges(resource), objects, role),
    ]


def _run(server: PostgresServer, database: str, statements: list[sql.Composable], log: list[str]) -> None:
    with psycopg.connect(server.dsn(database), autocommit=True) as conn:
        for statement in statements:
            log.append(f"[{database}] {statement.as_string(conn)}")
            conn.execute(statement)


def apply_recording(server: PostgresServer, recording: Recording,
                    before_grants: Callable[[], Any] | None = None) -> list[str]:
    """Apply every pulumi-postgresql resource of the recording, in the provider's dependency order.

    `before_grants` runs after roles, databases, schemas and extensions exist (where the migrations Job runs in
    the program: grants on the tables it creates depend on it). Returns the SQL executed, for failure messages.
    """
    log: list[str] = []
    resources = list(recording)
    _run(server, "postgres", [s for r in resources if r.type == ROLE for s in role_sql(r)], log)
    _run(server, "postgres", [
        sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
            sql.Identifier(r.input("name")), sql.Identifier(r.input("owner")))
        for r in resources if r.type == DATABASE], log)
    databases = [r.input("name") for r in resources if r.type == DATABASE]
    for database in databases:
        mine = [r for r in resources if r.input("database") == database]
        _run(server, database, [
            *(sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
                sql.Identifier(r.input("name")), sql.Identifier(r.input("owner"))) for r in mine if r.type == SCHEMA),
            *(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(r.input("name")))
              for r in mine if r.type == EXTENSION),
        ], log)
    if before_grants is not None:
        before_grants()
    for database in databases:
        mine = [r for r in resources if r.input("database") == database]
        _run(server, database, [
            *(s for r in mine if r.type == GRANT for s in grant_sql(r)),
            *(s for r in mine if r.type == DEFAULT_PRIVILEGES for s in default_privileges_sql(r)),
        ], log)
    return log
