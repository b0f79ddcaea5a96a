"""Lakehouse layer: `Lakehouse`, Dremio deployed and configured, the batch and the consumers' access.

Example (inside a Pulumi program)::

    lakehouse = Lakehouse(
        "lakehouse", config.lakehouse, catalog, cluster, config.identity, config.object_store,
        lake=LakeAccess.from_lake(lake), airbyte=ingestion.batch_access,
        run_history=DatabaseAccess(host=metadata.host, port=metadata.port, database="platform",
                                   credentials=metadata.credentials["dbt"]),
        metadata=DatabaseAccess(host=metadata.host, port=metadata.port, database="platform",
                                credentials=metadata.credentials["dremio"]),   # optional
    )
    lakehouse.endpoints   # {"rest": "https://dremio-client...:9047", "flight": "grpc+tls://...:32010"}

What it declares (components/lakehouse/spec.py renders the bodies; decision 0011 says why there is no chart):
1. Dremio's workloads: generated administrator, keystore and service passwords; a cert-manager certificate with
   a PKCS#12 keystore for web and Flight TLS; the distributed store's core-site.xml in a Secret; the coordinator
   and executor StatefulSets sized by the `lakehouse` section of the stack config; ClusterIP services only.
2. Dremio's configuration through the dynamic providers (components/lakehouse/provider.py): the first
   administrator, service users for dbt and Superset, the lake twice (read-only over every layer; write-enabled
   over silver and gold for dbt), the PostgreSQL source with full TLS verification, a space per flow layer, and,
   on Enterprise, the catalog's roles and least-privilege grants. A Community stack declares no grants, and the
   policy pack reports the gap. No Elasticsearch source: Dremio's connector cannot talk to the 9.x logs cluster
   (docs/decisions/0028-dremio-editions-and-the-logs-source.md).
3. The batch (components/lakehouse/batch.py): one Job per run of the catalog's transformation schedule whose pod
   syncs the marts' sources through Airbyte, runs `dbt build` (its run recorded in `platform.dbt_run_history`),
   refreshes the marts' reflections and imports and warms Superset's dashboards, in that order, each step only once
   the one before succeeded; and the alerts: slow queries (from the query log Fluent Bit ships), Dremio's health,
   the batch's failed step, late run, failed syncs and stale sources, each with a runbook in docs/lakehouse.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.ingestion.component import AirbyteClientAccess
from components.kit.base import child_options, type_token
from components.kit.cluster import ClusterContext
from components.kit.hardening import Resources
from components.kit.images import platform_image
from components.lakehouse import batch, spec
from components.lakehouse import provider as dremio
from components.lakehouse.config import LakehouseSettings
from components.monitoring.component import Monitoring
from components.storage.component import LakeAccess
from infra.model import naming
from infra.model.catalog import FLOW_LAYERS, Catalog
from infra.model.config import ObjectStore
from infra.model.naming import bucket_name, service_host
from infra.model.sections import StackIdentity

SIZES: dict[str, tuple[Resources, Resources]] = {
    "small": (Resources(cpu="1", memory="4Gi", cpu_limit="2"), Resources(cpu="1", memory="4Gi", cpu_limit="2")),
    "medium": (Resources(cpu="2", memory="8Gi", cpu_limit="4"), Resources(cpu="4", memory="16Gi", cpu_limit="4")),
    "large": (Resources(cpu="4", memory="16Gi", cpu_limit="8"), Resources(cpu="8", memory="32Gi", cpu_limit="8")),
}
SERVICE_DOMAIN = "platform.invalid"  # service users' e-mail domain: Dremio requires one, nobody reads it


def dremio_shape(config: LakehouseSettings, stack: StackIdentity, store: ObjectStore, storage_class: str | None,
                 rds_ca_file: str | None = None, rds_ca_image: str | None = None) -> spec.DremioShape:
    """What sizes and names Dremio's workloads: edition, sizes, the `dremio-store` bucket on the object store, and
    the RDS CA bundle where the metadata server is RDS."""
    coordinator, executor = SIZES[config.size]
    return spec.DremioShape(edition=config.edition, version=config.version, coordinator=coordinator,
                            executor=executor, executors=config.executors, volume_gib=config.volume_gib,
                            storage_class=storage_class,
                            store_bucket=bucket_name(stack.name_prefix, stack.stack, spec.STORE_BUCKET.role),
                            store_endpoint=store.server, store_region=store.region,
                            rds_ca_image=rds_ca_image, rds_ca_file=rds_ca_file)


@dataclass(frozen=True)
class DatabaseAccess:
    """Dremio's read-only PostgreSQL login on the metadata database."""

    host: pulumi.Input[str]
    port: int
    database: str
    credentials: pulumi.Input[dict[str, str]]
    """{username, password}."""
    rds_ca_file: str | None = None
    """RDS: the CA bundle's path inside `rds_ca_image`, imported into Dremio's truststore; None where the server's
    certificate chains to the stack's CA."""
    rds_ca_image: str | None = None
    """RDS: the platform image that ships the bundle."""


class Lakehouse(pulumi.ComponentResource):
    """Dremio (workloads and configuration), the batch, consumer endpoints and alerts."""

    endpoints: dict[str, str]
    service_users: dict[str, pulumi.Output[dict[str, str]]]

    def __init__(
        self,
        name: str,
        config: LakehouseSettings,
        catalog: Catalog,
        cluster: ClusterContext,
        stack: StackIdentity,
        store: ObjectStore,
        lake: LakeAccess,
        airbyte: AirbyteClientAccess,
        run_history: DatabaseAccess,
        metadata: DatabaseAccess | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("lakehouse", "Lakehouse"), name, None, opts)
        self._name, self._config, self._cluster, self._stack, self._store = name, config, cluster, stack, store
        self._catalog = catalog
        self._namespace = cluster.namespaces[spec.LAYER]
        rds_ca = (metadata.rds_ca_file, metadata.rds_ca_image) if metadata is not None else (None, None)
        shape = dremio_shape(config, stack, store, cluster.storage_class, *rds_ca)
        passwords = {role: self._password(role) for role in ("admin", "keystore", "dbt", "superset")}
        workloads = self._workloads(shape, lake, passwords["keystore"])
        connection = pulumi.Output.secret(pulumi.Output.all(passwords["admin"], cluster.ca_pem).apply(
            lambda values: {"url": f"https://{service_host(spec.CLIENT_SERVICE, spec.LAYER)}:{spec.WEB_PORT}",
                            "username": config.admin_user, "password": values[0], "ca_pem": values[1]}))
        admin = dremio.FirstAdmin(f"{name}-admin", connection, email=f"{config.admin_user}@{SERVICE_DOMAIN}",
                                  opts=child_options(self, depends_on=workloads))
        after_admin = child_options(self, depends_on=[admin])
        users = {
            service: dremio.User(f"{name}-user-{service}", connection, service, passwords[service],
                                 email=f"{service}@{SERVICE_DOMAIN}", first_name=service, edition=config.edition,
                                 opts=after_admin)
            for service in ("dbt", "superset")
        }
        sources = self._sources(connection, lake, metadata, after_admin)
        spaces = {layer: dremio.Space(f"{name}-space-{layer}", connection, layer, opts=after_admin)
                  for layer in FLOW_LAYERS}
        dremio.Folder(f"{name}-folder-gold-marts", connection, [naming.DREMIO_MARTS_SPACE, *spec.SPACE_FOLDERS],
                      opts=child_options(self, depends_on=[spaces[naming.DREMIO_MARTS_SPACE]]))
        if config.edition == "enterprise":
            self._grants(catalog, connection, users, spaces, sources, after_admin)
        self._batch(catalog, users["dbt"], passwords["dbt"], airbyte, run_history)
        self._backup(passwords["admin"], admin)
        Monitoring(
            f"{name}-monitoring", cluster,
            # The query-duration histogram and the batch's sync and freshness series are the log shipper's: the
            # runtime scrapes its exporter (components/monitoring/component.py base_targets).
            targets=[],
            rules=[*spec.alert_rules(config.slow_query_seconds),
                   *batch.alert_rules(catalog.transformations.schedule),
                   *spec.backup_alert_rules(config.backup.schedule.minutes)],
            opts=child_options(self),
        )
        host = service_host(spec.CLIENT_SERVICE, spec.LAYER)
        self.endpoints = {"rest": f"https://{host}:{spec.WEB_PORT}", "flight": f"grpc+tls://{host}:{spec.FLIGHT_PORT}"}
        self.service_users = {
            service: pulumi.Output.secret(pulumi.Output.all(users[service].key, passwords[service]).apply(
                lambda values: {"username": values[0], "password": values[1]}))
            for service in ("dbt", "superset")
        }
        self.register_outputs({"endpoints": self.endpoints, "edition": config.edition,
                               "sources": sorted(sources), "serviceUsers": self.service_users})

    # ---- plumbing -----------------------------------------------------------------------------------

    def _k8s(self, **extra) -> pulumi.ResourceOptions:
        return self._cluster.options(self, **extra)

    def _password(self, role: str) -> pulumi.Output[str]:
        # Dremio wants letters and digits; no specials keeps the password safe in HOCON, XML and env vars.
        password = random.RandomPassword(f"{self._name}-{role}-password", length=32, special=False, min_numeric=2,
                                         min_lower=2, min_upper=2, opts=child_options(self))
        return pulumi.Output.secret(password.result)

    def _secret(self, role: str, secret_name: str, data: dict[str, pulumi.Input[str]]) -> k8s.core.v1.Secret:
        return self._cluster.secret(self, f"{self._name}-{role}-secret", secret_name, self._namespace, data)

    # ---- workloads ----------------------------------------------------------------------------------

    def _workloads(self, shape: spec.DremioShape, lake: LakeAccess,
                   keystore_password: pulumi.Output[str]) -> list[pulumi.Resource]:
        name = self._name
        keystore = self._secret("keystore", spec.KEYSTORE_SECRET, {spec.KEYSTORE_KEY: keystore_password})
        certificate = k8s.apiextensions.CustomResource(
            f"{name}-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={"name": spec.TLS_SECRET, "namespace": self._namespace},
            spec=spec.certificate(self._cluster.issuer),
            opts=self._k8s(depends_on=[keystore, *self._cluster.after("cert-manager")]),
        )
        store_keys = pulumi.Output.from_input(lake.credentials).apply(lambda found: found[spec.STORE_BUCKET.writer])
        core_site = pulumi.Output.secret(store_keys.apply(
            lambda keys: spec.core_site(shape, keys["access_key_id"], keys["secret_access_key"])))
        store = self._secret("store", spec.STORE_SECRET, {"core-site.xml": core_site})
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.CONFIG_MAP, namespace=self._namespace,
                                                labels={"app.kubernetes.io/name": "dremio"}),
            data={"dremio.conf": spec.dremio_conf(shape)},
            opts=self._k8s(),
        )
        ready = []
        for manifest in spec.workloads(shape):
            metadata = {**manifest["metadata"], "namespace": self._namespace}
            role = manifest["metadata"]["name"]
            if manifest["kind"] == "StatefulSet":
                ready.append(k8s.apps.v1.StatefulSet(
                    f"{name}-{role}", metadata=metadata, spec=manifest["spec"],
                    opts=self._k8s(depends_on=[certificate, store, config_map, keystore])))
            else:
                ready.append(k8s.core.v1.Service(f"{name}-{role}-service", metadata=metadata, spec=manifest["spec"],
                                                 opts=self._k8s()))
        return ready

    # ---- configuration ------------------------------------------------------------------------------

    def _sources(self, connection: pulumi.Output[dict], lake: LakeAccess, metadata: DatabaseAccess | None,
                 opts: pulumi.ResourceOptions) -> dict[str, dremio.Source]:
        store = self._store
        endpoint, region = store.server, store.region if store.server else None
        lake_inputs = pulumi.Output.all(pulumi.Output.from_input(lake.bucket_names),
                                        pulumi.Output.unsecret(pulumi.Output.from_input(lake.credentials)))

        def lake_entity(source: str, identity: str, layers: tuple[str, ...],
                        refresh_ms: int = dremio.DEFAULT_REFRESH_MS) -> pulumi.Output[dict]:
            return lake_inputs.apply(lambda values: dremio.s3_source(
                source, values[1][identity]["access_key_id"], [values[0][layer] for layer in layers],
                endpoint=endpoint, region=region, refresh_ms=refresh_ms))

        def lake_secret(identity: str) -> pulumi.Output[dict]:
            return pulumi.Output.secret(pulumi.Output.from_input(lake.credentials).apply(
                lambda found: {"accessSecret": found[identity]["secret_access_key"]}))

        sources = {
            spec.LAKE_SOURCE: dremio.Source(
                f"{self._name}-source-lake", connection, lake_entity(spec.LAKE_SOURCE, "query-engine", FLOW_LAYERS),
                lake_secret("query-engine"), opts=opts),
            spec.LAKE_WRITE_SOURCE: dremio.Source(
                f"{self._name}-source-lake-write", connection,
                # The tables dbt builds under the marts are this source's: their reflections refresh at the
                # catalog's shortest mart interval until the batch sets each table's own (lakehouse/batch.py).
                lake_entity(spec.LAKE_WRITE_SOURCE, "transformation", ("silver", "gold"),
                            batch.source_refresh_ms(self._catalog)),
                lake_secret("transformation"), opts=opts),
        }
        if metadata is not None:
            login = pulumi.Output.from_input(metadata.credentials)
            entity = pulumi.Output.all(metadata.host, pulumi.Output.unsecret(login)).apply(
                lambda values: dremio.postgres_source(spec.METADATA_SOURCE, values[0], metadata.port,
                                                      metadata.database, values[1]["username"]))
            sources[spec.METADATA_SOURCE] = dremio.Source(
                f"{self._name}-source-metadata", connection, entity,
                pulumi.Output.secret(login.apply(lambda found: {"password": found["password"]})), opts=opts)
        return sources

    def _grants(self, catalog: Catalog, connection: pulumi.Output[dict], users: dict[str, dremio.User],
                spaces: dict[str, dremio.Space], sources: dict[str, dremio.Source],
                opts: pulumi.ResourceOptions) -> None:
        grants = spec.space_grants(catalog)
        roles = [dremio.Role(f"{self._name}-role-{role.replace('_', '-')}", connection, role,
                             catalog.role(role).description, opts=opts)
                 for role in sorted({grant.grantee for grant in grants if grant.grantee_type == "ROLE"})]
        grantees: list[pulumi.Resource] = [*roles, *users.values()]
        for layer, body in spec.grants_by_layer(grants).items():
            dremio.Grants(f"{self._name}-grants-{layer}", connection, [layer], body,
                          opts=child_options(self, depends_on=[spaces[layer], *grantees]))
        for source, body in spec.source_grants(catalog).items():
            dremio.Grants(f"{self._name}-grants-{source.replace('_', '-')}", connection, [source], body,
                          opts=child_options(self, depends_on=[sources[source], *grantees]))

    # ---- Dremio's backup ----------------------------------------------------------------------------

    def _backup(self, admin_password: pulumi.Output[str], admin: pulumi.Resource) -> None:
        """The scheduled backup of Dremio's KV store: the administrator's login (BackupResource is admin-only) in
        a Secret only the job mounts, the script in a ConfigMap, and the CronJob (spec.backup_cronjob_spec)."""
        secret = self._secret("backup", spec.BACKUP_SECRET, {"username": self._config.admin_user,
                                                             "password": admin_password,
                                                             "ca.crt": self._cluster.ca_pem})
        script = k8s.core.v1.ConfigMap(
            f"{self._name}-backup-script",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.BACKUP_SCRIPT_CONFIG_MAP, namespace=self._namespace,
                                                labels={"app.kubernetes.io/name": spec.BACKUP}),
            data={spec.BACKUP_SCRIPT_FILE: spec.backup_script()},
            opts=self._k8s(),
        )
        # The lake's name for the backups bucket (components/storage/component.py bucket_names).
        backups_bucket = bucket_name(self._stack.name_prefix, self._stack.stack, naming.BACKUPS_BUCKET_ROLE)
        image = platform_image(spec.RUNNER, self._cluster.images)
        k8s.batch.v1.CronJob(
            f"{self._name}-{spec.BACKUP}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.BACKUP, namespace=self._namespace,
                                                labels={"app.kubernetes.io/name": spec.BACKUP}),
            spec=spec.backup_cronjob_spec(self._config.backup, image, backups_bucket),
            opts=self._k8s(depends_on=[secret, script, admin]),
        )

    # ---- the batch -----------------------------------------------------------------------------------

    def _batch(self, catalog: Catalog, user: dremio.User, password: pulumi.Output[str], airbyte: AirbyteClientAccess,
               run_history: DatabaseAccess) -> None:
        """The batch's Secrets (Dremio's `dbt` password and the CA in the runner's, Airbyte's application client and
        the `dbt` database login in its own), its steps' scripts in a ConfigMap, and the CronJob
        (batch.cronjob_spec)."""
        runner = self._secret("runner", batch.RUNNER_SECRET, {"password": password, "ca.crt": self._cluster.ca_pem})
        login = pulumi.Output.from_input(run_history.credentials)
        credentials = self._secret("batch", batch.SECRET, {
            batch.AIRBYTE_CLIENT_ID_KEY: airbyte.client_id, batch.AIRBYTE_CLIENT_SECRET_KEY: airbyte.client_secret,
            batch.RUN_HISTORY_USER_KEY: login.apply(lambda found: found["username"]),
            batch.RUN_HISTORY_PASSWORD_KEY: pulumi.Output.secret(login.apply(lambda found: found["password"])),
        })
        scripts = k8s.core.v1.ConfigMap(
            f"{self._name}-batch-steps",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=batch.SCRIPTS_CONFIG_MAP, namespace=self._namespace,
                                                labels=batch.LABELS),
            data={file: batch.script(step) for step, file in batch.SCRIPT_FILES.items()},
            opts=self._k8s(),
        )
        stack = self._stack
        shape = batch.BatchShape(
            image=platform_image(spec.RUNNER, self._cluster.images),
            dbt_resources=batch.runner_resources(self._config.size),
            prefix=stack.name_prefix, stack=stack.stack, project=catalog.transformations.project,
            schedule=catalog.transformations.schedule,
            airbyte=batch.AirbyteAccess(airbyte.url, airbyte.workspace, airbyte.connections),
            run_history=batch.RunHistoryAccess(run_history.host, run_history.port, run_history.database,
                                               run_history.rds_ca_image, run_history.rds_ca_file),
            anchors=batch.reflection_anchors(catalog, stack.name_prefix, stack.stack),
            marts=tuple(mart.name for mart in catalog.marts),
        )
        k8s.batch.v1.CronJob(
            f"{self._name}-{batch.BATCH}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=batch.BATCH, namespace=self._namespace, labels=batch.LABELS),
            spec=batch.cronjob_spec(shape),
            opts=self._k8s(depends_on=[runner, credentials, scripts, user]),
        )
