"""The Lakehouse under mocks with stand-ins for the layers it takes outputs from (runtime, lake, metadata, logs)."""

from __future__ import annotations

import pulumi

from components.cluster import LAYER_NAMESPACES, ClusterContext
from components.images import image_references
from components.lakehouse import DatabaseAccess, Lakehouse, LakehouseConfig, SearchAccess
from components.storage import LakeAccess
from components.storage_access import BUCKET_ROLES
from infra.catalog import load_catalog
from infra.config import parse_stack_config, project_values
from infra.harness import SECRET_SENTINEL_PREFIX
from infra.stackfiles import load_stack

CA = "-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n"


def stack_config(stack: str):
    return parse_stack_config(project_values(load_stack(stack).config), stack)


def lakehouse_program(stack: str, config: LakehouseConfig | None = None):
    def program() -> None:
        settings = config or LakehouseConfig.from_stack(stack_config(stack))
        cluster = ClusterContext(namespaces={layer: f"dp-{layer}" for layer in LAYER_NAMESPACES}, ca_pem=CA,
                                 ca_file="/tmp/ca.pem", issuer=settings.issuer, images=image_references())
        names = {role: f"dataplatform-{stack}-{role}" for role in BUCKET_ROLES}
        credentials = {identity: {"access_key_id": f"{identity}-key",
                                  "secret_access_key": f"{SECRET_SENTINEL_PREFIX}{identity}"}
                       for identity in ("query-engine", "transformation", "dremio")}
        secret = pulumi.Output.secret
        Lakehouse(
            "lakehouse", settings, load_catalog(), cluster,
            LakeAccess(bucket_names=names, credentials=secret(credentials)),
            metadata=DatabaseAccess("metadata-rw.dp-metadata.svc.cluster.local", 5432, "platform",
                                    secret({"username": "dremio", "password": f"{SECRET_SENTINEL_PREFIX}pg"})),
            search=SearchAccess("logs-es-http.dp-logs.svc.cluster.local", 9200,
                                secret({"username": "dremio-reader", "password": f"{SECRET_SENTINEL_PREFIX}es"})),
        )

    return program
