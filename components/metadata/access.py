"""Who may do what in the metadata PostgreSQL, derived from the catalog: pure data, no resources.

- One NOLOGIN group role per catalog role (ingestion, transformation, query_engine, bi, analyst, data_engineer);
  people and services get rights only through them.
- One LOGIN role per service a product declares (`DatabaseLogin`, collected by components/platform.py), named
  after the catalog service and member of that service's catalog role (today `airbyte` as ingestion, `dbt` as
  transformation, `dremio` as query_engine, `superset` as bi), plus `migrator`, which owns the platform database's
  schemas and runs the migrations. None is a superuser, none may create roles or databases.
- Databases: one per service that keeps its own (named and owned by it: `airbyte`, `superset`), the further ones a
  service's parts keep apart (owned by the same login: Airbyte's Temporal keeps `temporal` and
  `temporal_visibility`), and `platform` (the platform's own metadata).
- In `platform`, one schema per flow layer (bronze, silver, gold) and `platform` (the migrations' tables).
  A role that reads a layer gets USAGE and SELECT; a role that writes it also CREATE and INSERT, UPDATE,
  DELETE, TRUNCATE. Default privileges give the same to tables created later by the schema's owner
  (`migrator`), by the layer's writer groups and by their login roles (a service creates tables as the login it
  connects with), so a table that exists only after the grants is covered too.
- `platform` tables: each is written by the one role whose bookkeeping it holds (`dbt_run_history` by
  transformation: the batch records every run there, its syncs included) and read by data_engineer. The seed's
  `airbyte_state` is dropped (migrations/V003__drop_airbyte_state.sql): Airbyte keeps its connections' state itself.
- PUBLIC loses CONNECT and TEMPORARY on every database and every right on schema `public`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from infra.model.catalog import FLOW_LAYERS, Catalog

MIGRATOR = "migrator"
PLATFORM_DATABASE = "platform"
PLATFORM_SCHEMA = "platform"
READ_TABLE = ("SELECT",)
WRITE_TABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
PLATFORM_TABLE_WRITERS: dict[str, str] = {"dbt_run_history": "transformation"}
PLATFORM_TABLE_READERS: tuple[str, ...] = ("data_engineer",)
PLATFORM_TABLE_WRITE = ("SELECT", "INSERT", "UPDATE")


@dataclass(frozen=True)
class DatabaseLogin:
    """A product's login to the metadata database: the catalog service it is (its login role's name, whose group is
    the service's catalog role), whether it keeps a database of its own, named after it and owned by it, and the
    further databases it owns (created here, so the login never needs CREATEDB)."""

    service: str
    own_database: bool = False
    databases: tuple[str, ...] = ()


@dataclass(frozen=True)
class SchemaAccess:
    role: str
    schema: str
    schema_privileges: tuple[str, ...]
    table_privileges: tuple[str, ...]


@dataclass(frozen=True)
class DefaultAccess:
    role: str
    owner: str
    schema: str
    privileges: tuple[str, ...]


@dataclass(frozen=True)
class TableAccess:
    role: str
    schema: str
    tables: tuple[str, ...]
    privileges: tuple[str, ...]


@dataclass(frozen=True)
class AccessModel:
    groups: tuple[str, ...]
    logins: dict[str, tuple[str, ...]]  # login role -> groups it belongs to
    databases: dict[str, str]  # database -> owner
    schemas: tuple[str, ...]
    schema_access: tuple[SchemaAccess, ...]
    default_access: tuple[DefaultAccess, ...]
    table_access: tuple[TableAccess, ...]


def service_roles(catalog: Catalog, logins: Sequence[DatabaseLogin]) -> dict[str, str]:
    """Login -> the catalog role its service acts as; a login whose service the catalog lacks, or gives no role, is
    a programming error (infra/model/catalog.py's PLATFORM_SERVICES makes the catalog declare them)."""
    roles = {service.name: service.role for service in catalog.services}
    unknown = sorted(login.service for login in logins if roles.get(login.service) is None)
    if unknown:
        raise ValueError(f"database logins for services the catalog does not give a role: {', '.join(unknown)}")
    return {login.service: str(roles[login.service]) for login in logins}


def access_model(catalog: Catalog, logins: Sequence[DatabaseLogin]) -> AccessModel:
    groups = tuple(role.name for role in catalog.roles)
    logins_by_role = service_roles(catalog, logins)
    logins_of = {MIGRATOR: (), **{login: (group,) for login, group in logins_by_role.items()}}
    schema_access: list[SchemaAccess] = []
    default_access: list[DefaultAccess] = []
    for layer in FLOW_LAYERS:
        writers = [role.name for role in catalog.roles if layer in role.writes]
        # A table belongs to the role that creates it: the services log in as their login role and create as it
        # (Airbyte's destination, dbt), so default privileges are declared for each writer's logins as well as for
        # the group (which a member reaches with SET ROLE); otherwise readers get "permission denied for table".
        writer_logins = [login for login, groups in logins_of.items() if set(groups) & set(writers)]
        owners = (MIGRATOR, *writers, *writer_logins)
        for role in catalog.roles:
            if layer not in role.readable:
                continue
            writes = layer in role.writes
            privileges = WRITE_TABLE if writes else READ_TABLE
            schema_access.append(SchemaAccess(role.name, layer, ("USAGE", "CREATE") if writes else ("USAGE",),
                                              privileges))
            default_access.extend(DefaultAccess(role.name, owner, layer, privileges) for owner in owners
                                  if owner != role.name and role.name not in logins_of.get(owner, ()))
    platform_users = sorted({*PLATFORM_TABLE_WRITERS.values(), *PLATFORM_TABLE_READERS})
    schema_access.extend(SchemaAccess(role, PLATFORM_SCHEMA, ("USAGE",), ()) for role in platform_users)
    table_access = [
        *(TableAccess(role, PLATFORM_SCHEMA, (table,), PLATFORM_TABLE_WRITE)
          for table, role in PLATFORM_TABLE_WRITERS.items()),
        *(TableAccess(role, PLATFORM_SCHEMA, tuple(PLATFORM_TABLE_WRITERS), READ_TABLE)
          for role in PLATFORM_TABLE_READERS),
    ]
    return AccessModel(
        groups=groups,
        logins=logins_of,
        databases={**{login.service: login.service for login in logins if login.own_database},
                   **{database: login.service for login in logins for database in login.databases},
                   PLATFORM_DATABASE: MIGRATOR},
        schemas=(*FLOW_LAYERS, PLATFORM_SCHEMA),
        schema_access=tuple(schema_access),
        default_access=tuple(default_access),
        table_access=tuple(table_access),
    )
