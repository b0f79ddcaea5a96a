"""A throwaway PostgreSQL server for tests: initdb into a temporary folder, start on a free port, stop at the end.

    with PostgresServer.start(settings={"shared_preload_libraries": "pgaudit"}) as server:
        server.dsn("postgres")                      # postgresql://postgres@127.0.0.1:PORT/postgres
        server.create_database("metadata")

initdb refuses to run as root, so when the tests run as root the cluster belongs to the `postgres` system
user (its folder is chowned to it) and the server binaries run through `runuser`. Connections use trust
authentication over 127.0.0.1 and the socket in the data folder. Set POSTGRES_BIN to use another install.
Without the server (or pgaudit, when preloaded) the calling test skips through tests/support/system.py.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.system import postgres_bin_dir, require

SUPERUSER = "postgres"


def find_bin_dir() -> Path:
    """The folder holding initdb/pg_ctl; skips the calling test (fails it under CI=true) when there is none."""
    require("postgresql")
    bin_dir = postgres_bin_dir()
    assert bin_dir is not None
    return bin_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    data_dir: Path
    port: int
    bin_dir: Path
    host: str = "127.0.0.1"

    def dsn(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql and return its unaligned output (handy where no driver is installed)."""
        result = subprocess.run([str(self.bin_dir / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                 "-d", self.dsn(database), "-c", sql], capture_output=True, text=True, check=True)
        return result.stdout.strip()

    def create_database(self, name: str) -> str:
        """Create a database (if absent) and return its DSN."""
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if not exists:
            self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        _as_owner([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"],
                  check=False)

    @classmethod
    @contextmanager
    def start(cls, settings: dict[str, str] | None = None, base_dir: Path | None = None):
        """Init and start a server; stop it and delete its files when the block ends.

        Skips the calling test when the server, or a library `settings` preloads (pgaudit), is not installed.
        """
        bin_dir = find_bin_dir()
        if "pgaudit" in (settings or {}).get("shared_preload_libraries", ""):
            require("pgaudit")
        root = Path(tempfile.mkdtemp(prefix="pgtest-", dir=base_dir))
        data_dir = root / "data"
        data_dir.mkdir()
        root.chmod(0o755)
        _chown_to_owner(data_dir)
        port = free_port()
        server = cls(data_dir=data_dir, port=port, bin_dir=bin_dir)
        try:
            _as_owner([str(bin_dir / "initdb"), "-D", str(data_dir), "--auth=trust", f"--username={SUPERUSER}",
                       "--encoding=UTF8", "--locale=C.UTF-8"])
            server._pg_start(settings)
            yield server
        finally:
            server.stop()
            shutil.rmtree(root, ignore_errors=True)

    @classmethod
    @contextmanager
    def serve(cls, data_dir: Path, settings: dict[str, str] | None = None):
        """Start a server on a data folder that exists already (a restored backup), on a free port; stop it when
        the block ends. The folder stays: it is the caller's. `data_dir` is handed to the server's user."""
        server = cls(data_dir=data_dir, port=free_port(), bin_dir=find_bin_dir())
        data_dir.chmod(0o700)
        if _running_as_root():
            subprocess.run(["chown", "-R", f"{SUPERUSER}:{SUPERUSER}", str(data_dir)], check=True)
        try:
            server._pg_start(settings)
            yield server
        finally:
            server.stop()

    def _pg_start(self, settings: dict[str, str] | None) -> None:
        options = {"port": str(self.port), "listen_addresses": "127.0.0.1",
                   "unix_socket_directories": str(self.data_dir), "fsync": "off", "synchronous_commit": "off",
                   "full_page_writes": "off", **(settings or {})}
        rendered = " ".join(f"-c {key}={_quote(value)}" for key, value in options.items())
        _as_owner([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.data_dir / "server.log"),
                   "-o", rendered, "-w", "-t", "60", "start"])


@contextmanager
def tls_settings(pki) -> Iterator[tuple[dict[str, str], Path]]:
    """Server settings for `PostgresServer.start` that turn TLS on with the test PKI's certificate and key (copied
    where the server's owner may read them, mode 0600), and the folder holding them (removed afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="pgtls-"))
    folder.chmod(0o755)
    try:
        for source, name in ((pki.cert_file, "server.pem"), (pki.key_file, "server.key")):
            shutil.copy(source, folder / name)
            (folder / name).chmod(0o600)
            if os.geteuid() == 0:
                shutil.chown(folder / name, user="postgres", group="postgres")
        yield {"ssl": "on", "ssl_cert_file": str(folder / "server.pem"),
               "ssl_key_file": str(folder / "server.key")}, folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _quote(value: str) -> str:
    return f"'{value}'" if any(ch in value for ch in " ,") else value


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _chown_to_owner(path: Path) -> None:
    if _running_as_root():
        shutil.chown(path, user=SUPERUSER, group=SUPERUSER)


def _as_owner(command: list[str], check: bool = True) -> subprocess.CompletedProcess:
    if _running_as_root():
        command = ["runuser", "-u", SUPERUSER, "--", *command]
    result = subprocess.run(command, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result
