"""A real Superset server for tests, from PyPI, in its own virtualenv (`.venv-superset`), with SQLite metadata.

    with SupersetServer.start(tmp_path) as server:
        server.url, server.admin                   # http://127.0.0.1:PORT, ("admin", "...")

`ensure_venv()` creates the virtualenv from tests/support/superset-requirements.txt once; a stamp holding the
file's hash makes it idempotent (a changed pin rebuilds it). `make superset-setup` (tests/support/superset.mk)
runs the same step ahead of the tests. The server runs with CSRF on and the security API exposed, as the
platform's configuration does; Talisman stays off only because the test server speaks plain http on loopback.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.postgres import free_port
from tests.support.tls import TestPki

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).with_name("superset-requirements.txt")
VENV = ROOT / ".venv-superset"
STAMP = VENV / ".installed"
ADMIN = ("admin", "admin-password-for-tests")
READY_SECONDS = 90

CONFIG = """
SECRET_KEY = {secret!r}
SQLALCHEMY_DATABASE_URI = "sqlite:///{folder}/superset.db"
FAB_ADD_SECURITY_API = True
WTF_CSRF_ENABLED = True
TALISMAN_ENABLED = False
PREVENT_UNSAFE_DB_CONNECTIONS = False
"""


class SupersetUnavailableError(RuntimeError):
    """The Superset virtualenv could not be built (no package index?)."""


def ensure_venv() -> Path:
    """The virtualenv's `superset` executable, creating the virtualenv when the stamp is missing or stale."""
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return VENV / "bin" / "superset"
    if VENV.exists():
        shutil.rmtree(VENV)
    steps = [[sys.executable, "-m", "venv", str(VENV)],
             [str(VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "-r", str(REQUIREMENTS)]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            raise SupersetUnavailableError(f"{' '.join(step)} failed:\n{result.stderr[-2000:]}")
    STAMP.write_text(wanted)
    return VENV / "bin" / "superset"


@dataclass
class SupersetServer:
    url: str
    admin: tuple[str, str]
    folder: Path
    ca_pem: str | None = None
    """The CA its certificate chains to, when it serves https."""

    @classmethod
    @contextmanager
    def start(cls, folder: Path, pki: TestPki | None = None) -> Iterator[SupersetServer]:
        """With `pki`, serve https with its certificate (Flask's `--cert`/`--key`), as the platform's Superset does."""
        superset = ensure_venv()
        (folder / "superset_config.py").write_text(CONFIG.format(secret=os.urandom(24).hex(), folder=folder))
        env = {**os.environ, "SUPERSET_CONFIG_PATH": str(folder / "superset_config.py"), "FLASK_APP": "superset",
               "SUPERSET_HOME": str(folder)}
        for args in (["db", "upgrade"],
                     ["fab", "create-admin", "--username", ADMIN[0], "--password", ADMIN[1], "--firstname", "A",
                      "--lastname", "Dmin", "--email", "admin@example.com"],
                     ["init"]):
            result = subprocess.run([str(superset), *args], env=env, capture_output=True, text=True, cwd=folder)
            if result.returncode != 0:
                raise RuntimeError(f"superset {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        port = free_port()
        log = (folder / "server.log").open("w")
        served = ["--cert", str(pki.cert_file), "--key", str(pki.key_file)] if pki else []
        process = subprocess.Popen([str(superset), "run", "-h", "127.0.0.1", "-p", str(port), "--with-threads",
                                    *served], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
        scheme = "https" if pki else "http"
        server = cls(url=f"{scheme}://127.0.0.1:{port}", admin=ADMIN, folder=folder, ca_pem=pki.ca_pem if pki else None)
        try:
            server._wait(process)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()

    def _verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cadata=self.ca_pem) if self.ca_pem else True

    def _wait(self, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"superset exited: {(self.folder / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2, verify=self._verify()).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"superset not ready after {READY_SECONDS} s")
