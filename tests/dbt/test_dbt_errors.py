"""Bad generator arguments, a missing bronze folder or profile each stop with one message saying what to run."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("args, says", [
    (["--orders", "0"], "--orders must be between 1"),
    (["--orders", "lots"], "example: make pipeline ORDERS=100000"),
    (["--orders", "100", "--loads", "1"], "--loads must be between 2 and 30"),
    (["--orders", "100", "--through-load", "5"], "--through-load must be between 1 and --loads"),
    (["--orders", "100", "--customers", "0"], "--customers must be at least 1"),
])
def test_invalid_generator_arguments(workspace, args, says):
    result = workspace.tool("generate", *args, check=False)
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert not workspace.lake.exists()


def test_missing_bronze_folder_through_the_pipeline(workspace):
    result = workspace.tool("pipeline", "--skip-generate", check=False)
    assert result.returncode == 2
    assert "no bronze Parquet files under" in result.stderr and "run `make pipeline`" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_bronze_folder_through_dbt_itself(workspace):
    result = workspace.dbt("build", check=False)
    assert result.returncode != 0
    assert "No bronze Parquet files under" in result.stdout and "make pipeline" in result.stdout


def test_missing_profile(workspace, tmp_path):
    result = workspace.tool("pipeline", "--orders", "100", check=False, DBT_PROFILES_DIR=str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "no dbt profiles.yml in" in result.stderr and "make pipeline" in result.stderr
    assert not workspace.lake.exists(), "nothing should be generated before the profile is checked"


def test_unknown_target(workspace):
    result = workspace.tool("pipeline", "--orders", "100", "--target", "snowflake", check=False)
    assert result.returncode == 2
    assert "has no target 'snowflake'" in result.stderr and "local" in result.stderr
