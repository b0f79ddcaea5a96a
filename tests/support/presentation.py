"""Presentation under mocks with stand-ins for the layers it takes outputs from (runtime, metadata, lakehouse)."""

from __future__ import annotations

import pulumi

from components.kit.cluster import ClusterContext
from components.kit.images import image_references, rds_ca_source
from components.metadata.component import MetadataConnection
from components.presentation.component import DremioAccess, Presentation
from infra.model.catalog import load_catalog
from infra.model.config import parse_stack_config, project_values
from infra.model.naming import LAYER_NAMESPACES
from infra.model.stackfiles import load_stack
from infra.offline.harness import SECRET_SENTINEL_PREFIX

CA = "-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n"
FLIGHT_HOST = "dremio-client.dp-lakehouse.svc.cluster.local"


def presentation_program(stack: str):
    def program() -> None:
        config = parse_stack_config(project_values(load_stack(stack).config), stack)
        cluster = ClusterContext(namespaces={layer: f"dp-{layer}" for layer in LAYER_NAMESPACES}, ca_pem=CA,
                                 ca_file="/tmp/ca.pem", issuer="platform-ca", images=image_references(),
                                 services={"redis": "redis.dp-presentation.svc.cluster.local:6379"},
                                 replicas=config.kubernetes.replicas)
        secret = pulumi.Output.secret
        logins = {"superset": {"username": "superset", "password": f"{SECRET_SENTINEL_PREFIX}pg"}}
        rds_ca_file, rds_ca_image = rds_ca_source(config.metadata)
        Presentation("presentation", config.presentation, load_catalog(), cluster,
                     MetadataConnection(host="metadata-rw.dp-metadata.svc.cluster.local", port=5432,
                                        credentials=secret(logins), rds_ca_file=rds_ca_file,
                                        rds_ca_image=rds_ca_image),
                     DremioAccess(host=FLIGHT_HOST, port=32010, username="superset",
                                  password=secret(f"{SECRET_SENTINEL_PREFIX}dremio")))

    return program
