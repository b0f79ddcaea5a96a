"""`DataPlatform`: wires the layers in data-flow order, passing outputs from one to the next."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.base import child_options, type_token
from components.cluster import ClusterContext
from components.ingestion import Ingestion, IngestionConfig
from components.lakehouse import DatabaseAccess, Lakehouse, LakehouseConfig, SearchAccess
from components.logs import LogIndices, LogsConfig
from components.metadata import BackupTarget, MetadataConfig, MetadataConnection, MetadataDatabase
from components.metadata_access import PLATFORM_DATABASE
from components.monitoring import Monitoring, MonitoringConfig
from components.presentation import DremioAccess, Presentation, PresentationConfig
from components.runtime import KubernetesRuntime, RuntimeConfig
from components.storage import DataLake, LakeAccess, LakeConfig
from infra.catalog import Catalog
from infra.config import StackConfig


class DataPlatform(pulumi.ComponentResource):
    """The whole platform of one stack. Layers are children, in the order data flows through them."""

    def __init__(self, name: str, config: StackConfig, catalog: Catalog, opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token("platform", "DataPlatform"), name, None, opts)
        # The runtime comes first: every in-cluster layer takes its ClusterContext (namespaces, CA, provider).
        self.runtime = KubernetesRuntime(
            f"{name}-runtime", RuntimeConfig.from_stack(config), catalog, opts=child_options(self)
        )
        self.cluster: ClusterContext = self.runtime.context
        providers = {}
        if config.aws is not None:
            providers["aws"] = aws.Provider(
                f"{name}-aws",
                region=config.aws.region,
                default_tags=aws.ProviderDefaultTagsArgs(
                    tags={"dataplatform:stack": config.stack, "dataplatform:stage": config.stage}
                ),
                opts=child_options(self),
            )
        self.lake = DataLake(
            f"{name}-lake",
            LakeConfig.from_stack(config, catalog),
            catalog,
            # dev: the runtime's MinIO (root credentials as Outputs of its release) and the CA bundle file.
            minio_credentials=self.runtime.minio_root,
            opts=child_options(self, providers=providers),
            ca_file=self.cluster.ca_file if config.storage.backend == "minio" else None,
        )
        # Metadata and logs run on the cluster; CloudNativePG backs up into the lake's `backups` bucket.
        in_cluster_postgres = config.metadata.backend == "cloudnative-pg"
        self.metadata = MetadataDatabase(
            f"{name}-metadata",
            MetadataConfig.from_stack(config),
            catalog,
            self.cluster,
            backups=BackupTarget.from_lake(self.lake) if in_cluster_postgres else None,
            opts=child_options(self, providers=providers),
        )
        self.logs = LogIndices(f"{name}-logs", LogsConfig.from_stack(config), self.cluster, opts=child_options(self))
        # Airbyte lands bronze with the `ingestion` identity; its own state and database come from the lake and
        # the metadata layer.
        self.ingestion = Ingestion(
            f"{name}-ingestion",
            IngestionConfig.from_stack(config, catalog),
            catalog,
            self.cluster,
            lake=LakeAccess.from_lake(self.lake),
            database=MetadataConnection.from_metadata(self.metadata),
            opts=child_options(self),
        )
        # Dremio reads every layer through the lake's identities, the metadata database as its `dremio` login and
        # the job-log indices as the logs layer's read-only `dremio-reader`.
        self.lakehouse = Lakehouse(
            f"{name}-lakehouse",
            LakehouseConfig.from_stack(config),
            catalog,
            self.cluster,
            lake=LakeAccess.from_lake(self.lake),
            metadata=DatabaseAccess(
                host=self.metadata.host,
                port=self.metadata.port,
                database=PLATFORM_DATABASE,
                credentials=self.metadata.credentials.apply(lambda logins: logins["dremio"]),
            ),
            search=SearchAccess(host=self.logs.host, port=self.logs.port, credentials=self.logs.dremio_reader),
            opts=child_options(self),
        )
        # Superset reads gold through Dremio's Flight endpoint as the lakehouse's `superset` user.
        self.presentation = Presentation(
            f"{name}-presentation",
            PresentationConfig.from_stack(config),
            catalog,
            self.cluster,
            database=MetadataConnection.from_metadata(self.metadata),
            lakehouse=DremioAccess.from_lakehouse(self.lakehouse),
            opts=child_options(self),
        )
        self.monitoring = Monitoring(
            f"{name}-monitoring", MonitoringConfig.from_stack(config), self.cluster, opts=child_options(self)
        )
        self.register_outputs({"buckets": self.lake.bucket_names})
