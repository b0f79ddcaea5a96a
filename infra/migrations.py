"""Versioned SQL migrations for the platform's PostgreSQL metadata database.

Files live in `migrations/` at the repository root, named `V<NNN>__<what>.sql`, and are written to be
idempotent. `apply()` runs the pending ones in version order, each in its own transaction, and records the
version with the SHA-256 of the file in `platform.schema_migrations`. A migration already applied whose file
has changed since is refused: write a new version instead. Used by the metadata layer's migration Job, the
dbt run history and the tests; it depends on psycopg 3 only.

    python -m infra.migrations "postgresql://user@host:5432/db"    (or DSN from METADATA_DATABASE_URL;
                                                                    folder from MIGRATIONS_DIR, default migrations/)
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
_NAME = re.compile(r"^V(?P<version>[0-9]{3,})__(?P<title>[a-z0-9_]+)\.sql$")
_LEDGER = """
CREATE SCHEMA IF NOT EXISTS platform;
CREATE TABLE IF NOT EXISTS platform.schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum CHAR(64) NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""
_LOCK_KEY = 0x6D696772  # one runner at a time per database


class MigrationError(Exception):
    """A migrations folder or ledger problem that needs a person: the message says what to do."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration of the folder in version order; refuses badly named files and repeated versions."""
    if not folder.is_dir():
        raise MigrationError(f"{folder}: the migrations folder is missing")
    found: dict[int, Migration] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: name migrations V<NNN>__<lower_snake_title>.sql")
        version = int(match["version"])
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is used by {found[version].name} too")
        found[version] = Migration(version, path.name, path.read_text())
    return [found[v] for v in sorted(found)]


def apply(conninfo: str, folder: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the names applied (empty when the database is up to date)."""
    import psycopg

    migrations = discover(folder)
    applied_now: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            with conn.transaction():
                conn.execute(_LEDGER)
            ledger = {row[0]: (row[1], row[2].strip()) for row in
                      conn.execute("SELECT version, name, checksum FROM platform.schema_migrations")}
            for migration in migrations:
                if migration.version in ledger:
                    name, checksum = ledger[migration.version]
                    if checksum != migration.checksum:
                        raise MigrationError(
                            f"{migration.name}: changed after it was applied (as {name}); restore the file and "
                            "put the change in a new migration with the next version number")
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute("INSERT INTO platform.schema_migrations (version, name, checksum) "
                                 "VALUES (%s, %s, %s)", (migration.version, migration.name, migration.checksum))
                applied_now.append(migration.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    conninfo = argv[0] if argv else os.environ.get("METADATA_DATABASE_URL", "")
    if not conninfo:
        print("error: give a PostgreSQL connection string or set METADATA_DATABASE_URL", file=sys.stderr)
        return 2
    # The in-cluster Job mounts the same folder from a ConfigMap and points MIGRATIONS_DIR at it.
    folder = Path(os.environ.get("MIGRATIONS_DIR") or MIGRATIONS_DIR)
    try:
        applied = apply(conninfo, folder)
    except MigrationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(f"applied {name}" for name in applied) or "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
