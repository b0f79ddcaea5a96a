"""Ingestion under mocks with stand-ins for the layers it takes outputs from (runtime, lake, metadata)."""

from __future__ import annotations

import pulumi

from components.ingestion.component import Ingestion
from components.kit.cluster import ClusterContext
from components.kit.images import rds_ca_source
from components.metadata.component import MetadataConnection
from components.platform import SERVICE_BUCKETS
from components.storage.access import bucket_roles
from components.storage.component import LakeAccess
from infra.model.catalog import load_catalog
from infra.model.config import StackConfig, parse_stack_config, project_values
from infra.model.naming import LAYER_NAMESPACES
from infra.model.stackfiles import load_stack
from infra.offline.harness import SECRET_SENTINEL_PREFIX

CA = "-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n"


def stack_config(stack: str, **overrides) -> StackConfig:
    values = {**project_values(load_stack(stack).config), **overrides}
    return parse_stack_config(values, stack)


def ingestion_program(stack: str, config: StackConfig | None = None):
    def program() -> None:
        catalog = load_catalog()
        settings = config or stack_config(stack)
        cluster = ClusterContext(namespaces={layer: f"dp-{layer}" for layer in LAYER_NAMESPACES}, ca_pem=CA,
                                 ca_file="/tmp/ca.pem", issuer=settings.kubernetes.issuer(settings.identity))
        names = {role: f"dataplatform-{stack}-{role}" for role in bucket_roles(SERVICE_BUCKETS)}
        credentials = {identity: {"access_key_id": f"{identity}-key",
                                  "secret_access_key": f"{SECRET_SENTINEL_PREFIX}{identity}"}
                       for identity in ("airbyte", "ingestion")}
        logins = {"airbyte": {"username": "airbyte", "password": f"{SECRET_SENTINEL_PREFIX}pg"}}
        secret = pulumi.Output.secret
        rds_ca_file, rds_ca_image = rds_ca_source(settings.metadata)
        Ingestion("ingestion", settings.ingestion, catalog, cluster, settings.identity, settings.object_store,
                  LakeAccess(bucket_names=names, credentials=secret(credentials)),
                  MetadataConnection(host="metadata-rw.dp-metadata.svc.cluster.local", port=5432,
                                     credentials=secret(logins), rds_ca_file=rds_ca_file, rds_ca_image=rds_ca_image))

    return program
