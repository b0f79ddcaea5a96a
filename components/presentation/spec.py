"""What the presentation layer renders, as plain data: Superset's workloads and configuration, the analyst
role's permissions, the asset bundle as checked in (its gold datasets are generated from the catalog's marts by
`make mart-assets`, see components/presentation/datasets.py), and the alerts.

Pure functions, no resources: `components/presentation/component.py` declares them, the tests pin them. Superset
runs from the platform's own manifests, not a chart (docs/decisions/0033-superset-without-a-chart.md).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.kit.cluster import server_certificate, service_dns_names
from components.kit.hardening import Resources, container_security, pod_security
from components.metadata.access import DatabaseLogin
from components.monitoring.component import AlertRule
from components.presentation import cache
from components.presentation.log_routes import RESPONSES
from infra.model import naming, yamlio
from infra.model.catalog import Catalog
from infra.model.naming import namespace_name

LAYER = "presentation"
RELEASE = naming.SUPERSET_SERVICE  # the product's name: labels, its database and login
WEB = naming.SUPERSET_WEB  # the web Deployment and the Service the providers and the batch call
WORKER = "superset-celery-worker"
SETUP_JOB = "superset-setup"
CONFIG_MAP = "superset-pythonpath"  # superset_config.py and the stack's CA, mounted read-only at CONFIG_DIR
CONFIG_DIR = "/app/pythonpath"
CONFIG_FILE = f"{CONFIG_DIR}/superset_config.py"
SUPERSET_HOME = "/app/superset_home"
# Celery's prefork children per worker pod. Its default is one per CPU of the node, each a whole Superset process,
# which on a large node outgrows any fixed memory limit; more throughput is more worker replicas.
CELERY_CONCURRENCY = 2
# Superset keeps its metadata in a database of its own in the metadata PostgreSQL.
DATABASE_LOGIN = DatabaseLogin(naming.SUPERSET_SERVICE, own_database=True)
HTTP_PORT = naming.SUPERSET_PORT
SUPERSET_UID = 1000  # the `superset` user of Superset's image
# Every pod's environment comes from this Secret (`envFrom`), which the layer writes: secret key, administrator
# password, metadata login.
ENV_SECRET = "superset-env"
ADMIN_USER = "platform-admin"
DATABASE_NAME = naming.SUPERSET_DREMIO_DATABASE
GOLD_SCHEMA = naming.DREMIO_MARTS_SCHEMA  # the lakehouse's marts space and folder, as Superset names the schema
ANALYST_ROLE = "analyst"
# The batch imports the asset bundle as this service user after a successful build. Its role may import
# assets, write what a bundle holds and warm its datasets' cache, nothing else: no SQL Lab, no users or roles, no
# menus.
IMPORTER_USER = "bundle-importer"
IMPORTER_ROLE = "bundle-importer"
# What the presentation layer writes into the runner's namespace: the zipped bundle and the import's logins.
BUNDLE_CONFIGMAP = naming.SUPERSET_BUNDLE_CONFIGMAP
BUNDLE_FILE = naming.SUPERSET_BUNDLE_FILE
IMPORT_SECRET = naming.SUPERSET_IMPORT_SECRET
ASSETS = Path(__file__).resolve().parent / "assets"
BUNDLE_FOLDER = "gold_marts"
# The key of the Dremio password in the import's `passwords` (the database file's path inside the bundle).
BUNDLE_DATABASE_FILE = naming.SUPERSET_BUNDLE_DATABASE_FILE
CA_KEY = "ca_bundle"  # the stack's CA, beside superset_config.py in CONFIG_MAP
CA_FILE = f"{CONFIG_DIR}/{CA_KEY}"
# Where the metadata server is RDS (prod) its certificate chains to the RDS CAs, not to the stack's: an `rds-ca`
# init container copies the RDS bundle out of the image that ships it (the metadata layer's `migrations` image)
# into the `db-ca` emptyDir, which every Superset container that opens the database mounts read-only here.
DB_CA_VOLUME = "db-ca"
DB_CA_DIR = naming.POD_DB_CA_DIR
RDS_CA_FILE = naming.POD_RDS_CA_FILE
INIT_RESOURCES = Resources(cpu="10m", memory="32Mi", cpu_limit="100m")  # one `cp`
WRITABLE = (("tmp", "/tmp"), ("superset-home", SUPERSET_HOME))
# Superset serves its UI and API over TLS itself: gunicorn reads extra arguments from GUNICORN_CMD_ARGS, and the
# certificate is cert-manager's, mounted from its Secret.
TLS_SECRET = "superset-tls"
TLS_DIR = "/app/tls"
GUNICORN_TLS = f"--certfile={TLS_DIR}/tls.crt --keyfile={TLS_DIR}/tls.key"


def metadata_database_override(ca_file: str) -> str:
    """The `metadata_database` override: the metadata database over TLS with the server verified against
    `ca_file` (`SupersetShape.database_ca_file`), host name included."""
    return f"""import os

SQLALCHEMY_DATABASE_URI = (
    f"postgresql+psycopg2://{{os.environ['DB_USER']}}:{{os.environ['DB_PASS']}}@{{os.environ['DB_HOST']}}:"
    f"{{os.environ['DB_PORT']}}/{{os.environ['DB_NAME']}}?sslmode=verify-full&sslrootcert={ca_file}"
)
"""


# superset_config.py's parts the same in every stack: the secret key and every credential come from the
# environment (the Secret above), the web app is hardened, Redis is verified TLS, and events go to stdout where
# Fluent Bit picks them up for the audit index (components/presentation/log_routes.py routes lines starting with
# {EVENT_KEY}). `config_overrides` adds the metadata database, whose CA depends on the stack.
CONFIG_OVERRIDES = {
    "secret": """import os
SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
""",
    "hardening": """DEBUG = False
FLASK_DEBUG = False
TALISMAN_ENABLED = True
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
WTF_CSRF_ENABLED = True
AUTH_USER_REGISTRATION = False
AUTH_USER_REGISTRATION_ROLE = "Public"
PREVENT_UNSAFE_DB_CONNECTIONS = True
""",
    # Every Redis client (cache, Celery broker and results, SQL Lab's results backend) from the environment
    # (`environment()`: Valkey's `superset` user, and REDIS_PASSWORD from the runtime's Secret), over TLS verified
    # against the stack's CA,
    # host name included.
    "redis": f"""import os
from urllib.parse import quote

from flask_caching.backends.rediscache import RedisCache

REDIS_BASE_URL = (f"rediss://{{os.environ['REDIS_USERNAME']}}:{{quote(os.environ['REDIS_PASSWORD'], safe='')}}@"
                  f"{{os.environ['REDIS_HOST']}}:{{os.environ['REDIS_PORT']}}")
REDIS_URL_PARAMS = "?ssl_cert_reqs=required&ssl_ca_certs={CA_FILE}&ssl_check_hostname=true"
CACHE_REDIS_URL = f"{{REDIS_BASE_URL}}/{{os.environ['REDIS_DB']}}{{REDIS_URL_PARAMS}}"
CELERY_REDIS_URL = f"{{REDIS_BASE_URL}}/{{os.environ['REDIS_CELERY_DB']}}{{REDIS_URL_PARAMS}}"
CACHE_CONFIG = {{"CACHE_TYPE": "RedisCache", "CACHE_DEFAULT_TIMEOUT": 300, "CACHE_KEY_PREFIX": "superset_",
                "CACHE_REDIS_URL": CACHE_REDIS_URL}}
DATA_CACHE_CONFIG = CACHE_CONFIG


class CeleryConfig:
    imports = ("superset.sql_lab",)
    broker_url = CELERY_REDIS_URL
    result_backend = CELERY_REDIS_URL


CELERY_CONFIG = CeleryConfig
RESULTS_BACKEND = RedisCache(host=os.environ["REDIS_HOST"], port=int(os.environ["REDIS_PORT"]),
                             username=os.environ["REDIS_USERNAME"], password=os.environ["REDIS_PASSWORD"],
                             key_prefix="superset_results", ssl=True,
                             ssl_cert_reqs="required", ssl_ca_certs="{CA_FILE}", ssl_check_hostname=True)
""",
    "event_log": """import json
from superset.utils.log import DBEventLogger


class AuditEventLogger(DBEventLogger):
    \"\"\"Superset's own log table, plus one JSON line per event for the log shipper's audit route.\"\"\"

    def log(self, user_id, action, dashboard_id, duration_ms, slice_id, referrer, *args, **kwargs):
        super().log(user_id, action, dashboard_id, duration_ms, slice_id, referrer, *args, **kwargs)
        for record in kwargs.get("records") or [{}]:
            event = {"superset_event": str(action), "actor": "anonymous" if user_id is None else str(user_id)}
            target = record.get("path") or record.get("object_ref") or dashboard_id or slice_id
            if target is not None:
                event["object"] = str(target)
            print(json.dumps(event), flush=True)


EVENT_LOGGER = AuditEventLogger()
""",
}


@dataclass(frozen=True)
class SupersetShape:
    """Everything that sizes and wires Superset's workloads in one stack."""

    image: str
    """`repository:tag[@sha256:...]` from images/digests.lock.json."""
    replicas: int
    resources: Resources
    redis_host: str
    redis_port: str
    rds_ca_image: str | None = None
    """prod: the platform image that ships the RDS CA bundle (the metadata layer's `migrations` image)."""
    rds_ca_file: str | None = None
    """prod: the bundle's path in that image (`metadata.caBundleFile`); None where PostgreSQL is in the cluster."""

    def database_ca_file(self) -> str:
        """The file the metadata database's server is verified against: the RDS bundle, or the stack's CA."""
        return RDS_CA_FILE if self.rds_ca_file else CA_FILE


# The order the parts are written in: each part imports what it uses, and a later assignment wins.
CONFIG_ORDER = ("secret", "hardening", "metadata_database", "redis", "event_log")


def config_overrides(database_ca_file: str) -> dict[str, str]:
    """Every part of superset_config.py by name, the metadata database verified against `database_ca_file`."""
    parts = {**CONFIG_OVERRIDES, "metadata_database": metadata_database_override(database_ca_file)}
    return {key: parts[key] for key in CONFIG_ORDER}


def server_url() -> str:
    """Superset's API as the providers reach it inside the cluster."""
    return naming.superset_url()


def certificate(issuer: str) -> dict[str, Any]:
    """The web app's certificate (cert-manager writes tls.crt, tls.key and ca.crt into TLS_SECRET)."""
    return server_certificate(TLS_SECRET, service_dns_names(WEB, LAYER), issuer)


def _https_probe(failure_threshold: int) -> dict[str, Any]:
    return {"httpGet": {"path": "/health", "port": "http", "scheme": "HTTPS"}, "initialDelaySeconds": 15,
            "timeoutSeconds": 1, "failureThreshold": failure_threshold, "periodSeconds": 15, "successThreshold": 1}


def superset_config(database_ca_file: str) -> str:
    """`superset_config.py` as the pods load it (SUPERSET_CONFIG_PATH): every part in CONFIG_ORDER, the metadata
    database verified against `database_ca_file`. No credential in it: each comes from the environment, so the
    file is a ConfigMap the pack and a reviewer can read."""
    parts = config_overrides(database_ca_file)
    return "\n".join(f"# ---- {key}\n{text.rstrip()}\n" for key, text in parts.items())


def labels(component: str) -> dict[str, str]:
    """The labels of one of Superset's workloads (`web`, `worker`, `setup`), its selector too."""
    return {"app.kubernetes.io/name": RELEASE, "app.kubernetes.io/component": component}


def init_containers(shape: SupersetShape) -> list[dict[str, Any]]:
    """The init containers of every pod that opens the metadata database: none in-cluster, `rds-ca` where the
    server is RDS. A new list each call, so no two pods share an object."""
    if not shape.rds_ca_file:
        return []
    if not shape.rds_ca_image:
        raise ValueError("an RDS CA bundle path needs the image that ships it (`rds_ca_image`)")
    return [{
        "name": "rds-ca", "image": shape.rds_ca_image, "imagePullPolicy": "IfNotPresent",
        "command": ["cp", shape.rds_ca_file, RDS_CA_FILE],
        "securityContext": container_security(run_as_user=SUPERSET_UID), "resources": INIT_RESOURCES.values(),
        "volumeMounts": [{"name": DB_CA_VOLUME, "mountPath": DB_CA_DIR}],
    }]


def environment(shape: SupersetShape) -> list[dict[str, Any]]:
    """Every Superset container's environment besides `superset-env` (envFrom): where its configuration is,
    the Redis endpoint its `redis` part reads, and Valkey's password from the Secret the runtime writes here."""
    plain = {"SUPERSET_CONFIG_PATH": CONFIG_FILE, "SUPERSET_HOME": SUPERSET_HOME, "SUPERSET_PORT": str(HTTP_PORT),
             "REDIS_HOST": shape.redis_host, "REDIS_PORT": shape.redis_port, "REDIS_DB": "1",
             "REDIS_CELERY_DB": "0", "REDIS_USERNAME": cache.SUPERSET_USER}
    return [*({"name": name, "value": value} for name, value in plain.items()),
            {"name": "REDIS_PASSWORD",
             "valueFrom": {"secretKeyRef": {"name": cache.AUTH_SECRET, "key": cache.PASSWORD_KEY}}}]


def _pod(shape: SupersetShape, container: dict[str, Any], *, serves: bool,
         extra_env: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """A restricted pod of Superset's image: uid 1000, read-only root with emptyDirs where it writes, the
    configuration and the stack's CA from the ConfigMap, the TLS Secret where it serves https."""
    mounts = [*({"name": name, "mountPath": path} for name, path in WRITABLE),
              {"name": "pythonpath", "mountPath": CONFIG_DIR, "readOnly": True}]
    volumes: list[dict[str, Any]] = [*({"name": name, "emptyDir": {}} for name, _ in WRITABLE),
                                     {"name": "pythonpath", "configMap": {"name": CONFIG_MAP}}]
    if serves:
        mounts.append({"name": "tls", "mountPath": TLS_DIR, "readOnly": True})
        volumes.append({"name": "tls", "secret": {"secretName": TLS_SECRET}})
    if shape.rds_ca_file:
        mounts.append({"name": DB_CA_VOLUME, "mountPath": DB_CA_DIR, "readOnly": True})
        volumes.append({"name": DB_CA_VOLUME, "emptyDir": {}})
    return {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(run_as_user=SUPERSET_UID, fs_group=SUPERSET_UID),
        "initContainers": init_containers(shape),
        "containers": [{
            "image": shape.image, "imagePullPolicy": "IfNotPresent",
            "env": [*environment(shape), *extra_env], "envFrom": [{"secretRef": {"name": ENV_SECRET}}],
            "resources": shape.resources.values(), "securityContext": container_security(),
            "volumeMounts": mounts, **container,
        }],
        "volumes": volumes,
    }


def _deployment(name: str, component: str, pod: dict[str, Any], replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace_name(LAYER), "labels": labels(component)},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels(component)},
                 "template": {"metadata": {"labels": labels(component)}, "spec": pod}},
    }


def setup_job(shape: SupersetShape) -> dict[str, Any]:
    """The Job that brings the metadata database to this image's schema and creates the administrator the
    providers log in with (its password from the environment). Its template names the image, so a new image is a
    new Job (a Job's template cannot change), run before the web and worker pods roll to it."""
    script = "\n".join([
        "set -eu", "superset db upgrade", "superset init",
        f'superset fab create-admin --username {ADMIN_USER} --firstname Platform --lastname Administrator '
        f'--email {ADMIN_USER}@platform.invalid --password "$SUPERSET_ADMIN_PASSWORD" || true',
    ])
    pod = _pod(shape, {"name": "setup", "command": ["/bin/sh", "-c", script]}, serves=False)
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": SETUP_JOB, "namespace": namespace_name(LAYER), "labels": labels("setup")},
        "spec": {"backoffLimit": 3, "activeDeadlineSeconds": 1800,
                 "template": {"metadata": {"labels": labels("setup")}, "spec": {**pod, "restartPolicy": "Never"}}},
    }


def workloads(shape: SupersetShape) -> list[dict[str, Any]]:
    """The web and Celery worker Deployments and the web Service (the setup Job is `setup_job`).

    The web pods run the image's `run-server.sh` (gunicorn, access log on stdout) over https: gunicorn takes the
    certificate from GUNICORN_CMD_ARGS. The workers run Celery for SQL Lab's asynchronous queries."""
    web = _pod(shape, {
        "name": "web", "command": ["/usr/bin/run-server.sh"],
        "ports": [{"name": "http", "containerPort": HTTP_PORT}],
        "startupProbe": _https_probe(60), "livenessProbe": _https_probe(3), "readinessProbe": _https_probe(3),
    }, serves=True, extra_env=({"name": "GUNICORN_CMD_ARGS", "value": GUNICORN_TLS},))
    worker = _pod(shape, {
        "name": "worker", "command": ["celery", "--app=superset.tasks.celery_app:app", "worker",
                                      f"--concurrency={CELERY_CONCURRENCY}"],
    }, serves=False)
    return [
        _deployment(WEB, "web", web, shape.replicas),
        _deployment(WORKER, "worker", worker, shape.replicas),
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": WEB, "namespace": namespace_name(LAYER), "labels": labels("web")},
         "spec": {"type": "ClusterIP", "selector": labels("web"),
                  "ports": [{"name": "https", "port": HTTP_PORT, "targetPort": "http"}]}},
    ]


def analyst_permissions(catalog: Catalog) -> list[list[str]]:
    """Read-only: dashboards, charts and datasets to look at, and the gold schema's data, nothing that writes."""
    if not any("gold" in role.reads for role in catalog.roles if role.name == ANALYST_ROLE):
        raise ValueError(f"the catalog's `{ANALYST_ROLE}` role does not read gold, so Superset's has nothing to read")
    return [
        ["can_read", "Dashboard"], ["can_read", "Chart"], ["can_read", "Dataset"],
        ["can_dashboard", "Superset"], ["can_explore_json", "Superset"],
        ["menu_access", "Dashboards"], ["menu_access", "Charts"],
        ["schema_access", f"[{DATABASE_NAME}].[{GOLD_SCHEMA}]"],
    ]


def importer_permissions() -> list[list[str]]:
    """The bundle importer's role: the assets import endpoint, the CSRF token every write needs, write on the
    four kinds of object a bundle holds (Superset's importer skips, or refuses, what the user may not write), and
    the datasets' cache warm-up the batch runs after the import (Superset 6.1's DatasetRestApi maps
    `warm_up_cache` to no read/write permission, so it is its own: `can_warm_up_cache` on Dataset)."""
    return [
        ["can_import_", "ImportExportRestApi"], ["can_read", "SecurityRestApi"],
        ["can_write", "Database"], ["can_write", "Dataset"], ["can_write", "Chart"], ["can_write", "Dashboard"],
        ["can_warm_up_cache", "Dataset"],
    ]


def bundle_datasets(root: Path = ASSETS) -> dict[str, dict[str, Any]]:
    """The asset bundle's datasets by table name, as checked in (one per mart, written by `make mart-assets`)."""
    return {document["table_name"]: document for document in
            (yamlio.load(path.read_text()) for path in sorted((root / "datasets").glob("*.yaml")))}


def bundle_charts(root: Path = ASSETS) -> dict[str, dict[str, Any]]:
    """The asset bundle's charts by uuid, as checked in."""
    return {document["uuid"]: document for document in
            (yamlio.load(path.read_text()) for path in sorted((root / "charts").glob("*.yaml")))}


def bundle_dashboards(root: Path = ASSETS) -> dict[str, dict[str, Any]]:
    """The asset bundle's dashboards by title, as checked in."""
    return {document["dashboard_title"]: document for document in
            (yamlio.load(path.read_text()) for path in sorted((root / "dashboards").glob("*.yaml")))}


def dashboard_chart_uuids(dashboard: dict[str, Any]) -> set[str]:
    """The uuids of the charts a dashboard's layout places."""
    return {node["meta"]["uuid"] for node in dashboard["position"].values()
            if isinstance(node, dict) and node.get("type") == "CHART"}


def bundle_database(root: Path = ASSETS) -> dict[str, Any]:
    """The bundle's Dremio connection; the provider creates it under the same uuid, so imports find it."""
    return yamlio.load((root / "databases" / f"{DATABASE_NAME}.yaml").read_text())


def bundle_zip(root: Path = ASSETS, database_uri: str | None = None, schema: str | None = None) -> bytes:
    """The asset bundle as Superset imports it: a zip whose files sit under one top-level folder.

    `database_uri` and `schema` re-point the bundle (the tests import it into a Superset whose data is in
    PostgreSQL); the runner imports it as checked in, from the ConfigMap the presentation layer writes.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(root.rglob("*.yaml")):
            document = yamlio.load(path.read_text())
            if database_uri is not None and path.parent.name == "databases":
                document["sqlalchemy_uri"] = database_uri
            if schema is not None and path.parent.name == "datasets":
                document["schema"] = schema
            # A fixed timestamp keeps the zip, and so the runner's ConfigMap, identical from one run to the next.
            entry = zipfile.ZipInfo(f"{BUNDLE_FOLDER}/{path.relative_to(root).as_posix()}", (2026, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(entry, yamlio.dump(document))
    return buffer.getvalue()


def alert_rules() -> list[AlertRule]:
    """The seed's API-error alert and Superset's health (runbooks in docs/presentation.md).

    Superset exports no Prometheus metrics; its web pods' availability is what kube-state-metrics sees. Responses
    are counted from gunicorn's access log by the log shipper (`log_metric_counter_superset_http_responses_total`,
    label `status_class`, the status code's first digit; components/presentation/log_routes.py), see the docs.
    """
    namespace = f'namespace="{namespace_name(LAYER)}"'
    responses = RESPONSES.series
    return [
        AlertRule(
            "SupersetApiErrors",
            f'sum(rate({responses}{{status_class="5"}}[5m])) '
            f"/ clamp_min(sum(rate({responses}[5m])), 1e-9) > 0.05",
            "More than 5% of Superset's API responses in the last 5 minutes were server errors.",
            duration="10m", severity="critical", runbooks="docs/presentation.md",
        ),
        AlertRule(
            "SupersetDown",
            f'kube_deployment_status_replicas_available{{{namespace},deployment="{WEB}"}} < 1',
            "Superset's web app has no available replica: dashboards and the API are down.",
            duration="5m", severity="critical", runbooks="docs/presentation.md",
        ),
    ]
