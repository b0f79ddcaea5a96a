"""Who may do what in the metadata PostgreSQL, derived from the catalog: pure data, no resources.

- One NOLOGIN group role per catalog role (ingestion, transformation, query_engine, bi, analyst, data_engineer);
  people and services get rights only through them.
- One LOGIN role per service, member of its group: `airbyte` (ingestion), `dbt` (transformation), `dremio`
  (query_engine), `superset` (bi), plus `migrator`, which owns the platform database's schemas and runs the
  migrations. None is a superuser, none may create roles or databases.
- Databases: `airbyte` and `superset` (owned by their service), `platform` (the platform's own metadata).
- In `platform`, one schema per flow layer (bronze, silver, gold) and `platform` (the migrations' tables).
  A role that reads a layer gets USAGE and SELECT; a role that writes it also CREATE and INSERT, UPDATE,
  DELETE, TRUNCATE. Default privileges give the same to tables created later by the schema's owner
  (`migrator`) and by the layer's writers, so a table that exists only after the grants is covered too.
- `platform` tables: each is written by the one role whose bookkeeping it holds (`airbyte_state` by ingestion,
  `dbt_run_history` by transformation) and read by data_engineer.
- PUBLIC loses CONNECT and TEMPORARY on every database and every right on schema `public`.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.model.catalog import FLOW_LAYERS, Catalog

MIGRATOR = "migrator"
PLATFORM_DATABASE = "platform"
PLATFORM_SCHEMA = "platform"
SERVICE_LOGINS: dict[str, str] = {"airbyte": "ingestion", "dbt": "transformation", "dremio": "query_engine",
                                  "superset": "bi"}
SERVICE_DATABASES: dict[str, str] = {"airbyte": "airbyte", "superset": "superset"}
READ_TABLE = ("SELECT",)
WRITE_TABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
PLATFORM_TABLE_WRITERS: dict[str, str] = {"airbyte_state": "ingestion", "dbt_run_history": "transformation"}
PLATFORM_TABLE_READERS: tuple[str, ...] = ("data_engineer",)
PLATFORM_TABLE_WRITE = ("SELECT", "INSERT", "UPDATE")


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


def access_model(catalog: Catalog) -> AccessModel:
    groups = tuple(role.name for role in catalog.roles)
    missing = sorted(set(SERVICE_LOGINS.values()) - set(groups))
    if missing:
        raise ValueError(f"the catalog lacks roles the metadata database grants to: {', '.join(missing)}")
    logins = {MIGRATOR: (), **{login: (group,) for login, group in SERVICE_LOGINS.items()}}
    schema_access: list[SchemaAccess] = []
    default_access: list[DefaultAccess] = []
    for layer in FLOW_LAYERS:
        writers = [role.name for role in catalog.roles if layer in role.writes]
        owners = (MIGRATOR, *writers)
        for role in catalog.roles:
            if layer not in role.readable:
                continue
            writes = layer in role.writes
            privileges = WRITE_TABLE if writes else READ_TABLE
            schema_access.append(SchemaAccess(role.name, layer, ("USAGE", "CREATE") if writes else ("USAGE",),
                                              privileges))
            default_access.extend(DefaultAccess(role.name, owner, layer, privileges)
                                  for owner in owners if owner != role.name)
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
        logins=logins,
        databases={**{database: login for login, database in SERVICE_DATABASES.items()},
                   PLATFORM_DATABASE: MIGRATOR},
        schemas=(*FLOW_LAYERS, PLATFORM_SCHEMA),
        schema_access=tuple(schema_access),
        default_access=tuple(default_access),
        table_access=tuple(table_access),
    )
