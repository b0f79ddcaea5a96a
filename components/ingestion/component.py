"""Ingestion layer: `Ingestion`, Airbyte released and configured from the catalog.

Example (inside a Pulumi program)::

    ingestion = Ingestion(
        "ingestion", config.ingestion, catalog, cluster, config.identity, config.object_store,
        lake=LakeAccess.from_lake(lake),
        database=MetadataConnection.from_metadata(metadata),
    )
    ingestion.api_url   # "https://airbyte-api.dp-ingestion.svc.cluster.local:8443"

What it declares (components/ingestion/spec.py renders the chart values and alerts):
1. Airbyte's release through the runtime's release mechanism (chart V2 airbyte 2.1.1): auth on with a generated
   instance administrator, application client and JWT signing secret; its database (`airbyte`) and Temporal's
   (`temporal`, `temporal_visibility`) on the metadata layer's PostgreSQL with the metadata layer's `airbyte`
   login; state, job logs and workload output in the lake's `airbyte` bucket with the `airbyte` identity's keys.
   Every credential is in a Kubernetes Secret the chart references by name. Airbyte's JVMs trust the stack's CA
   (the Java base image's update-ca-trust over the CA among its anchors), the job pods' orchestrator through a
   trust store Secret where the object store is the platform's; the database connections (JDBC and Temporal)
   verify the server against the stack's CA, or RDS's bundle in prod. Each workload that calls the Kubernetes API
   has a service account of its own with only what it calls (the launcher: pods; the bootloader: the auth
   Secret); the others run as `airbyte`, which mounts no token. The API
   is served over TLS by an nginx sidecar in the server pod (a cert-manager certificate, Service
   `airbyte-api`), the only way the providers reach it. Job logs reach `airbyte-logs-*`
   through the runtime's Fluent Bit (every container of `dp-ingestion` is routed there,
   components/logs/shipping.py).
2. Airbyte's configuration through the dynamic providers (components/ingestion/provider.py): a workspace with
   failure notifications, one source per catalog source (endpoints from `ingestion.sources` in the stack
   config, certificate-verifying TLS), one bronze S3 destination per source (Parquet with the bronze layer's
   codec, `<source>/<stream>/date=YYYY-MM-DD/`) written with the `ingestion` identity, and one connection per
   source with the catalog's per-stream sync modes. A source the marts read (dbt's lineage, infra/model/lineage.py)
   is synced by the batch, first thing in each run, so its connection's schedule is `manual`; every other source
   keeps its catalog schedule as Quartz cron (infra/model/schedules.py). `batch_access` is what the batch needs to
   start those syncs: the API, the application client, the connections' names.
3. The server's health alert, with its runbook in docs/ingestion.md (a sync's failure is the batch's alert,
   `BatchSyncFailed`, naming the connection: components/lakehouse/batch.py).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.ingestion import provider as airbyte
from components.ingestion import spec
from components.ingestion.config import IngestionSettings, SourceEndpointSettings
from components.ingestion.connectors import definition_id
from components.ingestion.truststore import jks
from components.kit.base import child_options, type_token
from components.kit.cluster import ClusterContext
from components.kit.hardening import LARGE, MEDIUM, SMALL, Resources, container_security, pod_security
from components.kit.release import Hardening, ProductRelease, declare_release
from components.metadata.component import MetadataConnection
from components.monitoring.component import Monitoring
from components.storage.component import LakeAccess
from infra.model.catalog import Catalog, Source
from infra.model.config import ObjectStore
from infra.model.lineage import mart_sources
from infra.model.naming import bucket_name
from infra.model.schedules import quartz_cron
from infra.model.sections import StackIdentity

JOB_SIZES: dict[str, Resources] = {"small": SMALL, "medium": MEDIUM, "large": LARGE}
ADMIN_EMAIL_DOMAIN = "platform.invalid"  # the instance administrator's e-mail: Airbyte requires one


def airbyte_shape(config: IngestionSettings, stack: StackIdentity, store: ObjectStore,
                  database: MetadataConnection) -> spec.AirbyteShape:
    """What sizes and wires Airbyte's release: the `airbyte` bucket, the object store, the jobs' size and how the
    metadata database's certificate is verified."""
    return spec.AirbyteShape(
        state_bucket=bucket_name(stack.name_prefix, stack.stack, spec.STATE_BUCKET.role),
        store_endpoint=store.url, region=store.region, database="airbyte",
        job_resources=JOB_SIZES[config.job_size], rds_ca_image=database.rds_ca_image, rds_ca_file=database.rds_ca_file)


def notifications(config: IngestionSettings) -> dict[str, Any]:
    """The workspace's notification settings: failed syncs by e-mail, and to the webhook when one is set."""
    failure: dict[str, Any] = {"email": {"enabled": True}}
    if config.failure_webhook:
        failure["webhook"] = {"enabled": True, "url": config.failure_webhook}
    return {"failure": failure}


def _source_secret(source: Source, endpoint: SourceEndpointSettings, ca_pem: pulumi.Input[str]) -> pulumi.Output[dict]:
    secret = endpoint.password.get_secret_value() if endpoint.password is not None else None
    given = {"username": endpoint.username,
             "secrets": {path: value.get_secret_value() for path, value in (endpoint.secrets or {}).items()}}
    return pulumi.Output.secret(pulumi.Output.from_input(ca_pem).apply(
        lambda ca: airbyte.source_secrets(source, given, secret, ca)))


def _endpoint(endpoint: SourceEndpointSettings) -> dict[str, Any]:
    """Where a source lives and who logs in, without its secrets (`source_configuration` decides what of it a
    connector takes in plain: a database login name, but not the S3 source's key id)."""
    found = endpoint.model_dump(exclude={"password", "secrets"})
    found["schema"] = found.pop("schema_name")
    return found


@dataclass(frozen=True)
class AirbyteClientAccess:
    """What the batch takes from `Ingestion` to start syncs: the API's in-cluster URL, the workspace, the
    application client (secret), and the connections whose schedule is the batch's, by name."""

    url: str
    workspace: str
    client_id: pulumi.Output[str]
    client_secret: pulumi.Output[str]
    connections: tuple[str, ...]


def batch_connections(catalog: Catalog) -> tuple[str, ...]:
    """The connections the batch syncs before every build: those of the sources the marts read."""
    return tuple(spec.connection_name(source) for source in mart_sources(catalog))


class Ingestion(pulumi.ComponentResource):
    """Airbyte's release, its workspace, sources, bronze destinations and connections, and its alerts."""

    api_url: str
    connections: dict[str, airbyte.AirbyteConnection]
    batch_access: AirbyteClientAccess

    def __init__(
        self,
        name: str,
        config: IngestionSettings,
        catalog: Catalog,
        cluster: ClusterContext,
        stack: StackIdentity,
        store: ObjectStore,
        lake: LakeAccess,
        database: MetadataConnection,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("ingestion", "Ingestion"), name, None, opts)
        self._name, self._config, self._cluster, self._store = name, config, cluster, store
        self._namespace = cluster.namespaces[spec.LAYER]
        auth = self._auth_secret()
        storage = self._config_secret(lake, database)
        front = self._tls_front(cluster.issuer)
        trusted = k8s.core.v1.ConfigMap(
            f"{name}-platform-ca",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.CA_CONFIG_MAP, namespace=self._namespace),
            data={"ca.crt": cluster.ca_pem},
            opts=self._k8s(),
        )
        shape = airbyte_shape(config, stack, store, database)
        accounts = self._service_accounts()
        job_trust = [self._job_truststore(cluster.ca_pem)] if spec.job_trust(shape) else []
        release = declare_release(
            f"{name}-airbyte",
            ProductRelease(
                name=spec.RELEASE, chart="airbyte", layer=spec.LAYER,
                values=spec.values(shape),
                hardening=Hardening(pod=pod_security(run_as_user=spec.AIRBYTE_UID, fs_group=spec.AIRBYTE_UID),
                                    container=container_security(), resources=MEDIUM),
                deploy_time={"global.database.host": database.host},
            ),
            self._namespace,
            self._k8s(depends_on=[*auth, storage, *front, trusted, *accounts, *job_trust]),
        )
        self.api_url = spec.server_url()
        connection = pulumi.Output.secret(pulumi.Output.all(self._client_id, self._client_secret, cluster.ca_pem).apply(
            lambda values: {"url": self.api_url, "client_id": values[0], "client_secret": values[1],
                            "ca_pem": values[2]}))
        workspace = airbyte.Workspace(f"{name}-workspace", connection, config.workspace, notifications(config),
                                      opts=child_options(self, depends_on=[release]))
        self.connections = self._flows(catalog, connection, workspace, lake)
        self.batch_access = AirbyteClientAccess(self.api_url, config.workspace, self._client_id, self._client_secret,
                                                batch_connections(catalog))
        Monitoring(f"{name}-monitoring", cluster, targets=[], rules=spec.alert_rules(),
                   opts=child_options(self))
        self.register_outputs({"apiUrl": self.api_url, "workspace": config.workspace,
                               "connections": sorted(self.connections)})

    # ---- plumbing -----------------------------------------------------------------------------------

    def _k8s(self, **extra) -> pulumi.ResourceOptions:
        return self._cluster.options(self, **extra)

    def _secret(self, role: str, secret_name: str, data: dict[str, pulumi.Input[str]]) -> k8s.core.v1.Secret:
        return self._cluster.secret(self, f"{self._name}-{role}-secret", secret_name, self._namespace, data)

    def _tls_front(self, issuer: str) -> list[pulumi.Resource]:
        """The server pod's TLS sidecar: its certificate, its nginx configuration and the Service in front."""
        certificate = k8s.apiextensions.CustomResource(
            f"{self._name}-api-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={"name": spec.API_TLS_SECRET, "namespace": self._namespace},
            spec=spec.certificate(issuer),
            opts=self._k8s(depends_on=self._cluster.after("cert-manager")),
        )
        conf = k8s.core.v1.ConfigMap(
            f"{self._name}-api-proxy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.PROXY_CONFIG_MAP, namespace=self._namespace),
            data={"default.conf": spec.proxy_conf()},
            opts=self._k8s(),
        )
        service = k8s.core.v1.Service(
            f"{self._name}-api-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.API_SERVICE, namespace=self._namespace),
            spec=spec.api_service(),
            opts=self._k8s(),
        )
        return [certificate, conf, service]

    def _service_accounts(self) -> list[pulumi.Resource]:
        """`airbyte` for every pod that calls no Kubernetes API (no token mounted), and one account per workload that
        does, bound to a Role with only what it calls (spec.DEFAULT_ACCOUNT and its neighbours say who calls what)."""
        created: list[pulumi.Resource] = [self._account("account", spec.DEFAULT_ACCOUNT, automount=False)]
        for role, account, rules in (
            ("launcher", spec.LAUNCHER_ACCOUNT, [{"apiGroups": [""], "resources": ["pods"],
                                                 "verbs": ["get", "list", "watch", "create", "update", "patch",
                                                           "delete"]}]),
            ("bootloader", spec.BOOTLOADER_ACCOUNT, [{"apiGroups": [""], "resources": ["secrets"],
                                                     "resourceNames": [spec.AUTH_SECRET],
                                                     "verbs": ["get", "update"]}]),
        ):
            account_resource = self._account(f"{role}-account", account, automount=True)
            role_resource = k8s.rbac.v1.Role(
                f"{self._name}-{role}-role",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=account, namespace=self._namespace),
                rules=rules, opts=self._k8s())
            binding = k8s.rbac.v1.RoleBinding(
                f"{self._name}-{role}-binding",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=account, namespace=self._namespace),
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
                subjects=[{"kind": "ServiceAccount", "name": account, "namespace": self._namespace}],
                opts=self._k8s(depends_on=[role_resource, account_resource]))
            created += [account_resource, role_resource, binding]
        return created

    def _account(self, role: str, account: str, automount: bool) -> k8s.core.v1.ServiceAccount:
        return k8s.core.v1.ServiceAccount(
            f"{self._name}-{role}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=account, namespace=self._namespace),
            automount_service_account_token=automount, opts=self._k8s())

    def _job_truststore(self, ca_pem: pulumi.Input[str]) -> k8s.core.v1.Secret:
        """The job pods' orchestrator's trust store: the stack's CA as a JKS (public certificates only)."""
        return k8s.core.v1.Secret(
            f"{self._name}-job-truststore",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.JOB_TRUST_SECRET, namespace=self._namespace),
            data={spec.JOB_TRUSTSTORE_KEY: pulumi.Output.from_input(ca_pem).apply(
                lambda pem: base64.b64encode(jks(pem)).decode())},
            opts=self._k8s())

    def _random(self, role: str, length: int = 40) -> pulumi.Output[str]:
        generated = random.RandomPassword(f"{self._name}-{role}", length=length, special=False,
                                          opts=child_options(self))
        return pulumi.Output.secret(generated.result)

    def _auth_secret(self) -> list[pulumi.Resource]:
        """The instance administrator, the application client the providers log in with, the JWT signing key."""
        self._client_id = pulumi.Output.secret(
            random.RandomUuid(f"{self._name}-client-id", opts=child_options(self)).result)
        self._client_secret = self._random("client-secret")
        keys = dict(zip(spec.AUTH_KEYS, (f"airbyte-admin@{ADMIN_EMAIL_DOMAIN}", self._random("admin-password"),
                                         self._client_id, self._client_secret, self._random("jwt-secret", 64)),
                        strict=True))
        return [self._secret("auth", spec.AUTH_SECRET, keys)]

    def _config_secret(self, lake: LakeAccess, database: MetadataConnection) -> k8s.core.v1.Secret:
        login = pulumi.Output.from_input(database.credentials).apply(lambda found: found[spec.DATABASE_LOGIN.service])
        keys = pulumi.Output.from_input(lake.credentials).apply(lambda found: found[spec.STATE_BUCKET.writer])
        return self._secret("config", spec.CONFIG_SECRET, {
            spec.DATABASE_USER_KEY: login.apply(lambda found: found["username"]),
            spec.DATABASE_PASSWORD_KEY: pulumi.Output.secret(login.apply(lambda found: found["password"])),
            spec.ACCESS_KEY_ID_KEY: keys.apply(lambda found: found["access_key_id"]),
            spec.SECRET_ACCESS_KEY_KEY: pulumi.Output.secret(keys.apply(lambda found: found["secret_access_key"])),
        })

    # ---- configuration ------------------------------------------------------------------------------

    def _flows(self, catalog: Catalog, connection: pulumi.Output[dict], workspace: airbyte.Workspace,
               lake: LakeAccess) -> dict[str, airbyte.AirbyteConnection]:
        config, name, store = self._config, self._name, self._store
        after_workspace = child_options(self, depends_on=[workspace])
        bronze_names = pulumi.Output.from_input(lake.bucket_names)
        bronze_secret = pulumi.Output.secret(pulumi.Output.from_input(lake.credentials).apply(
            lambda found: airbyte.s3_destination_secrets(found["ingestion"]["access_key_id"],
                                                         found["ingestion"]["secret_access_key"])))
        connections = {}
        batched = set(mart_sources(catalog))
        for source in catalog.sources:
            endpoint = config.sources[source.name]
            created_source = airbyte.AirbyteSource(
                f"{name}-source-{source.name}", connection, config.workspace, source.name,
                airbyte.source_configuration(source, _endpoint(endpoint)),
                _source_secret(source, endpoint, self._cluster.ca_pem),
                definition_id=str(definition_id(source.kind, source.connector)), opts=after_workspace)
            destination_name = f"bronze-{source.name}"
            destination = airbyte.AirbyteDestination(
                f"{name}-destination-{source.name}", connection, config.workspace, destination_name,
                bronze_names.apply(lambda buckets, source=source: airbyte.s3_destination(
                    source.name, buckets["bronze"], store.region, store.url, catalog.lake.layer("bronze").codec)),
                bronze_secret, opts=after_workspace)
            cursors = [stream.name for stream in source.streams if airbyte.source_defined_cursor(source)]
            connections[source.name] = airbyte.AirbyteConnection(
                f"{name}-connection-{source.name}", connection, config.workspace, spec.connection_name(source.name),
                source.name, destination_name, None if source.name in batched else quartz_cron(source.schedule),
                airbyte.stream_configurations(source),
                source_defined_cursors=cursors,
                opts=child_options(self, depends_on=[created_source, destination]))
        return connections
