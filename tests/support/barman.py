"""The Barman Cloud tools from PyPI, in their own virtualenv (`.venv-barman`), for the PostgreSQL restore drill.

    tools = ensure_venv()                           # BarmanTools: paths of barman-cloud-* executables
    tools.command("barman-cloud-wal-archive")

PostgreSQL runs `archive_command` and `restore_command` as its own user. Under root the test servers belong to the
`postgres` system user (tests/support/postgres.py), which cannot enter root's home, where an interpreter installed
per user lives (pyenv). So the virtualenv is built from the first interpreter that PostgreSQL's user can run (this
one, else the system's `python3`), in the repository when that user can reach it, else in the temporary folder.
A stamp holding the requirements' hash and the interpreter makes it idempotent; `make barman-setup`
(tests/support/barman.mk) runs the same step ahead of the tests.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.postgres import SUPERUSER

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).with_name("barman-requirements.txt")
VENV_NAME = ".venv-barman"
SYSTEM_PYTHON = Path("/usr/bin/python3")


class BarmanUnavailableError(RuntimeError):
    """The Barman Cloud virtualenv could not be built (no package index, or no interpreter PostgreSQL can run)."""


@dataclass(frozen=True)
class BarmanTools:
    venv: Path

    def command(self, name: str) -> str:
        path = self.venv / "bin" / name
        if not path.exists():
            raise BarmanUnavailableError(f"{path} is missing: the virtualenv lacks {name}")
        return str(path)


def _server_user() -> str | None:
    """The user PostgreSQL's commands run as when it is not this process's user (root runs them as `postgres`)."""
    return SUPERUSER if os.geteuid() == 0 else None


def _runs_as_server_user(*command: str) -> bool:
    user = _server_user()
    prefix = ["runuser", "-u", user, "--"] if user else []
    return subprocess.run([*prefix, *command], capture_output=True).returncode == 0


def _interpreter() -> Path:
    candidates = [Path(sys.executable).resolve(), SYSTEM_PYTHON]
    for candidate in candidates:
        if candidate.exists() and _runs_as_server_user(str(candidate), "-c", "import venv, ensurepip"):
            return candidate
    raise BarmanUnavailableError(
        "no Python interpreter that PostgreSQL's user can run: tried " + ", ".join(map(str, candidates))
        + " (the system's needs the Debian package python3-venv)")


def _location() -> Path:
    if _runs_as_server_user("test", "-x", str(ROOT)):
        return ROOT / VENV_NAME
    return Path(tempfile.gettempdir()) / f"dataplatform{VENV_NAME}"


def ensure_venv() -> BarmanTools:
    """The virtualenv's tools, creating the virtualenv when its stamp is missing or stale."""
    interpreter = _interpreter()
    venv = _location()
    stamp = venv / ".installed"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes() + str(interpreter).encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return BarmanTools(venv)
    if venv.exists():
        shutil.rmtree(venv)
    steps = [[str(interpreter), "-m", "venv", str(venv)],
             [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              "--no-deps", "-r", str(REQUIREMENTS)]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            raise BarmanUnavailableError(f"{' '.join(step)} failed:\n{result.stderr[-2000:]}")
    tools = BarmanTools(venv)
    if not _runs_as_server_user(tools.command("barman-cloud-wal-archive"), "--version"):
        raise BarmanUnavailableError(f"PostgreSQL's user cannot run the tools in {venv}")
    stamp.write_text(wanted)
    return tools


if __name__ == "__main__":
    print(ensure_venv().venv)
