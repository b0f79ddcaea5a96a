"""The platform's batch, as plain data: one Job per run whose pod runs the seed's daily pipeline as ordered steps.

    syncs -> dbt -> reflections -> dashboards

Each step but the last is an init container: Kubernetes runs them one after another and stops the pod at the first
that fails, so a failed sync stops the build that would read its output, and a failed build stops the refresh and
the dashboards (docs/decisions/0043-the-batch-as-one-job.md). The steps:
- `syncs`: components/lakehouse/batch_syncs.py starts, through Airbyte's public API, a sync of every connection
  whose source the marts read (dbt's lineage, infra/model/lineage.py) and waits for them; those connections are
  `manual` in Airbyte (components/ingestion/component.py), so nothing else schedules them;
- `dbt`: components/lakehouse/batch_dbt.py, `dbt build` and `dbt source freshness` with JSON logs, the run written to
  `platform.dbt_run_history` as the metadata layer's `dbt` login;
- `reflections`: components/lakehouse/batch_reflections.py sets each mart's refresh policy on the physical datasets
  under it and queues the refresh of their reflections;
- `dashboards`: the runner image's import of Superset's asset bundle, then a warm-up of each mart's charts.
Pure functions, no resources: components/lakehouse/component.py declares them; the golden tests pin them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from components.kit.hardening import LARGE, SMALL, Resources, container_security, pod_security
from components.lakehouse.log_routes import DBT_CONTAINER, FRESH_AT, STALE_AT
from components.lakehouse.spec import CLIENT_SERVICE, RUNNER_CA_DIR, WEB_PORT
from components.logs import shipping
from components.logs.spec import AIRBYTE_LOGS_FIELDS, JOB_LOGS
from components.monitoring.component import AlertRule
from infra.model import lineage, naming
from infra.model.catalog import Catalog, Schedule
from infra.model.naming import namespace_name, service_host
from infra.model.schedules import kubernetes_cron

LAYER = "lakehouse"
BATCH = "batch"
LABELS = {"app.kubernetes.io/name": BATCH, "app.kubernetes.io/part-of": "dataplatform"}
# The steps, in order: the container names the alerts and the logs name.
SYNCS, DBT, REFLECTIONS, DASHBOARDS = "syncs", DBT_CONTAINER, "reflections", "dashboards"
STEPS = (SYNCS, DBT, REFLECTIONS, DASHBOARDS)
# The step scripts, mounted from one ConfigMap (standard library, plus psycopg for the dbt step, which the runner
# image ships).
SCRIPTS_CONFIG_MAP = "batch-steps"
SCRIPTS_DIR = "/opt/batch"
SCRIPT_FILES = {SYNCS: "batch_syncs.py", DBT: "batch_dbt.py", REFLECTIONS: "batch_reflections.py"}
SCRIPT_SOURCES = Path(__file__).resolve().parent
# The batch's own credentials: Airbyte's application client (the syncs) and the `dbt` login to the metadata
# database (the run history). Dremio's `dbt` password and the stack CA stay in the runner's Secret.
SECRET = "batch-credentials"
AIRBYTE_CLIENT_ID_KEY, AIRBYTE_CLIENT_SECRET_KEY = "airbyte-client-id", "airbyte-client-secret"
RUN_HISTORY_USER_KEY, RUN_HISTORY_PASSWORD_KEY = "run-history-username", "run-history-password"
RUNNER_SECRET = "dbt-runner-profile"
CA_DIR = RUNNER_CA_DIR
CA_FILE = f"{CA_DIR}/ca.crt"
BUNDLE_DIR = "/etc/dataplatform/superset-bundle"
IMPORT_SCRIPT = "/opt/superset-import/import_bundle.py"
# The syncs step hands its results to the dbt step, which keeps them with the run.
RESULTS_FILE = "/tmp/batch-syncs.json"
POLL_SECONDS = 15
# A run longer than its interval (at least an hour) is stopped: the next one is due, and a hung run must not hold
# every later one back (`concurrencyPolicy: Forbid`). The syncs get most of it.
MIN_DEADLINE_MINUTES = 60
SYNC_SHARE = 0.6
# How late a successful run may be beyond its interval and deadline before it is an alert.
LATE_GRACE_MINUTES = 30


@dataclass(frozen=True)
class AirbyteAccess:
    """Where the syncs step reaches Airbyte and which connections it runs (their names in the workspace)."""

    url: str
    workspace: str
    connections: tuple[str, ...]


@dataclass(frozen=True)
class RunHistoryAccess:
    """Where the dbt step records its run: the metadata server (an Output on RDS), the `platform` database, and the
    RDS CA bundle where the server is RDS."""

    host: Any
    port: int
    database: str
    rds_ca_image: str | None = None
    rds_ca_file: str | None = None


@dataclass(frozen=True)
class BatchShape:
    image: str
    dbt_resources: Resources
    prefix: str
    stack: str
    project: str
    schedule: Schedule
    airbyte: AirbyteAccess
    run_history: RunHistoryAccess
    anchors: dict[str, dict[str, Any]]
    marts: tuple[str, ...]


def deadline_minutes(schedule: Schedule) -> int:
    return max(schedule.minutes, MIN_DEADLINE_MINUTES)


def reflection_anchors(catalog: Catalog, prefix: str, stack: str) -> dict[str, dict[str, Any]]:
    """Each mart with a reflection: the physical datasets Dremio keeps its refresh policy on (the tables dbt builds
    under the mart's view, in the write-enabled lake source's silver bucket) and the catalog's refresh interval."""
    models = lineage.read_models()
    silver = naming.bucket_name(prefix, stack, "silver")
    return {
        mart.name: {"refreshPeriodMs": mart.reflection.refresh.minutes * 60_000,
                    "datasets": [[naming.DREMIO_LAKE_WRITE_SOURCE, silver, table]
                                 for table in lineage.dremio_tables_under(models, mart.name)]}
        for mart in catalog.marts if mart.reflection is not None
    }


def source_refresh_ms(catalog: Catalog) -> int:
    """The write-enabled lake source's reflection refresh period: the shortest of the marts' (an hour by default)."""
    periods = [mart.reflection.refresh.minutes * 60_000 for mart in catalog.marts if mart.reflection is not None]
    return min(periods, default=60 * 60_000)


def script(step: str) -> str:
    """A step's script, as the ConfigMap carries it."""
    return (SCRIPT_SOURCES / SCRIPT_FILES[step]).read_text()


def _plain(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": key, "value": value} for key, value in sorted(values.items())]


def _secret(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def syncs_environment(shape: BatchShape) -> list[dict[str, Any]]:
    timeout = int(deadline_minutes(shape.schedule) * 60 * SYNC_SHARE)
    return [*_plain({"AIRBYTE_URL": shape.airbyte.url, "AIRBYTE_CA_FILE": CA_FILE,
                     "AIRBYTE_WORKSPACE": shape.airbyte.workspace,
                     "BATCH_CONNECTIONS": ",".join(shape.airbyte.connections), "BATCH_RESULTS_FILE": RESULTS_FILE,
                     "POLL_SECONDS": str(POLL_SECONDS), "TIMEOUT_SECONDS": str(timeout)}),
            _secret("AIRBYTE_CLIENT_ID", SECRET, AIRBYTE_CLIENT_ID_KEY),
            _secret("AIRBYTE_CLIENT_SECRET", SECRET, AIRBYTE_CLIENT_SECRET_KEY)]


def dbt_environment(user: str, prefix: str, stack: str,
                    host: str = service_host(CLIENT_SERVICE, LAYER)) -> dict[str, str]:
    """The variables dbt/profiles.yml's `dremio` target and the bronze sources read, for one stack (the
    password comes from the runner's Secret); the lake's names are infra/model/naming.py's."""
    return {"DBT_TARGET": "dremio", "DBT_DREMIO_HOST": host, "DBT_DREMIO_PORT": str(WEB_PORT),
            "DBT_DREMIO_USER": user, **naming.dbt_dremio_environment(prefix, stack),
            "SSL_CERT_FILE": CA_FILE, "REQUESTS_CA_BUNDLE": CA_FILE}


def database_ca_file(access: RunHistoryAccess) -> str:
    return naming.POD_RDS_CA_FILE if access.rds_ca_file else CA_FILE


def dbt_step_environment(shape: BatchShape) -> list[dict[str, Any]]:
    access = shape.run_history
    environment = _plain({**dbt_environment("dbt", shape.prefix, shape.stack), "DBT_PROJECT_NAME": shape.project,
                          "RUN_HISTORY_PORT": str(access.port), "RUN_HISTORY_DATABASE": access.database,
                          "RUN_HISTORY_SSLROOTCERT": database_ca_file(access), "BATCH_RESULTS_FILE": RESULTS_FILE})
    environment.append({"name": "RUN_HISTORY_HOST", "value": access.host})
    return [*environment, _secret("DBT_DREMIO_PASSWORD", RUNNER_SECRET, "password"),
            _secret("RUN_HISTORY_USER", SECRET, RUN_HISTORY_USER_KEY),
            _secret("RUN_HISTORY_PASSWORD", SECRET, RUN_HISTORY_PASSWORD_KEY)]


def reflections_environment(shape: BatchShape) -> list[dict[str, Any]]:
    return [*_plain({"DREMIO_URL": f"https://{service_host(CLIENT_SERVICE, LAYER)}:{WEB_PORT}",
                     "DREMIO_CA_FILE": CA_FILE, "DREMIO_USERNAME": "dbt",
                     "REFLECTION_ANCHORS": json.dumps(shape.anchors, sort_keys=True)}),
            _secret("DREMIO_PASSWORD", RUNNER_SECRET, "password")]


def dashboards_environment(shape: BatchShape) -> list[dict[str, Any]]:
    """The bundle import's variables (images/dbt-runner/import_bundle.py) and the warm-up's: Superset's URL and the
    platform CA, the importer's login and the Dremio connection's password from the Secret the presentation layer
    writes here (optional, as the bundle: until the presentation layer exists the step reports itself skipped)."""
    def optional(name: str, key: str) -> dict[str, Any]:
        return {"name": name,
                "valueFrom": {"secretKeyRef": {"name": naming.SUPERSET_IMPORT_SECRET, "key": key, "optional": True}}}

    plain = {"SUPERSET_URL": naming.superset_url(), "SUPERSET_CA_FILE": CA_FILE,
             "BUNDLE_FILE": f"{BUNDLE_DIR}/{naming.SUPERSET_BUNDLE_FILE}",
             "BUNDLE_DATABASE_FILE": naming.SUPERSET_BUNDLE_DATABASE_FILE,
             "WARM_UP_DATABASE": naming.SUPERSET_DREMIO_DATABASE, "WARM_UP_TABLES": ",".join(shape.marts)}
    return [*_plain(plain), optional("SUPERSET_USERNAME", "username"), optional("SUPERSET_PASSWORD", "password"),
            optional("BUNDLE_DATABASE_PASSWORD", "database-password")]


def _step(name: str, shape: BatchShape, environment: list[dict[str, Any]], mounts: list[dict[str, Any]],
          resources: Resources = SMALL) -> dict[str, Any]:
    command = ["python", f"{SCRIPTS_DIR}/{SCRIPT_FILES[name]}"] if name in SCRIPT_FILES else ["python", IMPORT_SCRIPT]
    return {"name": name, "image": shape.image, "command": command, "env": environment,
            "resources": resources.values(), "securityContext": container_security(), "volumeMounts": mounts}


def pod(shape: BatchShape) -> dict[str, Any]:
    """The batch's pod: the steps in order (init containers, the last one the pod's container), credentials from
    Secrets, restricted security, no service account token (every call is to a service's own API)."""
    ca = {"name": "ca", "mountPath": CA_DIR, "readOnly": True}
    work = {"name": "work", "mountPath": "/tmp"}
    scripts = {"name": "scripts", "mountPath": SCRIPTS_DIR, "readOnly": True}
    init: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = [
        {"name": "ca", "secret": {"secretName": RUNNER_SECRET, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"name": "work", "emptyDir": {}},
        {"name": "scripts", "configMap": {"name": SCRIPTS_CONFIG_MAP}},
        {"name": "bundle", "configMap": {"name": naming.SUPERSET_BUNDLE_CONFIGMAP, "optional": True}},
    ]
    dbt_mounts = [ca, work, scripts]
    access = shape.run_history
    if access.rds_ca_file:
        if not access.rds_ca_image:
            raise ValueError("an RDS CA bundle path needs the image that ships it (`rds_ca_image`)")
        init.append({"name": "rds-ca", "image": access.rds_ca_image,
                     "command": ["cp", access.rds_ca_file, naming.POD_RDS_CA_FILE],
                     "resources": SMALL.values(), "securityContext": container_security(),
                     "volumeMounts": [{"name": "db-ca", "mountPath": naming.POD_DB_CA_DIR}]})
        volumes.append({"name": "db-ca", "emptyDir": {}})
        dbt_mounts.append({"name": "db-ca", "mountPath": naming.POD_DB_CA_DIR, "readOnly": True})
    if shape.airbyte.connections:
        init.append(_step(SYNCS, shape, syncs_environment(shape), [ca, work, scripts]))
    init.append(_step(DBT, shape, dbt_step_environment(shape), dbt_mounts, shape.dbt_resources))
    if shape.anchors:
        init.append(_step(REFLECTIONS, shape, reflections_environment(shape), [ca, work, scripts]))
    dashboards = _step(DASHBOARDS, shape, dashboards_environment(shape),
                       [ca, work, {"name": "bundle", "mountPath": BUNDLE_DIR, "readOnly": True}])
    return {"restartPolicy": "Never", "automountServiceAccountToken": False, "securityContext": pod_security(),
            "initContainers": init, "containers": [dashboards], "volumes": volumes}


def cronjob_spec(shape: BatchShape) -> dict[str, Any]:
    """One run at a time (a late one is skipped, not stacked), stopped at its deadline, one attempt: a retry would
    sync again, and the next run is the retry; the failure stays visible until a run succeeds."""
    return {
        "schedule": kubernetes_cron(shape.schedule),
        "timeZone": "Etc/UTC",
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {"metadata": {"labels": LABELS}, "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline_minutes(shape.schedule) * 60,
            "template": {"metadata": {"labels": LABELS}, "spec": pod(shape)},
        }},
    }


# ---- the per-connection series -------------------------------------------------------------------------------

SYNCS_TAG = "batch.syncs"
SYNCS_ROUTE = shipping.Route(SYNCS_TAG, JOB_LOGS, tuple(AIRBYTE_LOGS_FIELDS))
# The syncs step's JSON lines (`"sync": "failed"|"succeeded"`, `connection`, `at`): the time of each connection's
# latest outcome, per outcome. Gauges of a time rather than counters: the alert compares the newest failure with the
# newest success, which holds across shipper pods on different nodes, and a shipper that restarts forgets rather
# than re-raises.
SYNC_FAILED_AT = shipping.LogMetric(
    name="batch_sync_failed_timestamp_seconds", mode="gauge", match=SYNCS_TAG,
    description="When the batch last saw a sync of the connection fail (epoch seconds).", value_field="at",
    labels=("connection",), rules=(("Regex", "sync", r"^failed$"),))
SYNC_SUCCEEDED_AT = shipping.LogMetric(
    name="batch_sync_succeeded_timestamp_seconds", mode="gauge", match=SYNCS_TAG,
    description="When the batch last saw a sync of the connection succeed (epoch seconds).", value_field="at",
    labels=("connection",), rules=(("Regex", "sync", r"^succeeded$"),))

SYNCS_LOG_SOURCE = shipping.LogSource(
    name="batch",
    claims=(shipping.claim(*shipping.container_of(container=SYNCS), SYNCS_TAG),),
    parsers=(shipping.JSON_LINE,),
    routes=(SYNCS_ROUTE,),
    metrics=(SYNC_FAILED_AT, SYNC_SUCCEEDED_AT),
    filters=(
        shipping.parse(SYNCS_TAG, "log", shipping.JSON_LINE),
        SYNC_FAILED_AT.section(),
        SYNC_SUCCEEDED_AT.section(),
        shipping.modify(SYNCS_TAG, {}, {"service": "batch"}),
        shipping.allow(SYNCS_ROUTE),
    ),
)


# ---- alerts ------------------------------------------------------------------------------------------------------

RUNBOOKS = "docs/lakehouse.md"


def alert_rules(schedule: Schedule) -> list[AlertRule]:
    """The batch's alerts, each naming what is wrong: the step that failed (kube-state-metrics' per-container
    termination reasons of the run's pod, kubernetes/kube-state-metrics/docs/metrics/workload/pod-metrics.md:
    `kube_pod_init_container_status_terminated_reason` and `kube_pod_container_status_terminated_reason`
    {namespace, pod, container, reason}, and `kube_pod_created`), each connection whose sync failed, each stale
    source, and a batch without a success (also before the first, counted from the CronJob's creation;
    kubernetes/kube-state-metrics/docs/metrics/workload/cronjob-metrics.md: `kube_cronjob_created`,
    `kube_cronjob_status_last_successful_time`).

    A run's pod counts only while it is newer than the last successful run: failed Jobs are kept
    (`failedJobsHistoryLimit`), and one attempt per run (`backoffLimit: 0`) means a failed pod is a failed run."""
    where = f'namespace="{namespace_name(LAYER)}"'
    pods = f'{where}, pod=~"{BATCH}-[0-9]+-.+"'
    cronjob = f'{where}, cronjob="{BATCH}"'
    last_success = f"max by (namespace) (kube_cronjob_status_last_successful_time{{{cronjob}}})"
    created = f"max by (namespace, pod) (kube_pod_created{{{pods}}})"
    newer = f"({created} > on (namespace) group_left {last_success} or {created} unless on (namespace) {last_success})"
    failed = (f'(kube_pod_init_container_status_terminated_reason{{{pods}, reason!="Completed"}}'
              f' or kube_pod_container_status_terminated_reason{{{pods}, reason!="Completed"}})')
    late = (schedule.minutes + deadline_minutes(schedule) + LATE_GRACE_MINUTES) * 60
    hours = late / 3600
    failed_at, succeeded_at = SYNC_FAILED_AT.series, SYNC_SUCCEEDED_AT.series
    stale_at, fresh_at = STALE_AT.series, FRESH_AT.series
    rules = [
        AlertRule(
            "BatchStepFailed",
            f"max by (namespace, container, reason) ({failed} == 1 and on (namespace, pod) {newer})",
            "Step {{ $labels.container }} of the batch in {{ $labels.namespace }} failed "
            "({{ $labels.reason }}) and the steps after it did not run; the marts and dashboards are as the last "
            "successful run left them.",
            duration="0m", severity="critical",
        ),
        AlertRule(
            "BatchLate",
            f"time() - {last_success} > {late}"
            f" or (time() - max by (namespace) (kube_cronjob_created{{{cronjob}}}) > {late}"
            f" unless on (namespace) {last_success})",
            f"No batch run in {{{{ $labels.namespace }}}} has succeeded in the last {hours:g} h (CronJob {BATCH}).",
            duration="10m", severity="critical",
        ),
        AlertRule(
            "BatchSyncFailed",
            f"max by (connection) ({failed_at}) > on (connection) max by (connection) ({succeeded_at})"
            f" or max by (connection) ({failed_at}) unless on (connection) max by (connection) ({succeeded_at})",
            "The batch's sync of Airbyte connection {{ $labels.connection }} failed and none has succeeded since: "
            "bronze lacks its new data, and the batch stopped before dbt.",
            duration="0m", severity="critical",
        ),
        AlertRule(
            "DbtSourceStale",
            f"max by (source_name, table_name) ({stale_at}) > on (source_name, table_name)"
            f" max by (source_name, table_name) ({fresh_at})"
            f" or max by (source_name, table_name) ({stale_at})"
            f" unless on (source_name, table_name) max by (source_name, table_name) ({fresh_at})",
            "dbt source freshness found {{ $labels.source_name }}.{{ $labels.table_name }} stale at the last batch: "
            "no record newer than its freshness threshold.",
            duration="0m",
        ),
    ]
    return [replace(rule, runbooks=RUNBOOKS) for rule in rules]



def runner_resources(size: str) -> Resources:
    """The dbt step's resources by the lakehouse's size."""
    return SMALL if size == "small" else LARGE
