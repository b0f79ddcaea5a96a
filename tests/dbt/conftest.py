"""Fixtures for the dbt tests: the dbt virtualenv, an isolated workspace per test, a real PostgreSQL server.

dbt lives in its own virtualenv (.venv-dbt, `make dbt-setup`); tests drive it and the tooling through
subprocesses, and read Parquet back through it too, so this virtualenv needs neither dbt nor pyarrow.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.dbt_workspace import DBT_PYTHON, Workspace
from support.postgres import PostgresServer


@pytest.fixture(scope="session")
def dbt_venv() -> Path:
    if not DBT_PYTHON.exists():
        pytest.fail("the dbt virtualenv is missing: run `make dbt-setup` first", pytrace=False)
    return DBT_PYTHON


@pytest.fixture()
def workspace(tmp_path: Path, dbt_venv: Path) -> Workspace:
    return Workspace(root=tmp_path, extra_env={})


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server per test session (per worker under xdist)."""
    with PostgresServer.start() as server:
        yield server
