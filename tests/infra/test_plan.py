"""The offline plan: documented JSON shape, redacted secrets, and exit codes 0 / 1 / 2 from the command line."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import infra.model.catalog
from infra.model.images import PLATFORM_LOCK, VENDOR_LOCK, read_lock, undigested
from infra.model.stackfiles import REPO_ROOT
from infra.offline import plan
from infra.offline.harness import SECRET_SENTINEL_PREFIX

pytestmark = pytest.mark.integration


def run_plan(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "infra.offline.plan", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    return tmp_path


def test_prod_plan_is_clean_and_documented(tmp_path):
    result = run_plan("--stack", "prod", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    summary = lines[-1]
    # One advisory line, before the summary, while any image the stack deploys has no digest in the locks.
    locked = [image for path in (PLATFORM_LOCK, VENDOR_LOCK) for image in read_lock(path).values()]
    advisories = [line for line in lines if line.startswith("plan prod: images: ")]
    assert advisories == ([lines[-2]] if undigested(locked) else []), advisories
    assert not advisories or re.match(r"plan prod: images: \d+ of \d+ without a digest \(advisory; the prod deploy "
                                      r"refuses them, docs/locks.md\): \S+:\S+(, \S+:\S+)*$", advisories[0])
    # Digest advisories only (never mandatory): the migrations and dbt-runner images await their first CI build,
    # and the vendors' Dremio and Valkey images are pinned by tag.
    # Inventories are asserted per layer in tests/components; here only the summary's form and the verdict.
    assert re.match(r"plan prod: \d+ resources \(\d+ protected\), \d+ policy violations \(0 mandatory\), "
                    r"update semantics, \d+\.\d\d s -> ", summary), summary
    assert "platform-lake  (dataplatform:storage:DataLake, " in result.stdout
    # The evaluation date of the exemptions, and what became of them (policies/config/prod.json's allow-list).
    assert re.search(r"^plan prod: policies evaluated on \d{4}-\d{2}-\d{2}: 4 exemption\(s\) honoured \(\d+ "
                     r"expiring within 30 days\), 0 refused$", result.stdout, re.MULTILINE), result.stdout
    document = json.loads((tmp_path / "prod.json").read_text())
    assert {"stack", "project", "resources", "policies"} <= set(document)
    assert (document["stack"], document["project"]) == ("prod", "dataplatform")
    assert document["policies"]["pack"] == "dataplatform-policies"
    assert {(v["policy"], v["level"]) for v in document["policies"]["violations"]} == {
        ("kubernetes-image-require-digest", "advisory")}
    for resource in document["resources"]:
        assert set(resource) == {
            "urn", "type", "name", "custom", "parent", "provider", "dependencies", "propertyDependencies", "protect",
            "options", "inputs"}
    text = (tmp_path / "prod.json").read_text() + (tmp_path / "prod.md").read_text()
    assert SECRET_SENTINEL_PREFIX not in text
    assert document["outputs"]["lakeCredentials"] == "[secret]"
    assert (tmp_path / "prod.md").read_text().startswith("## Offline plan: `prod`")


def test_secret_inputs_are_redacted(tmp_path):
    assert run_plan("--stack", "dev", "--out", str(tmp_path), "--quiet").returncode == 0
    document = json.loads((tmp_path / "dev.json").read_text())
    users = {r["name"]: r for r in document["resources"] if r["type"] == "minio:index/iamUser:IamUser"}
    # The seven lake identities and the two prefix writers: Elasticsearch's snapshot writer and the log shipper's
    # copy into the lake's `logs` layer.
    assert sorted(users) == [f"platform-lake-{name}" for name in (
        "airbyte", "backups", "dremio", "elasticsearch-snapshots", "ingestion", "log-shipper", "log-shipper-lake",
        "query-engine", "transformation")]
    assert all(user["inputs"]["secret"] == "[secret]" for user in users.values())
    # The log shipper's lake keys reach its pods through a Secret, redacted too; no generated value shows anywhere.
    (keys,) = [r for r in document["resources"] if r["type"] == "kubernetes:core/v1:Secret"
               and r["inputs"]["metadata"]["name"] == "log-shipper-lake"]
    assert keys["inputs"]["stringData"] == "[secret]"
    assert SECRET_SENTINEL_PREFIX not in (tmp_path / "dev.json").read_text() + (tmp_path / "dev.md").read_text()


def test_broken_config_exits_2_with_the_message(project, tmp_path):
    stack = yaml.safe_load((project / "Pulumi.prod.yaml").read_text())
    stack["config"]["dataplatform:storage"]["encryption"] = False
    (project / "Pulumi.prod.yaml").write_text(yaml.safe_dump(stack))
    # A previous run's files must not survive to be read as this run's result.
    (tmp_path / "prod.json").write_text("{}")
    (tmp_path / "prod.md").write_text("stale")
    result = run_plan("--stack", "prod", "--root", str(project), "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == (
        "plan prod: configuration error\n"
        "Pulumi.prod.yaml: dataplatform:storage.encryption: prod requires true (got false)\n"
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "prod.json").exists() and not (tmp_path / "prod.md").exists()


def test_unknown_stack_exits_2(tmp_path):
    result = run_plan("--stack", "staging", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "Pulumi.staging.yaml: no such stack file; choose one of: dev, prod" in result.stderr


def test_broken_catalog_exits_2(tmp_path, monkeypatch, capsys):
    document = yaml.safe_load(infra.model.catalog.CATALOG_PATH.read_text())
    document["sources"][0]["streams"][0]["destination_sync_mode"] = "append_dedup"
    broken = tmp_path / "dataflow.yaml"
    broken.write_text(yaml.safe_dump(document))
    monkeypatch.setattr(infra.model.catalog, "CATALOG_PATH", broken)
    assert plan.run("dev", tmp_path / "out", preview=False) == 2
    assert (
        "sources[postgres].streams[customers].destination_sync_mode: the lake's S3 destination cannot deduplicate"
        in capsys.readouterr().err
    )


def test_mandatory_violation_exits_1(project, tmp_path):
    # A config the model accepts (stage dev) that the prod stack's mandatory pack rejects: no object lock.
    stack = yaml.safe_load((project / "Pulumi.prod.yaml").read_text())
    stack["config"]["dataplatform:stage"] = "dev"
    stack["config"]["dataplatform:storage"]["objectLockDays"] = 0
    del stack["config"]["dataplatform:kubernetes"]["network"]["endpoints"]["rds"]  # dev runs PostgreSQL in-cluster
    (project / "Pulumi.prod.yaml").write_text(yaml.safe_dump(stack))
    result = run_plan("--stack", "prod", "--root", str(project), "--out", str(tmp_path), "--quiet")
    assert result.returncode == 1, result.stdout + result.stderr
    document = json.loads((tmp_path / "prod.json").read_text())
    failing = {(v["policy"], v["level"]) for v in document["policies"]["violations"]}
    assert ("aws-s3-bucket-enable-object-lock", "mandatory") in failing


def test_gate_failure_exits_3_with_the_reason(tmp_path, monkeypatch, capsys):
    def no_pack(self):
        raise plan.GateError("policies/venv/bin/python: the pack's virtualenv is missing; run `make policy-venv`")

    monkeypatch.setattr(plan.StreamingGate, "launch", no_pack)
    (tmp_path / "dev.json").write_text("{}")
    assert plan.run("dev", tmp_path, preview=False) == 3
    assert capsys.readouterr().err == (
        "plan dev: the policy gate could not run\n"
        "policies/venv/bin/python: the pack's virtualenv is missing; run `make policy-venv`\n"
    )
    assert not (tmp_path / "dev.json").exists()


def test_plan_bench_reports_wall_time_and_memory_against_its_target(tmp_path):
    from infra.offline import plan_bench
    assert plan_bench.main(["--stack", "dev", "--runs", "1", "--target", "0.001", "--out", str(tmp_path)]) == 1
    summary = json.loads((tmp_path / "plan-dev.json").read_text())
    assert summary["passed"] is False and summary["target_seconds"] == 0.001
    assert len(summary["runs"]) == 1 and summary["median_seconds"] == summary["runs"][0]["seconds"] > 0.001
    assert 50 < summary["peak_mib"] < 2000
    assert json.loads((tmp_path / "plans" / "dev.json").read_text())["stack"] == "dev"
