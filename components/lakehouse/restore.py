"""Dremio's restore, as a Job built from the coordinator the plan declares (infra/ops/dremio_restore.py writes it).

`dremio-admin restore` (Dremio OSS 25.2.0, dac/daemon/.../cmd/Restore.java and dac/backend/.../util/
BackupRestoreUtil.java `restore`) runs offline, on the master node's configuration: it refuses to run unless
`services.coordinator.master.enabled` is true, takes the backup directory with `-d` (`--backupdir`; `-r` is
deprecated and always on), reads it through the Hadoop file system of its URI (so `dremioS3://` with the distributed
store's core-site.xml), and writes into `paths.db` (`${paths.local}/db`), which must be an empty directory. The
`dremio-admin` script passes `DREMIO_JAVA_EXTRA_OPTS` and `DREMIO_JAVA_CLIENT_EXTRA_OPTS` to the JVM, not the
server's `DREMIO_JAVA_SERVER_EXTRA_OPTS`, and sizes the heap from `DREMIO_MAX_HEAP_MEMORY_SIZE_MB` (4096 by default).

The Job's pod is the coordinator's: the same image, configuration, trust store, security context and resources,
with the coordinator's claim (`data-dremio-coordinator-0`) mounted where the coordinator mounts it, so it runs only
while the coordinator is scaled to zero (the claim is ReadWriteOnce).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from components.lakehouse.spec import COORDINATOR, DREMIO_HOME

RESTORE = "dremio-restore"
BACKUP_NAME = re.compile(r"^dremio_backup_(\d{4})-(\d{2})-(\d{2})_(\d{2})\.(\d{2})$")
"""The directory each backup writes (datastore/BackupSupport.java: `dremio_backup_` and the UTC minute)."""
MASTER_OPTION = "-Dservices.coordinator.master.enabled=true"
SERVER_OPTIONS = "DREMIO_JAVA_SERVER_EXTRA_OPTS"
ADMIN_HEAP_MB = 4096  # dremio-admin's default heap
DATA_VOLUME = "data"
DATA_DIR = f"{DREMIO_HOME}/data"
DEADLINE_SECONDS = 4 * 3600
SCRIPT = """set -eu
data={data}
aside="$data/db.before-$JOB_NAME"
if [ -e "$aside" ]; then
  # A rerun of this Job: the store as it was is already aside, and db holds the failed attempt's partial restore.
  echo "dremio-restore: $aside holds the store from before; clearing the previous attempt's $data/db"
  rm -rf "$data/db"
elif [ -e "$data/db" ]; then
  mv "$data/db" "$aside"
  echo "dremio-restore: moved the store aside to $aside"
fi
mkdir "$data/db"
exec {home}/bin/dremio-admin restore -d "$BACKUP_PATH"
"""


LABELS = {"app.kubernetes.io/name": RESTORE, "app.kubernetes.io/part-of": "dataplatform"}


def job_name(backup: str) -> str:
    """`dremio-restore-<yyyymmdd-hhmm>` for `dremio_backup_<yyyy-MM-dd_HH.mm>`."""
    found = BACKUP_NAME.match(backup)
    if found is None:
        raise ValueError(f"not a backup directory name: {backup!r}")
    year, month, day, hour, minute = found.groups()
    return f"{RESTORE}-{year}{month}{day}-{hour}{minute}"


def _heap_mb(env: list[dict[str, Any]]) -> int:
    """Half the memory the coordinator gives Dremio, at most dremio-admin's default: the restore runs in the
    coordinator's memory limit."""
    budget = next((int(item["value"]) for item in env if item["name"] == "DREMIO_MAX_MEMORY_SIZE_MB"),
                  2 * ADMIN_HEAP_MB)
    return min(ADMIN_HEAP_MB, budget // 2)


def restore_job(coordinator: dict[str, Any], backup_path: str, name: str) -> dict[str, Any]:
    """The Job that restores `backup_path` into the coordinator's volume.

    `coordinator` is the plan's StatefulSet (API form). Raises ValueError when it is not the master coordinator with
    its data volume, since then the restore cannot run as built."""
    spec = coordinator["spec"]
    pod = copy.deepcopy(spec["template"]["spec"])
    (container,) = [item for item in pod["containers"] if item["name"] == "dremio"]
    env = container.get("env", [])
    options = next((item.get("value", "") for item in env if item["name"] == SERVER_OPTIONS), "")
    if MASTER_OPTION not in options.split():
        raise ValueError(f"the plan's {COORDINATOR} is not the master coordinator ({SERVER_OPTIONS} lacks "
                         f"{MASTER_OPTION}); dremio-admin restore runs only with the master's configuration")
    if not any(mount["name"] == DATA_VOLUME and mount["mountPath"] == DATA_DIR for mount in container["volumeMounts"]):
        raise ValueError(f"the plan's {COORDINATOR} does not mount its {DATA_VOLUME!r} volume at {DATA_DIR}")
    templates = [claim["metadata"]["name"] for claim in spec.get("volumeClaimTemplates", [])]
    if DATA_VOLUME not in templates:
        raise ValueError(f"the plan's {COORDINATOR} has no {DATA_VOLUME!r} volume claim template")
    claim = f"{DATA_VOLUME}-{coordinator['metadata']['name']}-0"
    restore_env = [item for item in env if item["name"] != SERVER_OPTIONS] + [
        {"name": "DREMIO_JAVA_EXTRA_OPTS", "value": options},
        {"name": "DREMIO_MAX_HEAP_MEMORY_SIZE_MB", "value": str(_heap_mb(env))},
        {"name": "BACKUP_PATH", "value": backup_path},
        {"name": "JOB_NAME", "value": name},
    ]
    container.update(
        command=["sh", "-c", SCRIPT.format(data=DATA_DIR, home=DREMIO_HOME)], env=restore_env,
    )
    for probe in ("readinessProbe", "livenessProbe", "startupProbe", "ports"):
        container.pop(probe, None)
    pod["containers"] = [container]
    pod["restartPolicy"] = "Never"
    pod["volumes"] = [volume for volume in pod.get("volumes", []) if volume["name"] != DATA_VOLUME] + [
        {"name": DATA_VOLUME, "persistentVolumeClaim": {"claimName": claim}}]
    pod.pop("terminationGracePeriodSeconds", None)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": coordinator["metadata"]["namespace"], "labels": dict(LABELS)},
        "spec": {
            # One attempt: a failure leaves the store from before aside and is looked at before a rerun.
            "backoffLimit": 0,
            "activeDeadlineSeconds": DEADLINE_SECONDS,
            "template": {"metadata": {"labels": dict(LABELS)}, "spec": pod},
        },
    }


def restore_egress(coordinator_egress: dict[str, Any]) -> dict[str, Any]:
    """The restore pod's egress: the coordinator's own (its NetworkPolicy, with the restore's pod selector), so the
    pod reaches the object store and DNS as the coordinator does and nothing more; the namespace's default deny
    keeps every ingress closed."""
    metadata = coordinator_egress["metadata"]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"{RESTORE}-egress", "namespace": metadata["namespace"], "labels": dict(LABELS)},
        "spec": {"podSelector": {"matchLabels": dict(LABELS)}, "policyTypes": ["Egress"],
                 "egress": copy.deepcopy(coordinator_egress["spec"].get("egress", []))},
    }
