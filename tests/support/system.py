"""The system packages the tests need, listed once: `make setup` installs the missing ones, the tests skip without them.

    python -m tests.support.system install     # `make system-packages`: apt-get install what is missing (as root)
    python -m tests.support.system status      # what is present, what is missing and its Debian package

In a test, `require("pgaudit")` returns when the requirement is met; otherwise it skips the test with a message
naming the Debian package and the command that installs it. With `CI=true` in the environment (CI services set
it) a missing package fails the test instead: CI must never pass by skipping what it was meant to run.

Only the standard library is imported here (pytest only when a test calls `require`), so the setup can run this
module with the interpreter that is about to create the virtualenvs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

POSTGRES_MAJOR = "15"
"""The PostgreSQL major the platform runs (metadata.postgresVersion) and Debian bookworm's `postgresql` installs."""

CI_TRUE = {"1", "true", "yes"}


def postgres_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: POSTGRES_BIN, else the newest /usr/lib/postgresql/<major>/bin."""
    configured = os.environ.get("POSTGRES_BIN")
    candidates = [Path(configured)] if configured else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


def _postgres_major() -> str:
    bin_dir = postgres_bin_dir()
    if bin_dir is not None and bin_dir.parent.name.isdigit():
        return bin_dir.parent.name
    return POSTGRES_MAJOR


def _has_pgaudit() -> bool:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        return False
    libraries = bin_dir.parent / "lib"
    if (bin_dir / "pg_config").exists():
        answer = subprocess.run([str(bin_dir / "pg_config"), "--pkglibdir"], capture_output=True, text=True)
        if answer.returncode == 0 and answer.stdout.strip():
            libraries = Path(answer.stdout.strip())
    return (libraries / "pgaudit.so").exists()


def _has_commands(*commands: str) -> Callable[[], bool]:
    return lambda: all(shutil.which(command) for command in commands)


def _has_ensurepip() -> bool:
    try:
        import ensurepip  # noqa: F401 (Debian ships it apart, in python3-venv)
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Requirement:
    name: str
    purpose: str
    packages: Callable[[], tuple[str, ...]]
    """Debian packages that provide it (a function: pgaudit's package follows the PostgreSQL major found)."""
    present: Callable[[], bool]

    def install_command(self) -> str:
        return "apt-get install -y --no-install-recommends " + " ".join(self.packages())


# In install order: pgaudit's package name depends on the PostgreSQL server installed before it.
REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement(
        "venv",
        "Python's venv with ensurepip, for the virtualenvs `make setup` creates",
        lambda: ("python3-venv",),
        _has_ensurepip,
    ),
    Requirement(
        "postgresql",
        "a PostgreSQL server the tests start: initdb, pg_ctl, psql",
        lambda: ("postgresql",),
        lambda: postgres_bin_dir() is not None and (postgres_bin_dir() / "psql").exists(),
    ),
    Requirement(
        "pgaudit",
        "the pgaudit extension, preloaded as the platform's PostgreSQL servers preload it",
        lambda: (f"postgresql-{_postgres_major()}-pgaudit",),
        _has_pgaudit,
    ),
    Requirement(
        "openssl",
        "the openssl command that makes the tests' throwaway certificates",
        lambda: ("openssl",),
        _has_commands("openssl"),
    ),
    Requirement(
        "java",
        "java and keytool, to run Dremio's rendered truststore init containers",
        lambda: ("default-jre-headless",),
        _has_commands("java", "keytool", "csplit"),
    ),
    Requirement(
        "promtool",
        "Prometheus's promtool, which checks the plan's alert rules and runs their unit tests",
        lambda: ("prometheus",),
        _has_commands("promtool"),
    ),
    Requirement(
        "nginx",
        "nginx, which runs the rendered configuration of Prometheus's authenticating TLS front",
        lambda: ("nginx",),
        _has_commands("nginx"),
    ),
    Requirement(
        "alertmanager",
        "Prometheus's Alertmanager and amtool, which check the plan's Alertmanager configuration and deliver alerts "
        "end to end",
        lambda: ("prometheus-alertmanager",),
        _has_commands("amtool", "prometheus-alertmanager"),
    ),
    Requirement(
        "redis",
        "a Redis 7 server and redis-cli, which run the ACL lines and probe command of Superset's Valkey",
        lambda: ("redis-server",),
        _has_commands("redis-server", "redis-cli"),
    ),
)
BY_NAME = {requirement.name: requirement for requirement in REQUIREMENTS}


def missing() -> list[Requirement]:
    return [requirement for requirement in REQUIREMENTS if not requirement.present()]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in CI_TRUE


def skip_message(requirement: Requirement) -> str:
    packages = " ".join(requirement.packages())
    return (f"needs the Debian package {packages} ({requirement.purpose}); install it with "
            f"`sudo apt-get install -y {packages}`, or run `make setup` as root")


def require(name: str) -> None:
    """Return when `name` is installed; otherwise skip the calling test, or fail it when CI=true."""
    requirement = BY_NAME[name]
    if requirement.present():
        return
    import pytest

    message = skip_message(requirement)
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing system package fails instead of skipping)", pytrace=False)
    pytest.skip(message)


def executable(command: str, requirement: str) -> str:
    """The path of `command`, which the requirement named `requirement` installs; FileNotFoundError naming its
    Debian package otherwise (call `require` first in a test, so the test skips or fails with the reason)."""
    found = shutil.which(command)
    if found is None:
        packages = " ".join(BY_NAME[requirement].packages())
        raise FileNotFoundError(f"{command} is not installed (Debian package `{packages}`)")
    return found


def _can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install(out: TextIO | None = None) -> int:
    """Install every missing requirement with apt-get when running as root; otherwise say what to run.

    Returns 0 unless CI=true and something is still missing: a developer's setup goes on (the tests that need
    the package skip and say so), CI stops early with the reason.
    """
    out = out or sys.stdout
    wanted = missing()
    if not wanted:
        print("system packages: all present (" + ", ".join(r.name for r in REQUIREMENTS) + ")", file=out)
        return 0
    if not _can_install():
        why = "not running as root" if shutil.which("apt-get") else "apt-get not found"
        print(f"system packages: missing {', '.join(r.name for r in wanted)} ({why}); the tests that need them "
              "skip until you install them:", file=out)
        for requirement in wanted:
            print(f"  sudo {requirement.install_command()}    # {requirement.purpose}", file=out)
        return 1 if in_ci() else 0
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("system packages: apt-get update", file=out)
    subprocess.run(["apt-get", "update", "-qq"], env=environment, check=False)
    for requirement in wanted:
        if requirement.present():  # a package installed for an earlier requirement may bring it
            continue
        print(f"system packages: {requirement.install_command()}    # {requirement.name}", file=out, flush=True)
        subprocess.run([*requirement.install_command().split(), "-qq"], env=environment, check=False,
                       stdout=subprocess.DEVNULL)
    still = missing()
    if still:
        print("system packages: still missing " + ", ".join(f"{r.name} ({' '.join(r.packages())})" for r in still)
              + "; the tests that need them skip", file=out)
        return 1 if in_ci() else 0
    print("system packages: all present", file=out)
    return 0


def status(out: TextIO | None = None) -> int:
    out = out or sys.stdout
    for requirement in REQUIREMENTS:
        state = "present" if requirement.present() else f"MISSING: {requirement.install_command()}"
        print(f"{requirement.name:<11} {state}    # {requirement.purpose}", file=out)
    return 1 if missing() else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.system", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["install", "status"])
    args = parser.parse_args(argv)
    return install() if args.action == "install" else status()


if __name__ == "__main__":
    sys.exit(main())
