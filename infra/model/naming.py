"""Names that cross a layer, in one place: what one layer declares under a name and another layer reads by it.

Physical names (`<prefix>-<stack>-<role>`: buckets, identities, the stack's issuer), the layers' namespaces and
the services' cluster host names, where pods find the RDS CA bundle, the names under which the presentation
layer hands Superset's asset bundle to the dbt runner, and the Dremio names dbt reads on its `dremio` target
(the read-only lake source bronze is read through, the write-enabled source and the bucket its tables land in,
the space and folder its marts are views in). The dbt runner's environment is built here, and the defaults in
`dbt/profiles.yml` and in the generated bronze sources are this module's names for the `dev` stack of the
default prefix, which tests/dbt/test_dbt_dremio_names.py holds them to.
"""

from __future__ import annotations

# One namespace per layer; `system` holds the operators and shared services, `deploy` the in-cluster deployer.
LAYER_NAMESPACES: tuple[str, ...] = (
    "system",
    "storage",
    "metadata",
    "logs",
    "lakehouse",
    "ingestion",
    "presentation",
    "monitoring",
    "deploy",
)
# The RDS CA bundle (AWS's global bundle) as the platform's migrations image ships it; pods that open the RDS
# metadata database copy it from that image into an emptyDir mounted at POD_DB_CA_DIR.
RDS_CA_BUNDLE = "/etc/dataplatform/rds-global-bundle.pem"
POD_DB_CA_DIR = "/etc/dataplatform/db-ca"
POD_RDS_CA_FILE = f"{POD_DB_CA_DIR}/rds-ca.pem"
# The log shipper's webhook input takes its tag from the URL path: MinIO (run by the runtime in dev) posts its
# audit events to it under this tag, and the storage layer's log source routes them (components/storage/log_routes.py).
MINIO_AUDIT_TAG = "minio.audit"
# What the presentation layer writes into the dbt runner's namespace: the zipped asset bundle (a ConfigMap) and
# the import's logins (a Secret); the runner imports the bundle after a successful build.
SUPERSET_SERVICE = "superset"
SUPERSET_WEB = "superset-web"  # Superset's web Deployment and Service (its API)
SUPERSET_PORT = 8088
# Airbyte's API as the platform reaches it: the TLS front of its server pod (components/ingestion/spec.py).
AIRBYTE_API_TLS_PORT = 8443
# Prometheus's authenticating TLS front (components/runtime/prometheus_front.py): where its readers connect.
PROMETHEUS_READER_PORT = 9443
SUPERSET_BUNDLE_CONFIGMAP = "superset-asset-bundle"
# The role of the bucket the platform keeps backups in (components/metadata/backups.py declares it); Dremio's
# coordinator writes its own backups under a prefix of it (components/lakehouse/spec.py).
BACKUPS_BUCKET_ROLE = "backups"
SUPERSET_BUNDLE_FILE = "gold_marts.zip"
SUPERSET_IMPORT_SECRET = "superset-bundle-import"
# Superset's database connection to Dremio, and its file in the bundle (the key of its password in an import).
SUPERSET_DREMIO_DATABASE = "dremio"
SUPERSET_BUNDLE_DATABASE_FILE = f"databases/{SUPERSET_DREMIO_DATABASE}.yaml"


def physical_name(prefix: str, stack: str, role: str) -> str:
    """The physical name of a stack's object: `<prefix>-<stack>-<role>`."""
    return f"{prefix}-{stack}-{role}"


def bucket_name(prefix: str, stack: str, role: str) -> str:
    """Bucket name for a layer or platform bucket: `<prefix>-<stack>-<role>`."""
    return physical_name(prefix, stack, role)


def stack_issuer(prefix: str, stack: str) -> str:
    """The ClusterIssuer of the stack's own CA (where no organisation CA is configured)."""
    return physical_name(prefix, stack, "ca")


def namespace_name(layer: str) -> str:
    """Physical namespace of a layer: `dp-<layer>`."""
    if layer not in LAYER_NAMESPACES:
        raise ValueError(f"'{layer}' is not a platform layer; use one of {', '.join(LAYER_NAMESPACES)}")
    return f"dp-{layer}"


def service_host(service: str, layer: str) -> str:
    """Cluster DNS name of a service in a layer's namespace (what providers and TLS certificates use)."""
    return f"{service}.{namespace_name(layer)}.svc.cluster.local"


def superset_url() -> str:
    """Superset's API as the providers and the dbt runner reach it inside the cluster."""
    return f"https://{service_host(SUPERSET_WEB, 'presentation')}:{SUPERSET_PORT}"

# Dremio sources over the lake (components/lakehouse/component.py declares them): `lake` reads every flow layer's
# bucket, `lake_write` may write silver and gold. Both have the object store's root as their root path, so a path in
# them starts with the bucket: `lake."<prefix>-<stack>-bronze".<source>.<stream>`.
DREMIO_LAKE_SOURCE = "lake"
DREMIO_LAKE_WRITE_SOURCE = "lake_write"
# The space marts are views in, and its folder; Superset names that schema `gold.marts`.
DREMIO_MARTS_SPACE = "gold"
DREMIO_MARTS_FOLDER = "marts"
DREMIO_MARTS_SCHEMA = f"{DREMIO_MARTS_SPACE}.{DREMIO_MARTS_FOLDER}"
# What dbt's local defaults are written for (dbt/profiles.yml): the default prefix's dev stack.
DEFAULT_PREFIX = "dataplatform"
DEFAULT_STACK = "dev"


def dbt_dremio_environment(prefix: str, stack: str) -> dict[str, str]:
    """Every name dbt's `dremio` target reads from the environment, for one stack (host, login and password are
    the lakehouse layer's; see components/lakehouse/batch.py `dbt_environment`)."""
    return {
        "DBT_DREMIO_BRONZE_SOURCE": DREMIO_LAKE_SOURCE,
        "DBT_DREMIO_BRONZE_BUCKET": bucket_name(prefix, stack, "bronze"),
        "DBT_DREMIO_LAKE_SOURCE": DREMIO_LAKE_WRITE_SOURCE,
        "DBT_DREMIO_LAKE_PATH": bucket_name(prefix, stack, "silver"),
        "DBT_DREMIO_SPACE": DREMIO_MARTS_SPACE,
        "DBT_DREMIO_SPACE_FOLDER": DREMIO_MARTS_FOLDER,
    }
