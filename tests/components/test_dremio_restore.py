"""Dremio's restore Job, generated from the plan (infra/ops/dremio_restore.py, components/lakehouse/restore.py), held
to the plan's coordinator and to the Kubernetes schemas of every supported version (kubernetes-validate, offline).

What is by whom: the manifests' validity by kubernetes-validate's schemas; the Job's script by a real `sh` over a
directory laid out as the coordinator's volume, with a stand-in for `dremio-admin` that records its arguments and
what it finds; `dremio-admin restore`'s options, its need for the master's configuration and an empty `paths.db`, and
the script's JVM variables by our reading of Dremio OSS 25.2.0 (dac/daemon/.../cmd/Restore.java, dac/backend/.../util/
BackupRestoreUtil.java, distribution/resources/.../bin/dremio-admin). No Dremio runs here.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import subprocess

import pytest
import yaml

from components.lakehouse import restore
from infra.offline.render import kubernetes
from infra.offline.render.planfile import Plan
from infra.ops import dremio_restore

BACKUP = "dremio_backup_2026-12-01_00.05"
JOB = "dremio-restore-20261201-0005"


@pytest.fixture(scope="module", params=["dev", "prod"])
def plan(request, stack_recording) -> dict:
    return Plan.of_recording(stack_recording(request.param)).document


def named(plan: dict, type_: str, name: str) -> dict:
    (found,) = [dremio_restore.plain(resource["inputs"]) for resource in plan["resources"]
                if resource["type"] == type_ and resource["inputs"]["metadata"]["name"] == name]
    return found


def backup_dir(plan: dict) -> str:
    return f"dremioS3:///dataplatform-{plan['stack']}-backups/dremio"


def write(plan: dict, tmp_path, *extra: str) -> tuple[int, str, str, list[dict]]:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = dremio_restore.main(["--stack", plan["stack"], "--plan", str(path), "--out", str(tmp_path / "out"),
                                    *extra], out=out)
    manifest = tmp_path / "out" / "dremio-restore.yaml"
    documents = list(yaml.safe_load_all(manifest.read_text())) if manifest.exists() else []
    return code, out.getvalue(), err.getvalue(), documents


def test_the_job_is_the_coordinator_s_pod_running_the_restore(plan, tmp_path):
    code, _, _, documents = write(plan, tmp_path, "--backup", BACKUP)
    assert code == 0
    job = documents[0]
    coordinator = named(plan, dremio_restore.STATEFUL_SET, "dremio-coordinator")["spec"]["template"]["spec"]
    pod = job["spec"]["template"]["spec"]
    (container,), (source,) = pod["containers"], coordinator["containers"]
    assert job["metadata"] == {"name": JOB, "namespace": "dp-lakehouse", "labels": restore.LABELS}
    assert (job["spec"]["backoffLimit"], pod["restartPolicy"]) == (0, "Never")
    # What the coordinator runs with, unchanged: image, configuration and trust store, security, resources.
    for key in ("image", "securityContext", "resources", "volumeMounts"):
        assert container[key] == source[key], key
    for key in ("securityContext", "initContainers", "automountServiceAccountToken"):
        assert pod[key] == coordinator[key], key
    assert [volume for volume in pod["volumes"] if volume["name"] != "data"] == coordinator["volumes"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-dremio-coordinator-0"}} in pod["volumes"]
    # dremio-admin reads DREMIO_JAVA_EXTRA_OPTS (not the server's variable): the master's flags and trust store.
    env = {item["name"]: item for item in container["env"]}
    server = {item["name"]: item for item in source["env"]}["DREMIO_JAVA_SERVER_EXTRA_OPTS"]["value"]
    assert "DREMIO_JAVA_SERVER_EXTRA_OPTS" not in env
    assert env["DREMIO_JAVA_EXTRA_OPTS"]["value"] == server and restore.MASTER_OPTION in server.split()
    assert env["BACKUP_PATH"]["value"] == f"{backup_dir(plan)}/{BACKUP}"
    assert env["JOB_NAME"]["value"] == JOB
    assert int(env["DREMIO_MAX_HEAP_MEMORY_SIZE_MB"]["value"]) <= int(env["DREMIO_MAX_MEMORY_SIZE_MB"]["value"]) // 2
    assert container["command"][:2] == ["sh", "-c"]
    assert 'exec /opt/dremio/bin/dremio-admin restore -d "$BACKUP_PATH"' in container["command"][2]
    assert "readinessProbe" not in container and "ports" not in container


def test_the_restore_pod_gets_the_coordinator_s_egress_and_no_more(plan, tmp_path):
    _, _, _, documents = write(plan, tmp_path, "--backup", BACKUP)
    job, policy = documents
    egress = named(plan, dremio_restore.NETWORK_POLICY, "dremio-coordinator-egress")
    assert policy["metadata"]["name"] == "dremio-restore-egress"
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert policy["spec"]["policyTypes"] == ["Egress"]
    assert policy["spec"]["egress"] == egress["spec"]["egress"]


def test_the_manifests_validate_against_every_supported_kubernetes(plan, tmp_path):
    _, _, _, documents = write(plan, tmp_path, "--backup", f"{backup_dir(plan)}/{BACKUP}/")
    assert [document["kind"] for document in documents] == ["Job", "NetworkPolicy"]
    for document in documents:
        assert kubernetes.validate(document) == {}, document["kind"]
    broken = copy.deepcopy(documents[0])
    broken["spec"]["template"]["spec"]["containers"][0]["volumeMount"] = []
    assert kubernetes.validate(broken), "a misplaced field must fail the same check"


def test_the_procedure_stops_and_starts_what_the_plan_declares(plan, tmp_path):
    code, printed, _, _ = write(plan, tmp_path, "--backup", BACKUP)
    assert code == 0
    lines = printed.splitlines()
    executors = named(plan, dremio_restore.STATEFUL_SET, "dremio-executor")["spec"]["replicas"]
    cronjobs = sorted(resource["inputs"]["metadata"]["name"] for resource in plan["resources"]
                      if resource["type"] == dremio_restore.CRON_JOB
                      and resource["inputs"]["metadata"]["namespace"] == "dp-lakehouse")
    assert "dremio-backup" in cronjobs
    suspend = "kubectl -n dp-lakehouse patch cronjob {} -p '{{\"spec\": {{\"suspend\": {}}}}}'"
    order = [
        *(suspend.format(name, "true") for name in cronjobs),
        "kubectl -n dp-lakehouse scale statefulset dremio-executor dremio-coordinator --replicas=0",
        "kubectl -n dp-lakehouse wait --for=delete pod -l app.kubernetes.io/name=dremio --timeout=15m",
        f"kubectl apply -f {tmp_path / 'out' / 'dremio-restore.yaml'}",
        f"kubectl -n dp-lakehouse wait --for=condition=complete job/{JOB} --timeout=14400s",
        "kubectl -n dp-lakehouse scale statefulset dremio-coordinator --replicas=1",
        f"kubectl -n dp-lakehouse scale statefulset dremio-executor --replicas={executors}",
        *(suspend.format(name, "false") for name in cronjobs),
        f"kubectl -n dp-lakehouse exec dremio-coordinator-0 -c dremio -- rm -rf /opt/dremio/data/db.before-{JOB}",
        "kubectl -n dp-lakehouse delete networkpolicy dremio-restore-egress",
    ]
    positions = [lines.index(line) for line in order]
    assert positions == sorted(positions)


# ---- the Job's script, run by sh over a stand-in volume -------------------------------------------------------


def run_script(tmp_path, *, fail: bool = False) -> subprocess.CompletedProcess:
    data, home = tmp_path / "data", tmp_path / "home"
    (home / "bin").mkdir(parents=True, exist_ok=True)
    admin = home / "bin" / "dremio-admin"
    # Records its arguments and whether db was empty, as BackupRestoreUtil.restore requires; writes a table.
    admin.write_text(f"""#!/bin/sh
echo "$@" > {tmp_path}/args
ls -A {data}/db > {tmp_path}/db-at-start
echo restored > {data}/db/table
{"exit 1" if fail else "echo 'Restored from backup at x, 12 dremio tables, 0 files.'"}
""")
    admin.chmod(0o755)
    script = restore.SCRIPT.format(data=data, home=home)
    return subprocess.run(["sh", "-c", script], env={"PATH": "/usr/bin:/bin", "JOB_NAME": JOB,
                                                     "BACKUP_PATH": f"dremioS3:///b/dremio/{BACKUP}"},
                          capture_output=True, text=True, check=False)


def test_the_script_moves_the_store_aside_and_restores_into_an_empty_db(tmp_path):
    (tmp_path / "data" / "db").mkdir(parents=True)
    (tmp_path / "data" / "db" / "old-table").write_text("before")
    result = run_script(tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "args").read_text().split() == ["restore", "-d", f"dremioS3:///b/dremio/{BACKUP}"]
    assert (tmp_path / "db-at-start").read_text() == ""
    assert (tmp_path / "data" / f"db.before-{JOB}" / "old-table").read_text() == "before"
    assert (tmp_path / "data" / "db" / "table").read_text() == "restored\n"


def test_a_rerun_after_a_failure_keeps_the_store_from_before_and_clears_the_partial_restore(tmp_path):
    (tmp_path / "data" / "db").mkdir(parents=True)
    (tmp_path / "data" / "db" / "old-table").write_text("before")
    failed = run_script(tmp_path, fail=True)
    assert failed.returncode == 1
    assert (tmp_path / "data" / "db" / "table").exists()  # what the failed attempt left
    rerun = run_script(tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert (tmp_path / "db-at-start").read_text() == ""
    assert (tmp_path / "data" / f"db.before-{JOB}" / "old-table").read_text() == "before"


def test_a_volume_without_a_store_is_restored_too(tmp_path):
    (tmp_path / "data").mkdir()
    result = run_script(tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "data" / f"db.before-{JOB}").exists()
    assert (tmp_path / "data" / "db" / "table").exists()


# ---- bad input: exit 2, one line naming the problem, nothing written --------------------------------------------


@pytest.mark.parametrize(("backup", "message"), [
    ("2026-12-01", "--backup '2026-12-01' is not a backup's directory: Dremio names them "
                   "dremio_backup_<yyyy-MM-dd_HH.mm> (UTC); list them under s3://dataplatform-{stack}-backups/dremio/"),
    ("dremio_backup_2026-12-01_00:05", "--backup 'dremio_backup_2026-12-01_00:05' is not a backup's directory"),
    ("dremioS3:///elsewhere/dremio/dremio_backup_2026-12-01_00.05",
     "--backup 'dremioS3:///elsewhere/dremio/dremio_backup_2026-12-01_00.05' is not under the stack's backup "
     "directory dremioS3:///dataplatform-{stack}-backups/dremio/"),
])
def test_a_bad_backup_exits_2_and_writes_nothing(plan, tmp_path, backup, message):
    code, printed, error, documents = write(plan, tmp_path, "--backup", backup)
    assert (code, printed, documents) == (2, "", [])
    assert error.startswith(f"dremio-restore: {message.format(stack=plan['stack'])}")


def test_a_plan_whose_coordinator_is_not_the_master_is_refused(plan, tmp_path):
    changed = copy.deepcopy(plan)
    for resource in changed["resources"]:
        if resource["type"] == dremio_restore.STATEFUL_SET and resource["inputs"]["metadata"]["name"] == \
                "dremio-coordinator":
            for item in resource["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]:
                if item["name"] == "DREMIO_JAVA_SERVER_EXTRA_OPTS":
                    item["value"] = item["value"].replace("master.enabled=true", "master.enabled=false")
    code, _, error, documents = write(changed, tmp_path, "--backup", BACKUP)
    assert (code, documents) == (2, [])
    assert "the plan's dremio-coordinator is not the master coordinator" in error


def test_a_missing_or_foreign_plan_is_refused(plan, tmp_path):
    out = io.StringIO()
    assert dremio_restore.main(["--stack", "dev", "--plan", str(tmp_path / "none.json"), "--backup", BACKUP],
                               out=out) == 2
    other = "prod" if plan["stack"] == "dev" else "dev"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert dremio_restore.main(["--stack", other, "--plan", str(path), "--backup", BACKUP,
                                "--out", str(tmp_path / "out")], out=out) == 2
    assert not (tmp_path / "out").exists()
