"""On Dremio, dbt reads and writes only what the lakehouse declares: its bronze sources resolve through the read-only
lake source to the buckets and prefixes Airbyte writes, its tables land in a bucket the write-enabled source may
write, its marts in the space folder Superset reads; every name comes from the runner, and the local defaults name
the dev stack's objects."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.dbt_workspace import REPO_ROOT, Workspace

from infra.model import naming
from infra.model.catalog import load_catalog

pytestmark = pytest.mark.integration
DBT_DIR = REPO_ROOT / "dbt"
ENV_VAR = re.compile(r"env_var\(\s*'(DBT_DREMIO_[A-Z_]+)'(?:\s*,\s*'([^']*)')?\s*\)")
DREMIO = "pulumi-python:dynamic/dremio:"


def dbt_files() -> list[Path]:
    return [DBT_DIR / "profiles.yml", *sorted((DBT_DIR / "models").rglob("*.yml")),
            *sorted((DBT_DIR / "models").rglob("*.sql")), *sorted((DBT_DIR / "macros").rglob("*.sql"))]


def dremio_variables() -> dict[str, set[str]]:
    """Every DBT_DREMIO_* variable dbt reads, with the defaults it is given (empty: none)."""
    found: dict[str, set[str]] = {}
    for path in dbt_files():
        text = path.read_text().replace("''", "'")  # YAML doubles quotes inside single-quoted scalars
        for name, default in ENV_VAR.findall(text):
            found.setdefault(name, set()).add(default)
    return found


@pytest.fixture(scope="module", params=["dev", "prod"])
def stack_plan(request, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp(f"plan-{request.param}")
    result = subprocess.run([sys.executable, "-m", "infra.offline.plan", "--stack", request.param, "--out", str(out),
                             "--quiet"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads((out / f"{request.param}.json").read_text())


def of_type(plan: dict, type_: str) -> list[dict]:
    return [resource for resource in plan["resources"] if resource["type"] == type_]


def runner_environment(plan: dict) -> dict[str, str]:
    """The environment of the batch's dbt step as the plan declares it (plain values only)."""
    (cron,) = [resource for resource in of_type(plan, "kubernetes:batch/v1:CronJob")
               if resource["inputs"]["metadata"]["name"] == "batch"]
    pod = cron["inputs"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (dbt,) = [c for c in pod["initContainers"] if c["name"] == "dbt"]
    return {entry["name"]: entry.get("value") for entry in dbt["env"]}


def manifest(tmp_path: Path, environment: dict[str, str]) -> dict:
    plain = {key: value for key, value in environment.items() if value is not None and key.startswith("DBT_DREMIO")}
    workspace = Workspace(root=tmp_path, extra_env={**plain, "DBT_DREMIO_PASSWORD": "p"})
    workspace.dbt("parse", target="dremio")
    return json.loads((tmp_path / "dbt" / "target" / "manifest.json").read_text())


def test_the_runner_sets_every_variable_dbt_reads_on_dremio(stack_plan):
    environment = runner_environment(stack_plan)
    missing = sorted(set(dremio_variables()) - set(environment))
    assert not missing, f"dbt reads {missing} on the dremio target but the runner does not set them"


def test_local_defaults_are_the_dev_stack_names():
    wanted = naming.dbt_dremio_environment(naming.DEFAULT_PREFIX, naming.DEFAULT_STACK)
    for name, defaults in dremio_variables().items():
        if name in wanted:
            assert defaults == {wanted[name]}, f"{name}: dbt's defaults {defaults} are not the dev stack's"


def test_dbt_reads_and_writes_only_what_the_lakehouse_declares(stack_plan, tmp_path):
    sources = {r["inputs"]["entity"]["name"]: r["inputs"]["entity"] for r in of_type(stack_plan, DREMIO + "Source")}
    folders = {tuple(r["inputs"]["entity"]["path"]) for r in of_type(stack_plan, DREMIO + "Folder")}
    destinations = {r["inputs"]["configuration"]["s3_bucket_path"]: r["inputs"]["configuration"]
                    for r in of_type(stack_plan, "pulumi-python:dynamic/airbyte:Destination")}
    parsed = manifest(tmp_path, runner_environment(stack_plan))

    read = sources[naming.DREMIO_LAKE_SOURCE]
    for source in parsed["sources"].values():
        bucket, *folder = source["schema"].split(".")
        assert source["database"] == naming.DREMIO_LAKE_SOURCE, source["unique_id"]
        assert bucket in read["config"]["whitelistedBuckets"], f"{source['unique_id']} reads bucket {bucket}"
        landing = destinations[source["source_name"]]
        prefix = f"{landing['s3_bucket_path']}/{source['identifier']}/"
        assert (bucket, "/".join([*folder, source["identifier"]]) + "/") == (landing["s3_bucket_name"], prefix)
    assert {s["source_name"] for s in parsed["sources"].values()} == {s.name for s in load_catalog().sources}

    write = sources[naming.DREMIO_LAKE_WRITE_SOURCE]
    # Ephemeral models are inlined into the models that read them: no object of their own.
    models = [n for n in parsed["nodes"].values() if n["resource_type"] == "model" and n["config"]["enabled"]
              and n["config"]["materialized"] != "ephemeral"]
    for node in models:
        if node["config"]["materialized"] in ("table", "incremental"):
            assert node["database"] == naming.DREMIO_LAKE_WRITE_SOURCE, node["unique_id"]
            assert node["schema"] in write["config"]["whitelistedBuckets"], node["unique_id"]
            assert node["schema"].endswith("-silver"), "dbt's tables on Dremio belong in the silver bucket"
        else:
            assert (node["database"], node["schema"]) in folders, node["unique_id"]
