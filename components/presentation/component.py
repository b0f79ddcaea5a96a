"""Presentation layer: `Presentation`, Superset deployed and configured for the gold marts.

Example (inside a Pulumi program)::

    presentation = Presentation(
        "presentation", config.presentation, catalog, cluster,
        database=MetadataConnection.from_metadata(metadata),
        lakehouse=DremioAccess.from_lakehouse(lakehouse),
    )

What it declares (components/presentation/spec.py renders the workloads, configuration and permissions):
1. Superset's workloads, declared by the platform (no chart: docs/decisions/0033-superset-without-a-chart.md):
   the setup Job (`superset db upgrade`, `superset init`, the administrator), the web Deployment and Service
   serving https with a cert-manager certificate, and the Celery worker Deployment, all on the platform's own
   image (Superset plus the Dremio Flight dialect, pinned from images/digests.lock.json); `superset_config.py` in
   a ConfigMap: metadata in the metadata layer's `superset` database over verified TLS (against the stack's CA,
   or in prod the RDS CA bundle an `rds-ca` init container copies from the `migrations` image), cache and Celery
   broker on the runtime's Redis over TLS, Talisman on, secure HTTP-only cookies, CSRF on, no self-registration,
   debug off, and the event log on stdout, where the runtime's log shipper collects it for the audit index. The
   generated secret key and administrator password and the metadata login are in the `superset-env` Secret.
2. Through the dynamic providers (components/presentation/provider.py): the Dremio connection over Arrow Flight
   with encryption and certificate verification on (DML, CTAS/CVAS and file upload off) as the lakehouse's
   `superset` service user, the `analyst` role, read-only on the gold schema, and the `bundle-importer` service
   user, whose role may only import assets.
3. Alerts for API errors and availability, with runbooks in docs/presentation.md.

Datasets, charts and a dashboard for the gold marts are the asset bundle in components/presentation/assets/,
imported by the batch after it builds the marts: the layer writes the zipped bundle (ConfigMap
`superset-asset-bundle`) and the importer's login (Secret `superset-bundle-import`) into the runner's namespace.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.kit.base import child_options, type_token
from components.kit.cluster import ClusterContext
from components.kit.hardening import Resources
from components.kit.images import platform_image
from components.metadata.component import MetadataConnection
from components.monitoring.component import Monitoring
from components.presentation import cache, spec
from components.presentation import provider as superset
from components.presentation.config import PresentationSettings
from infra.model.catalog import Catalog

if TYPE_CHECKING:
    from components.lakehouse.component import Lakehouse

# Each Superset pod's requests and limits by `presentation.size`. One Superset 6.1 application process holds about
# 270 MiB once started (measured: `create_app()` in the Superset the tests install); the web pod adds gunicorn's
# master and its threads' query results, the worker two Celery children (spec.CELERY_CONCURRENCY), the setup Job
# the migrations. 1 GiB is the least that leaves room for results; the kit's generic sizes (128 to 1024 MiB) would
# have the kernel kill the web pod before it answers its first probe.
SIZES: dict[str, Resources] = {
    "small": Resources(cpu="250m", memory="1Gi", cpu_limit="1"),
    "medium": Resources(cpu="500m", memory="2Gi", cpu_limit="2"),
    "large": Resources(cpu="1", memory="4Gi", cpu_limit="4"),
}
METADATA_DATABASE = spec.DATABASE_LOGIN.service
SERVICE_USER = "superset"
RUNNER_LAYER = "lakehouse"  # the batch, which imports the asset bundle, runs in the lakehouse's namespace


@dataclass(frozen=True)
class DremioAccess:
    """Dremio's Arrow Flight endpoint and the lakehouse's `superset` service user ({username, password})."""

    host: str
    port: int
    username: str
    """The service user's name; the lakehouse names its service users after the service."""
    password: pulumi.Input[str]

    @classmethod
    def from_lakehouse(cls, lakehouse: Lakehouse) -> DremioAccess:
        """The Flight endpoint (`grpc+tls://host:port`) and the `superset` service user of `Lakehouse`."""
        host, _, port = lakehouse.endpoints["flight"].removeprefix("grpc+tls://").rpartition(":")
        login = lakehouse.service_users[SERVICE_USER]
        return cls(host=host, port=int(port), username=SERVICE_USER,
                   password=pulumi.Output.secret(login.apply(lambda found: found["password"])))


class Presentation(pulumi.ComponentResource):
    """Superset's workloads, its Dremio connection, the analyst role, and its alerts."""

    api_url: str

    def __init__(
        self,
        name: str,
        config: PresentationSettings,
        catalog: Catalog,
        cluster: ClusterContext,
        database: MetadataConnection,
        lakehouse: DremioAccess,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("presentation", "Presentation"), name, None, opts)
        self._name, self._cluster = name, cluster
        namespace = cluster.namespaces[spec.LAYER]
        # Its Valkey, which the runtime runs for it (components/presentation/cache.py).
        shape = spec.SupersetShape(image=platform_image("superset", cluster.images), replicas=cluster.replicas,
                                   resources=SIZES[config.size], redis_host=cache.HOST, redis_port=str(cache.PORT),
                                   rds_ca_image=database.rds_ca_image, rds_ca_file=database.rds_ca_file)
        admin_password = self._random("admin-password", 32)
        environment = self._environment(namespace, database, admin_password)
        certificate = k8s.apiextensions.CustomResource(
            f"{name}-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={"name": spec.TLS_SECRET, "namespace": namespace},
            spec=spec.certificate(cluster.issuer),
            opts=self._k8s(depends_on=cluster.after("cert-manager")),
        )
        workloads = self._workloads(shape, namespace, [environment, certificate])
        self.api_url = spec.server_url()
        connection = pulumi.Output.secret(pulumi.Output.all(admin_password, cluster.ca_pem).apply(
            lambda values: {"url": self.api_url, "username": spec.ADMIN_USER, "password": values[0],
                            "ca_pem": values[1]}))
        after_workloads = child_options(self, depends_on=workloads)
        database = superset.Database(
            f"{name}-database-dremio", connection, spec.DATABASE_NAME,
            superset.dremio_uri(lakehouse.host, lakehouse.port, lakehouse.username),
            pulumi.Output.secret(lakehouse.password), uuid=spec.bundle_database()["uuid"], opts=after_workloads)
        # The analyst role grants the gold schema: Superset knows schema permissions once a database is saved.
        superset.Role(f"{name}-role-analyst", connection, spec.ANALYST_ROLE, spec.analyst_permissions(catalog),
                      opts=child_options(self, depends_on=[*workloads, database]))
        self._bundle_import(connection, lakehouse, after_workloads)
        Monitoring(f"{name}-monitoring", cluster, targets=[], rules=spec.alert_rules(),
                   opts=child_options(self))
        self.register_outputs({"apiUrl": self.api_url})

    def _bundle_import(self, connection: pulumi.Output[dict], lakehouse: DremioAccess,
                       after_workloads: pulumi.ResourceOptions) -> None:
        """What the batch needs to import the asset bundle after a build, written into its namespace: the
        zipped bundle (ConfigMap) and the logins (Secret) of a service user whose role may import assets and write
        what a bundle holds, and nothing else, plus the Dremio password the bundle's database entry needs."""
        role = superset.Role(f"{self._name}-role-importer", connection, spec.IMPORTER_ROLE,
                             spec.importer_permissions(), opts=after_workloads)
        password = self._random("importer-password", 32)
        superset.User(
            f"{self._name}-user-importer", connection, spec.IMPORTER_USER, password, roles=[spec.IMPORTER_ROLE],
            email=f"{spec.IMPORTER_USER}@platform.invalid", first_name="Bundle", last_name="Importer",
            opts=child_options(self, depends_on=[role]))
        runner_namespace = self._cluster.namespaces[RUNNER_LAYER]
        k8s.core.v1.ConfigMap(
            f"{self._name}-asset-bundle",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.BUNDLE_CONFIGMAP, namespace=runner_namespace),
            binary_data={spec.BUNDLE_FILE: base64.b64encode(spec.bundle_zip()).decode()},
            opts=self._k8s(),
        )
        self._cluster.secret(self, f"{self._name}-import-secret", spec.IMPORT_SECRET, runner_namespace, {
            "username": spec.IMPORTER_USER, "password": password,
            "database-password": pulumi.Output.secret(lakehouse.password)})

    def _workloads(self, shape: spec.SupersetShape, namespace: pulumi.Input[str],
                   needs: list[pulumi.Resource]) -> list[pulumi.Resource]:
        """superset_config.py and the stack's CA (ConfigMap), the setup Job, then the web and worker Deployments
        and the web Service: the pods start only once the Job has brought the database to their image's schema."""
        config = k8s.core.v1.ConfigMap(
            f"{self._name}-{spec.CONFIG_MAP}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.CONFIG_MAP, namespace=namespace,
                                                labels={"app.kubernetes.io/name": spec.RELEASE}),
            data={"superset_config.py": spec.superset_config(shape.database_ca_file()),
                  spec.CA_KEY: self._cluster.ca_pem},
            opts=self._k8s(),
        )
        job = spec.setup_job(shape)
        setup = k8s.batch.v1.Job(
            f"{self._name}-{spec.SETUP_JOB}", metadata={**job["metadata"], "namespace": namespace}, spec=job["spec"],
            opts=self._k8s(depends_on=[*needs, config]))
        declared: list[pulumi.Resource] = []
        for manifest in spec.workloads(shape):
            metadata = {**manifest["metadata"], "namespace": namespace}
            name = manifest["metadata"]["name"]
            if manifest["kind"] == "Deployment":
                declared.append(k8s.apps.v1.Deployment(f"{self._name}-{name}", metadata=metadata,
                                                       spec=manifest["spec"], opts=self._k8s(depends_on=[setup])))
            else:
                declared.append(k8s.core.v1.Service(f"{self._name}-{name}-service", metadata=metadata,
                                                    spec=manifest["spec"], opts=self._k8s()))
        return declared

    def _k8s(self, **extra) -> pulumi.ResourceOptions:
        return self._cluster.options(self, **extra)

    def _random(self, role: str, length: int) -> pulumi.Output[str]:
        generated = random.RandomPassword(f"{self._name}-{role}", length=length, special=False,
                                          opts=child_options(self))
        return pulumi.Output.secret(generated.result)

    def _environment(self, namespace: pulumi.Input[str], database: MetadataConnection,
                     admin_password: pulumi.Output[str]) -> k8s.core.v1.Secret:
        """Every pod's environment: the secret key, the administrator's password and the metadata login."""
        login = pulumi.Output.from_input(database.credentials).apply(lambda found: found[METADATA_DATABASE])
        return k8s.core.v1.Secret(
            f"{self._name}-env-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.ENV_SECRET, namespace=namespace),
            type="Opaque",
            string_data={
                "SUPERSET_SECRET_KEY": self._random("secret-key", 64),
                "SUPERSET_ADMIN_PASSWORD": admin_password,
                "DB_HOST": database.host,
                "DB_PORT": str(database.port),
                "DB_NAME": METADATA_DATABASE,
                "DB_USER": login.apply(lambda found: found["username"]),
                "DB_PASS": pulumi.Output.secret(login.apply(lambda found: found["password"])),
            },
            opts=self._k8s(additional_secret_outputs=["stringData", "data"]),
        )
