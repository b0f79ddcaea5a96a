"""Dremio's restore from one of its backups, written out from a stack's plan (build/plan/<stack>.json, `make plan`).

    python -m infra.ops.dremio_restore --stack prod --backup dremio_backup_2026-12-01_00.00
    make dremio-restore STACK=prod ARGS="--backup dremio_backup_2026-12-01_00.00"

Writes build/restore/<stack>/dremio-restore.yaml, a Job that runs `dremio-admin restore -d <backup>` in a pod that
is the plan's coordinator's (image, configuration, trust store, security context, resources, its volume claim;
components/lakehouse/restore.py), and prints the procedure around it: suspend the CronJobs of the namespace, scale
Dremio to zero, run the Job, start Dremio again with the plan's replicas, resume the CronJobs (the guide is
docs/backup-and-restore.md). `--backup` is a directory name under the plan's backup directory (the `dremio-backup`
CronJob's `BACKUP_DIR`) or its full `dremioS3:///` path. Exit status 0 written, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from components.lakehouse.restore import BACKUP_NAME, RESTORE, job_name, restore_egress, restore_job
from components.lakehouse.spec import BACKUP, COORDINATOR, EXECUTOR
from infra.offline.harness import is_secret
from infra.ops.inputs import InputError

STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
CRON_JOB = "kubernetes:batch/v1:CronJob"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
MANIFEST = "dremio-restore.yaml"
EXIT_OK, EXIT_INPUT = 0, 2


def plain(value: Any) -> Any:
    """The plan's wire form back to API form: integral numbers as integers (the plan stores every number as a
    float), secrets refused (nothing the restore copies is one)."""
    if isinstance(value, dict):
        if is_secret(value):
            raise InputError("the plan's coordinator carries a secret value inline; the restore copies none")
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _named(plan: dict[str, Any], type_: str, name: str) -> dict[str, Any]:
    found = [resource["inputs"] for resource in plan["resources"]
             if resource["type"] == type_ and resource["inputs"].get("metadata", {}).get("name") == name]
    if len(found) != 1:
        raise InputError(f"the {plan['stack']} plan declares {len(found)} {type_.rsplit(':', 1)[1]} named {name}; "
                         "the restore needs exactly one")
    return plain(found[0])


def backup_path(plan: dict[str, Any], backup: str) -> str:
    """The backup's full path, under the directory the plan's backup CronJob writes to."""
    cronjob = _named(plan, CRON_JOB, BACKUP)
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    directory = next((item["value"] for item in container.get("env", []) if item["name"] == "BACKUP_DIR"), None)
    if not directory:
        raise InputError(f"the plan's {BACKUP} CronJob names no BACKUP_DIR")
    name = backup.rstrip("/")
    if "/" in name:
        parent, _, name = name.rpartition("/")
        if parent != directory:
            raise InputError(f"--backup {backup!r} is not under the stack's backup directory {directory}/; give a "
                             "directory name such as dremio_backup_2026-12-01_00.00")
    if not BACKUP_NAME.match(name):
        raise InputError(f"--backup {backup!r} is not a backup's directory: Dremio names them "
                         "dremio_backup_<yyyy-MM-dd_HH.mm> (UTC); list them under "
                         f"{directory.replace('dremioS3:///', 's3://')}/")
    return f"{directory}/{name}"


def coordinator_egress(plan: dict[str, Any], coordinator: dict[str, Any]) -> dict[str, Any] | None:
    """The plan's egress NetworkPolicy of the coordinator's pods, or None where the namespace restricts no egress."""
    namespace = coordinator["metadata"]["namespace"]
    labels = coordinator["spec"]["template"]["metadata"]["labels"]
    policies = [plain(resource["inputs"]) for resource in plan["resources"] if resource["type"] == NETWORK_POLICY
                and resource["inputs"]["metadata"].get("namespace") == namespace
                and "Egress" in resource["inputs"]["spec"].get("policyTypes", [])]
    if not policies:
        return None
    selecting = [policy for policy in policies if policy["spec"]["podSelector"].get("matchLabels")
                 and policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]
    if len(selecting) != 1:
        raise InputError(f"the {plan['stack']} plan restricts egress in {namespace} but has {len(selecting)} egress "
                         f"NetworkPolicies for {COORDINATOR}; the restore copies exactly one")
    return selecting[0]


def manifests(plan: dict[str, Any], backup: str) -> list[dict[str, Any]]:
    """The restore Job and, where the namespace restricts egress, its NetworkPolicy."""
    full = backup_path(plan, backup)
    coordinator = _named(plan, STATEFUL_SET, COORDINATOR)
    try:
        job = restore_job(coordinator, full, job_name(full.rsplit("/", 1)[1]))
    except ValueError as error:
        raise InputError(str(error)) from None
    egress = coordinator_egress(plan, coordinator)
    return [job] + ([restore_egress(egress)] if egress is not None else [])


def steps(plan: dict[str, Any], documents: list[dict[str, Any]], manifest: Path) -> list[tuple[str, list[str]]]:
    """The procedure around the Job, with the plan's names and replicas."""
    job, policies = documents[0], documents[1:]
    namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
    coordinator = _named(plan, STATEFUL_SET, COORDINATOR)
    executor = _named(plan, STATEFUL_SET, EXECUTOR)
    cronjobs = sorted((resource["inputs"]["metadata"]["name"], bool(resource["inputs"]["spec"].get("suspend", False)))
                      for resource in plan["resources"]
                      if resource["type"] == CRON_JOB and resource["inputs"]["metadata"].get("namespace") == namespace)
    kubectl = f"kubectl -n {namespace}"
    image = job["spec"]["template"]["spec"]["containers"][0]["image"]
    backup = next(item["value"] for item in job["spec"]["template"]["spec"]["containers"][0]["env"]
                  if item["name"] == "BACKUP_PATH")

    def suspended(value: bool) -> str:
        return shlex.quote(json.dumps({"spec": {"suspend": value}}))
    return [
        (f"Check the backup and the version: it restores only into the Dremio that wrote it ({image})",
         [f"aws s3 ls {backup.replace('dremioS3:///', 's3://')}/   # dev: mc ls on the stack's MinIO"]),
        ("Stop the writers and Dremio (every node: the restore runs offline on the coordinator's volume)",
         [*(f"{kubectl} patch cronjob {cronjob} -p {suspended(True)}" for cronjob, _ in cronjobs),
          f"{kubectl} scale statefulset {EXECUTOR} {COORDINATOR} --replicas=0",
          f"{kubectl} wait --for=delete pod -l app.kubernetes.io/name=dremio --timeout=15m"]),
        ("Restore: the Job moves the store aside (data/db.before-<job>) and runs dremio-admin restore into an empty "
         "data/db; its log ends with 'Restored from backup at ...'"
         + (" (its NetworkPolicy gives it the coordinator's egress)" if policies else ""),
         [f"kubectl apply -f {manifest}",
          f"{kubectl} wait --for=condition=complete job/{name} --timeout={job['spec']['activeDeadlineSeconds']}s",
          f"{kubectl} logs job/{name}"]),
        ("Start Dremio with the plan's replicas, then resume the CronJobs",
         [f"{kubectl} scale statefulset {COORDINATOR} --replicas={coordinator['spec']['replicas']}",
          f"{kubectl} rollout status statefulset/{COORDINATOR} --timeout=15m",
          f"{kubectl} scale statefulset {EXECUTOR} --replicas={executor['spec']['replicas']}",
          *(f"{kubectl} patch cronjob {cronjob} -p {suspended(planned)}" for cronjob, planned in cronjobs)]),
        ("Check (log in, `pulumi preview --diff` shows no change on Dremio's objects); when satisfied, remove the "
         "store from before and the Job",
         [f"{kubectl} exec {COORDINATOR}-0 -c dremio -- rm -rf /opt/dremio/data/db.before-{name}",
          f"{kubectl} delete job {name}",
          *(f"{kubectl} delete networkpolicy {policy['metadata']['name']}" for policy in policies)]),
    ]


def main(argv: list[str] | None = None, out=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.ops.dremio_restore", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--backup", required=True,
                        help="dremio_backup_<yyyy-MM-dd_HH.mm>, or its full dremioS3:/// path")
    parser.add_argument("--plan", type=Path, help="the plan file (default build/plan/<stack>.json)")
    parser.add_argument("--out", type=Path, help="where to write the manifest (default build/restore/<stack>/)")
    args = parser.parse_args(argv)
    out = out or sys.stdout
    path = args.plan or Path("build") / "plan" / f"{args.stack}.json"
    try:
        if not path.is_file():
            raise InputError(f"{path} does not exist: run `make plan STACK={args.stack}` first")
        plan = json.loads(path.read_text())
        if plan.get("stack") != args.stack:
            raise InputError(f"{path} is the plan of stack {plan.get('stack')!r}, not {args.stack!r}")
        documents = manifests(plan, args.backup)
    except InputError as error:
        print(f"{RESTORE}: {error}", file=sys.stderr)
        return EXIT_INPUT
    directory = args.out or Path("build") / "restore" / args.stack
    directory.mkdir(parents=True, exist_ok=True)
    manifest = directory / MANIFEST
    manifest.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    job = documents[0]
    backup = next(item["value"] for item in job["spec"]["template"]["spec"]["containers"][0]["env"]
                  if item["name"] == "BACKUP_PATH")
    print(f"# {RESTORE}: wrote {manifest} (Job {job['metadata']['name']}, from {backup})", file=out)
    for number, (what, commands) in enumerate(steps(plan, documents, manifest), start=1):
        print(f"# {number}. {what}", file=out)
        for command in commands:
            print(command, file=out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
