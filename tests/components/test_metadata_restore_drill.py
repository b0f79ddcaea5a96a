"""The PostgreSQL restore drill, for real: PostgreSQL 15 archives its WAL with barman-cloud-wal-archive and takes a
base backup with barman-cloud-backup into an S3-compatible server, as the Barman Cloud plugin's sidecar does in
dev; then new servers are restored from the object store alone (barman-cloud-restore, barman-cloud-wal-restore as
restore_command) and compared row for row with what the source held:

- replayed to the end of the archive: the rows written, updated and deleted after the base backup are there, so
  the WAL was replayed, not only the base backup copied;
- replayed to a point in time: the state at that instant, and none of the later rows.

The archive's layout is the plan's: server name `metadata` (the Cluster's name, the plugin's default) under the
ObjectStore's bucket path, compressed as the ObjectStore says. docs/backup-and-restore.md walks the same steps.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from components.metadata.backups import COMPRESSION
from components.metadata.log_routes import CLUSTER_NAME
from tests.support.barman import BarmanTools, BarmanUnavailableError, ensure_venv
from tests.support.postgres import PostgresServer
from tests.support.s3 import S3Server
from tests.support.system import in_ci

# About a minute on two cores (each Barman Cloud call starts Python and boto3): `make test-slow`, run by .ci/run.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "dataplatform-dev-backups"
DESTINATION = f"s3://{BUCKET}/{CLUSTER_NAME}"
READY_SECONDS = 120


@pytest.fixture(scope="module")
def tools() -> BarmanTools:
    try:
        return ensure_venv()
    except BarmanUnavailableError as error:
        if in_ci():
            pytest.fail(f"the Barman Cloud tools are needed in CI: {error}", pytrace=False)
        pytest.skip(f"the Barman Cloud tools could not be installed: {error}")


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A folder PostgreSQL's user can enter (pytest's own temporary folders are private to the test's user)."""
    folder = Path(tempfile.mkdtemp(prefix="restore-drill-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Archive:
    """The Barman Cloud tools pointed at one S3 server, bucket path and server name."""

    def __init__(self, tools: BarmanTools, s3: S3Server) -> None:
        self.tools, self.s3 = tools, s3
        self.common = ["--endpoint-url", s3.endpoint]
        self.compression = [f"--{COMPRESSION}"]

    def shell_command(self, tool: str, *arguments: str) -> str:
        """A command line for PostgreSQL's configuration (run by its user, through the shell)."""
        credentials = " ".join(f"{key}={value}" for key, value in self.s3.environment().items())
        return " ".join(["env", credentials, self.tools.command(tool), *self.common, *arguments])

    def run(self, tool: str, *arguments: str) -> str:
        result = subprocess.run([self.tools.command(tool), *self.common, *arguments], capture_output=True, text=True,
                                env={**os.environ, **self.s3.environment()})
        assert result.returncode == 0, f"{tool} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def restore(self, destination: Path, settings: dict[str, str]) -> None:
        """The latest base backup into `destination`, set to recover from the archive with `settings`."""
        self.run("barman-cloud-restore", DESTINATION, CLUSTER_NAME, "latest", str(destination))
        restore_command = self.shell_command("barman-cloud-wal-restore", DESTINATION, CLUSTER_NAME, "%f", "%p")
        lines = [f"restore_command = '{restore_command}'",
                 *(f"{key} = '{value}'" for key, value in settings.items())]
        with (destination / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")
        (destination / "recovery.signal").touch()


def rows(server: PostgresServer) -> list[tuple]:
    with psycopg.connect(server.dsn("shop")) as connection:
        return connection.execute("SELECT id, customer, amount, note FROM orders ORDER BY id").fetchall()


def wait_promoted(server: PostgresServer) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        with psycopg.connect(server.dsn()) as connection:
            if not connection.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                return
        time.sleep(0.2)
    log = (server.data_dir / "server.log").read_text()[-4000:]
    raise AssertionError(f"the restored server was still recovering after {READY_SECONDS} s:\n{log}")


def wait_archived(connection: psycopg.Connection, segment: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        archived, failed = connection.execute(
            "SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver").fetchone()
        if archived is not None and archived >= segment:
            return
        time.sleep(0.2)
    raise AssertionError(f"{segment} was not archived (last failed: {failed})")


def write(connection: psycopg.Connection, statements: list[str]) -> None:
    with connection.transaction():
        for statement in statements:
            connection.execute(statement)


def test_a_server_restored_from_the_object_store_has_every_row_and_stops_at_a_point_in_time(tools, workdir):
    with S3Server.start() as s3:
        s3.client().create_bucket(Bucket=BUCKET)
        archive = Archive(tools, s3)
        with PostgresServer.start(settings={"archive_mode": "on", "wal_level": "replica"},
                                  base_dir=workdir) as source:
            source.create_database("shop")
            with psycopg.connect(source.dsn(), autocommit=True) as admin:
                command = archive.shell_command("barman-cloud-wal-archive", *archive.compression, DESTINATION,
                                                CLUSTER_NAME, "%p")
                admin.execute(sql.SQL("ALTER SYSTEM SET archive_command = {}").format(sql.Literal(command)))
                admin.execute("SELECT pg_reload_conf()")
            with psycopg.connect(source.dsn("shop"), autocommit=True) as shop:
                write(shop, ["CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, amount numeric(12,2),"
                             " note text)",
                             "INSERT INTO orders SELECT n, 'customer-' || (n % 97), n * 1.25, 'before the backup'"
                             " FROM generate_series(1, 2000) AS n"])
                # The base backup, as the ScheduledBackup's plugin method takes it.
                archive.run("barman-cloud-backup", *archive.compression, "--immediate-checkpoint",
                            "-h", source.host, "-p", str(source.port), "-U", "postgres", "-d", "postgres",
                            DESTINATION, CLUSTER_NAME)
                # After the backup: only the WAL archive carries these.
                write(shop, ["INSERT INTO orders SELECT n, 'customer-' || (n % 89), n * 2.5, 'after the backup'"
                             " FROM generate_series(2001, 2600) AS n",
                             "UPDATE orders SET amount = amount + 1, note = 'updated after the backup'"
                             " WHERE id % 10 = 0",
                             "DELETE FROM orders WHERE id % 25 = 1"])
                at_target = rows(source)
                target_time = shop.execute("SELECT clock_timestamp()").fetchone()[0]
                write(shop, ["INSERT INTO orders SELECT n, 'late', n, 'after the target' "
                             "FROM generate_series(2601, 2700) AS n",
                             "UPDATE orders SET note = 'changed after the target' WHERE id <= 50"])
                at_end = rows(source)
                segment = shop.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
                wait_archived(shop, segment)
        backups = archive.run("barman-cloud-backup-list", "--format", "json", DESTINATION, CLUSTER_NAME)
        assert '"status": "DONE"' in backups

        # The source is gone: each restore reads the object store only.
        latest = workdir / "latest"
        archive.restore(latest, {"recovery_target_action": "promote"})
        with PostgresServer.serve(latest, settings={"archive_mode": "off"}) as restored:
            wait_promoted(restored)
            assert rows(restored) == at_end
        # 2700 written, the 104 ids of 1..2600 that are 1 modulo 25 deleted.
        assert len(at_end) == 2596 and "changed after the target" in {row[3] for row in at_end}

        point_in_time = workdir / "point-in-time"
        archive.restore(point_in_time, {"recovery_target_time": target_time.isoformat(),
                                        "recovery_target_action": "promote"})
        with PostgresServer.serve(point_in_time, settings={"archive_mode": "off"}) as restored:
            wait_promoted(restored)
            recovered = rows(restored)
        assert recovered == at_target
        assert {row[3] for row in recovered} == {"before the backup", "after the backup", "updated after the backup"}
        assert max(row[0] for row in recovered) == 2600
