"""The Lakehouse under mocks with stand-ins for the layers it takes outputs from (runtime, lake, metadata, logs,
ingestion)."""

from __future__ import annotations

import pulumi

from components.ingestion.component import AirbyteClientAccess, batch_connections
from components.kit.cluster import ClusterContext
from components.kit.images import image_references, rds_ca_source
from components.lakehouse.component import DatabaseAccess, Lakehouse, dremio_shape
from components.lakehouse.spec import DremioShape
from components.platform import SERVICE_BUCKETS
from components.storage.access import bucket_roles
from components.storage.component import LakeAccess
from infra.model.catalog import load_catalog
from infra.model.config import StackConfig, parse_stack_config, project_values
from infra.model.naming import LAYER_NAMESPACES
from infra.model.stackfiles import load_stack
from infra.offline.harness import SECRET_SENTINEL_PREFIX

CA = "-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n"


def stack_config(stack: str) -> StackConfig:
    return parse_stack_config(project_values(load_stack(stack).config), stack)


def shape(stack: str) -> DremioShape:
    """Dremio's workloads' shape in `stack`, as the platform wires it (RDS CA bundle from the metadata layer)."""
    config = stack_config(stack)
    return dremio_shape(config.lakehouse, config.identity, config.object_store, config.kubernetes.storage_class,
                        *rds_ca_source(config.metadata))


def lakehouse_program(stack: str, config: StackConfig | None = None):
    def program() -> None:
        settings = config or stack_config(stack)
        cluster = ClusterContext(namespaces={layer: f"dp-{layer}" for layer in LAYER_NAMESPACES}, ca_pem=CA,
                                 ca_file="/tmp/ca.pem", issuer=settings.kubernetes.issuer(settings.identity),
                                 images=image_references(), storage_class=settings.kubernetes.storage_class)
        rds_ca_file, rds_ca_image = rds_ca_source(settings.metadata)
        names = {role: f"dataplatform-{stack}-{role}" for role in bucket_roles(SERVICE_BUCKETS)}
        credentials = {identity: {"access_key_id": f"{identity}-key",
                                  "secret_access_key": f"{SECRET_SENTINEL_PREFIX}{identity}"}
                       for identity in ("query-engine", "transformation", "dremio")}
        secret = pulumi.Output.secret
        catalog = load_catalog()
        airbyte = AirbyteClientAccess("https://airbyte-api.dp-ingestion.svc.cluster.local:8443",
                                      settings.ingestion.workspace, secret("client-id"),
                                      secret(f"{SECRET_SENTINEL_PREFIX}airbyte-client"), batch_connections(catalog))
        Lakehouse(
            "lakehouse", settings.lakehouse, catalog, cluster, settings.identity, settings.object_store,
            LakeAccess(bucket_names=names, credentials=secret(credentials)),
            airbyte=airbyte,
            run_history=DatabaseAccess("metadata-rw.dp-metadata.svc.cluster.local", 5432, "platform",
                                       secret({"username": "dbt", "password": f"{SECRET_SENTINEL_PREFIX}dbt"}),
                                       rds_ca_file=rds_ca_file, rds_ca_image=rds_ca_image),
            metadata=DatabaseAccess("metadata-rw.dp-metadata.svc.cluster.local", 5432, "platform",
                                    secret({"username": "dremio", "password": f"{SECRET_SENTINEL_PREFIX}pg"}),
                                    rds_ca_file=rds_ca_file, rds_ca_image=rds_ca_image),
        )

    return program
