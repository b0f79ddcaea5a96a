"""`DataPlatform`: wires the layers in data-flow order, passing outputs from one to the next.

Each layer takes its own section of the validated stack config (infra/model/config.py), the stack's identity and the
catalog; nothing here re-reads or re-validates a setting. What products contribute to the shared layers is listed
here and handed to the layer that serves it: their log sources to the runtime's log shipper, the services they have
the runtime run for them, their logins to the metadata database; their vendor-documented flows (`flow_tables`)
become the runtime's NetworkPolicies and are what the network check (infra/offline/network.py) judges them by.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.ingestion import flows as ingestion_flows
from components.ingestion import log_routes as ingestion_logs
from components.ingestion import spec as ingestion_spec
from components.ingestion.component import Ingestion
from components.kit.base import child_options, type_token
from components.kit.cluster import ClusterContext
from components.kit.flows import ENDPOINTS_KEY, KUBERNETES_API, NODES, FlowTable, Outside
from components.kit.release import HostedService, ProductRelease
from components.lakehouse import batch as lakehouse_batch
from components.lakehouse import flows as lakehouse_flows
from components.lakehouse import log_routes as lakehouse_logs
from components.lakehouse import spec as lakehouse_spec
from components.lakehouse.component import DatabaseAccess, Lakehouse
from components.logs import flows as logs_flows
from components.logs import lake as logs_lake
from components.logs.component import LogIndices
from components.logs.shipping import LakeLogs, LogSource
from components.logs.snapshots import SNAPSHOT_WRITER, SnapshotTarget
from components.metadata import flows as metadata_flows
from components.metadata import log_routes as metadata_logs
from components.metadata.access import PLATFORM_DATABASE, DatabaseLogin
from components.metadata.backups import BACKUP_ACCOUNT, BACKUP_BUCKET
from components.metadata.component import BackupTarget, MetadataConnection, MetadataDatabase
from components.monitoring import flows as monitoring_flows
from components.monitoring.component import BASE_GROUP, Monitoring, base_rules, base_targets
from components.monitoring.dashboards import PipelineHealth, dashboards
from components.monitoring.inventory import labels_allowlist
from components.presentation import cache as presentation_cache
from components.presentation import flows as presentation_flows
from components.presentation import log_routes as presentation_logs
from components.presentation import spec as presentation_spec
from components.presentation.component import DremioAccess, Presentation
from components.runtime import flows as runtime_flows
from components.runtime.component import KubernetesRuntime, releases
from components.runtime.config import KubernetesConfig
from components.storage import flows as storage_flows
from components.storage import log_routes as storage_logs
from components.storage.access import (
    ACCESS_LOGS,
    LOG_SHIPPER,
    PrefixGrant,
    PrefixWriter,
    ServiceBucket,
    WorkloadAccount,
    workload_role_arn,
)
from components.storage.component import DataLake, LakeAccess
from infra.model.catalog import Catalog
from infra.model.config import StackConfig
from infra.model.errors import Problem
from infra.model.naming import namespace_name

# What the log shipper ships, in this order (the first claim on a container's logs wins).
LOG_SOURCES: tuple[LogSource, ...] = (
    ingestion_logs.LOG_SOURCE,
    lakehouse_logs.DBT_LOG_SOURCE,
    lakehouse_batch.SYNCS_LOG_SOURCE,
    metadata_logs.LOG_SOURCE,
    storage_logs.LOG_SOURCE,
    lakehouse_logs.DREMIO_LOG_SOURCE,
    presentation_logs.LOG_SOURCE,
)

# The buckets products keep for themselves, beside the lake's (the storage layer's access logs first).
SERVICE_BUCKETS: tuple[ServiceBucket, ...] = (
    ACCESS_LOGS,
    ingestion_spec.STATE_BUCKET,
    lakehouse_spec.STORE_BUCKET,
    BACKUP_BUCKET,
)
# Identities that write one prefix of a bucket (beside that bucket's own writer): Elasticsearch's snapshots, and the
# log shipper's put-only copy of the platform's logs in the lake's `logs` layer.
PREFIX_WRITERS: tuple[PrefixWriter, ...] = (SNAPSHOT_WRITER, logs_lake.LAKE_LOG_WRITER)


def writes_prefixes(config: StackConfig) -> bool:
    """Whether the stack has the prefix writers: always on MinIO; on S3 only with the cluster's OIDC provider, which
    their roles trust (the pack refuses a prod stack without it)."""
    return config.storage.backend == "minio" or bool(config.storage.s3_settings.oidc_provider_arn)


def lake_logs(config: StackConfig) -> LakeLogs | None:
    """Where the log shipper writes the lake's `logs` layer; None where its writer cannot exist."""
    if not writes_prefixes(config):
        return None
    store = config.object_store
    return logs_lake.target(config.identity.name_prefix, config.identity.stack, store.region, store.server)


def lake_logs_pod(config: StackConfig) -> dict[str, Any] | None:
    """What the log shipper's pods take to write the lake's `logs` layer (credentials, token, buffer), given to the
    runtime with `lake_logs`; None where the shipper does not write it."""
    target = lake_logs(config)
    return logs_lake.pod_values(target) if target is not None else None
# The log shipper's own identity (the access-logs writer) belongs to Fluent Bit's service account. On S3 nothing of
# Fluent Bit uses it (S3's logging service writes access-logs; the lake copy goes through LAKE_LOG_WRITER), so its
# role is trusted but not annotated on the account: the pod identity webhook would otherwise put this role's ARN
# before the lake writer's in Fluent Bit's environment (an `env` entry wins over `envFrom`).
LOG_SHIPPER_ACCOUNT = WorkloadAccount(
    LOG_SHIPPER, namespace_name("logs"), logs_lake.SERVICE_ACCOUNT,
    "Fluent Bit's AWS standard credential chain (its EKS web identity provider: fluent/fluent-bit "
    "src/aws/flb_aws_credentials.c, flb_aws_credentials_sts.c@v5.1.1)",
)
# Lake identities whose workloads' S3 clients take web identity credentials: on S3 each is an IAM role of its
# service account (IRSA), with no key. The others keep an IAM user with an access key, each listed with its reason
# under `exceptions` in policies/config/<stack>.json (decision 0052 says why each client cannot take a role).
WORKLOAD_ACCOUNTS: tuple[WorkloadAccount, ...] = (LOG_SHIPPER_ACCOUNT, BACKUP_ACCOUNT)


def prefix_grants(config: StackConfig) -> tuple[PrefixGrant, ...]:
    """Prefixes of another product's bucket that a product's own identity writes: Dremio's coordinator writes its
    backups under `dremio/` of the backups bucket."""
    return (lakehouse_spec.backup_grant(config.lakehouse.backup),)


# Who logs in to the metadata database.
DATABASE_LOGINS: tuple[DatabaseLogin, ...] = (
    ingestion_spec.DATABASE_LOGIN,
    lakehouse_spec.DBT_LOGIN,
    lakehouse_spec.DREMIO_LOGIN,
    presentation_spec.DATABASE_LOGIN,
)


def hosted_services(config: KubernetesConfig) -> tuple[HostedService, ...]:
    """The services products have the runtime run for them."""
    return (presentation_cache.hosted_service(config.replicas, config.storage_class),)


def flow_tables(config: StackConfig, catalog: Catalog) -> tuple[FlowTable, ...]:
    """The pods each product runs in this stack and the flows its vendor documents (components/kit/flows.py), plus
    DNS for every pod: what infra/offline/network.py judges the generated NetworkPolicies against."""
    kubernetes = config.kubernetes
    tables = (
        runtime_flows.flow_table(kubernetes, on_aws=config.aws is not None),
        storage_flows.flow_table(config.storage),
        # The backup plugin runs beside the operator, so it comes with the operator the runtime installs.
        metadata_flows.flow_table(
            config.metadata, runtime_flows.CLOUDNATIVE_PG if kubernetes.install_cloudnative_pg else None),
        logs_flows.flow_table(config.logs, web_identity=config.storage.backend == "s3",
                              lake_logs=lake_logs(config) is not None),
        ingestion_flows.flow_table(catalog, config.ingestion),
        lakehouse_flows.flow_table(config.lakehouse),
        presentation_flows.flow_table(kubernetes.replicas),
        monitoring_flows.flow_table(kubernetes.alertmanager == "install", kubernetes.replicas,
                                    tuple(config.alerting.reaches("webhook")), tuple(config.alerting.reaches("email")),
                                    front=bool(kubernetes.prometheus_readers)),
    )
    workloads = tuple(workload for table in tables for workload in table.workloads)
    return (*tables, FlowTable("dns", flows=runtime_flows.dns_flows(workloads)))


def outside_networks(config: StackConfig) -> dict[str, tuple[str, ...]]:
    """The CIDRs the stack config gives each endpoint outside the pod network, by the config key that sets them
    (`Outside.key`): the API server, the nodes, the named endpoints and each source."""
    network = config.kubernetes.network
    found = {KUBERNETES_API.key: network.api_server, NODES.key: network.nodes}
    found |= {f"{ENDPOINTS_KEY}.{name}": cidrs for name, cidrs in network.endpoints.items()}
    found |= {f"ingestion.sources.{name}.cidrs": source.cidrs for name, source in config.ingestion.sources.items()}
    found |= {f"kubernetes.prometheusReaders.{name}.cidrs": reader.cidrs
              for name, reader in config.kubernetes.prometheus_readers.items()}
    return {key: tuple(cidrs) for key, cidrs in sorted(found.items()) if cidrs}


def outside_ends(tables: tuple[FlowTable, ...]) -> dict[Outside, dict[str, set[int]]]:
    """Every endpoint outside the pod network that the flows of these tables reach (`to`) or come from (`from`),
    with the ports of each direction."""
    endpoints = {endpoint.service: endpoint for table in tables for endpoint in table.endpoints}
    found: dict[Outside, dict[str, set[int]]] = {}

    def add(outside: Outside, direction: str, ports: set[int]) -> None:
        found.setdefault(outside, {"to": set(), "from": set()})[direction].update(ports)

    for table in tables:
        for flow in table.flows:
            endpoint = endpoints.get(flow.server.name)
            ports = {flow.port} if flow.port is not None else set(endpoint.ports if endpoint else ())
            if isinstance(flow.client, Outside):
                add(flow.client, "from", ports)
            if isinstance(flow.server, Outside):
                add(flow.server, "to", ports)
            elif endpoint is not None and endpoint.outside is not None:
                add(endpoint.outside, "to", ports)
    return found


def network_problems(config: StackConfig, catalog: Catalog) -> list[Problem]:
    """What the stack config lacks, or has in vain, for the NetworkPolicies: each endpoint outside the pod network a
    workload of this stack needs must have CIDRs under its key; a named endpoint that nothing needs is a mistake."""
    needed = outside_ends(flow_tables(config, catalog))
    given = outside_networks(config)
    problems = []
    for outside, directions in sorted(needed.items(), key=lambda item: item[0].key):
        if outside.key not in given:
            allowed = [f"{', '.join(map(str, sorted(ports)))} {direction} it"
                       for direction, ports in directions.items() if ports]
            problems.append(Problem(outside.key, f"required: the CIDRs of {outside.description}; the "
                                    f"NetworkPolicies allow {' and '.join(allowed)}, nowhere else (`[0.0.0.0/0]` "
                                    "allows any address)"))
    wanted = {outside.key for outside in needed}
    named = sorted(key.removeprefix(f"{ENDPOINTS_KEY}.") for key in wanted if key.startswith(f"{ENDPOINTS_KEY}."))
    for name in config.kubernetes.network.endpoints:
        if f"{ENDPOINTS_KEY}.{name}" not in wanted:
            problems.append(Problem(f"{ENDPOINTS_KEY}.{name}", "no workload of this stack reaches an endpoint of that "
                                    f"name (it needs: {', '.join(named) or 'none'}); remove it"))
    return problems


def runtime_releases(config: StackConfig) -> list[ProductRelease]:
    """The releases the runtime declares for this stack config, as `DataPlatform` wires it."""
    return releases(config.kubernetes, config.identity, config.storage, LOG_SOURCES, hosted_services(config.kubernetes),
                    config.alerting, labels_allowlist(), lake_logs(config), lake_logs_pod(config))


class DataPlatform(pulumi.ComponentResource):
    """The whole platform of one stack. Layers are children, in the order data flows through them."""

    def __init__(self, name: str, config: StackConfig, catalog: Catalog, opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token("platform", "DataPlatform"), name, None, opts)
        stack = config.identity
        # The runtime comes first: every in-cluster layer takes its ClusterContext (namespaces, CA, provider).
        self.runtime = KubernetesRuntime(
            f"{name}-runtime", config.kubernetes, stack, config.storage, log_sources=LOG_SOURCES,
            hosted=hosted_services(config.kubernetes), flows=flow_tables(config, catalog),
            networks=outside_networks(config), alerting=config.alerting, label_allowlist=labels_allowlist(),
            opts=child_options(self), lake_logs=lake_logs(config), lake_pod=lake_logs_pod(config),
        )
        self.cluster: ClusterContext = self.runtime.context
        providers = {}
        if config.aws is not None:
            providers["aws"] = aws.Provider(
                f"{name}-aws",
                region=config.aws.region,
                # The provider refuses credentials of any other account (the pack refuses their principals).
                allowed_account_ids=config.aws.allowed_account_ids or None,
                default_tags=aws.ProviderDefaultTagsArgs(
                    tags={"dataplatform:stack": config.stack, "dataplatform:stage": config.stage}
                ),
                opts=child_options(self),
            )
        self.lake = DataLake(
            f"{name}-lake",
            config.storage,
            catalog,
            stack,
            service_buckets=SERVICE_BUCKETS,
            # Prefixes of the backups bucket that products' own identities write (Dremio's backups).
            prefix_grants=prefix_grants(config),
            # dev: the runtime's MinIO (root credentials as Outputs of its release) and the CA bundle file.
            minio_credentials=self.runtime.minio_root,
            opts=child_options(self, providers=providers),
            ca_file=self.cluster.ca_file if config.storage.backend == "minio" else None,
            prefix_writers=PREFIX_WRITERS if writes_prefixes(config) else (),
            workload_accounts=WORKLOAD_ACCOUNTS,
        )
        # The shipper's way into the lake's `logs` layer: MinIO keys in dev, the IRSA role to assume on S3.
        if lake_logs(config) is not None:
            on_minio_store = config.storage.backend == "minio"
            logs_lake.declare_secret(
                f"{name}-lake-logs-credentials", self.cluster, self,
                credentials=self.lake.credentials.apply(lambda keys: keys[logs_lake.LAKE_LOG_WRITER.name])
                if on_minio_store else None,
                role_arn=None if on_minio_store
                else self.lake.role_arns.apply(lambda roles: roles[logs_lake.LAKE_LOG_WRITER.name]),
            )
        # Metadata and logs run on the cluster; CloudNativePG backs up into the lake's `backups` bucket.
        in_cluster_postgres = config.metadata.backend == "cloudnative-pg"
        self.metadata = MetadataDatabase(
            f"{name}-metadata",
            config.metadata,
            catalog,
            self.cluster,
            stack,
            config.retention,
            logins=DATABASE_LOGINS,
            backups=BackupTarget.from_lake(self.lake, workload_role_arn(config.storage, stack, BACKUP_ACCOUNT))
            if in_cluster_postgres else None,
            event_emails=config.rds_event_emails if config.metadata.backend == "rds" else (),
            opts=child_options(self, providers=providers),
        )
        # Elasticsearch snapshots into the backups bucket: MinIO keys in dev, the IRSA role on S3 (none without the
        # cluster's OIDC provider, which the pack refuses in prod).
        object_store = config.object_store
        on_minio = object_store.server is not None
        snapshots = SnapshotTarget(
            bucket=self.lake.bucket_names.apply(lambda names: names[SNAPSHOT_WRITER.bucket_role]),
            region=object_store.region,
            endpoint=object_store.server,
            credentials=self.lake.credentials.apply(lambda keys: keys[SNAPSHOT_WRITER.name]) if on_minio else None,
            role_arn=None if on_minio else self.lake.role_arns.apply(lambda roles: roles[SNAPSHOT_WRITER.name]),
        ) if on_minio or config.storage.s3_settings.oidc_provider_arn else None
        self.logs = LogIndices(
            f"{name}-logs", config.logs, self.cluster, stack, config.retention, snapshots, opts=child_options(self)
        )
        # Airbyte lands bronze with the `ingestion` identity; its own state and database come from the lake and
        # the metadata layer.
        self.ingestion = Ingestion(
            f"{name}-ingestion",
            config.ingestion,
            catalog,
            self.cluster,
            stack,
            config.object_store,
            lake=LakeAccess.from_lake(self.lake),
            database=MetadataConnection.from_metadata(self.metadata),
            opts=child_options(self),
        )
        # Dremio reads every layer through the lake's identities and the metadata database as its `dremio` login.
        rds_ca_file, rds_ca_image = self.metadata.rds_ca
        self.lakehouse = Lakehouse(
            f"{name}-lakehouse",
            config.lakehouse,
            catalog,
            self.cluster,
            stack,
            config.object_store,
            lake=LakeAccess.from_lake(self.lake),
            # The batch starts the marts' syncs through Airbyte's API and records each run as the `dbt` login.
            airbyte=self.ingestion.batch_access,
            run_history=DatabaseAccess(
                host=self.metadata.host,
                port=self.metadata.port,
                database=PLATFORM_DATABASE,
                credentials=self.metadata.credentials.apply(lambda logins: logins[lakehouse_spec.DBT_LOGIN.service]),
                rds_ca_file=rds_ca_file,
                rds_ca_image=rds_ca_image,
            ),
            metadata=DatabaseAccess(
                host=self.metadata.host,
                port=self.metadata.port,
                database=PLATFORM_DATABASE,
                credentials=self.metadata.credentials.apply(lambda logins: logins[lakehouse_spec.DREMIO_LOGIN.service]),
                rds_ca_file=rds_ca_file,
                rds_ca_image=rds_ca_image,
            ),
            opts=child_options(self),
        )
        # Superset reads gold through Dremio's Flight endpoint as the lakehouse's `superset` user.
        self.presentation = Presentation(
            f"{name}-presentation",
            config.presentation,
            catalog,
            self.cluster,
            database=MetadataConnection.from_metadata(self.metadata),
            lakehouse=DremioAccess.from_lakehouse(self.lakehouse),
            opts=child_options(self),
        )
        self.monitoring = Monitoring(
            f"{name}-monitoring",
            self.cluster,
            targets=base_targets(config.kubernetes, config.storage),
            rules=base_rules(),
            group=BASE_GROUP,
            opts=child_options(self),
            dashboards=dashboards(PipelineHealth(
                storage=config.storage.backend, database=config.metadata.backend,
                slow_query_seconds=config.lakehouse.slow_query_seconds, sync_pods=ingestion_spec.REPLICATION_POD,
                query_seconds=lakehouse_logs.QUERY_SECONDS.series, responses=presentation_logs.RESPONSES.series)),
        )
        self.register_outputs({"buckets": self.lake.bucket_names})
