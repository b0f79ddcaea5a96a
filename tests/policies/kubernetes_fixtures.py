"""A compliant Kubernetes baseline in the engine's wire form (namespace, deny-all, workload, release, Service).

Tests mutate deep copies of it; `workload()` can be parented anywhere, as chart-rendered pods are.
"""

from __future__ import annotations

import copy

from components.presentation import cache
from infra.model.config import parse_stack_config
from infra.offline.harness import RecordedResource, Recording

PROJECT = "dataplatform"
DIGEST = "sha256:" + "0" * 64
IMAGE = f"ghcr.io/example/dbt-runner:1.11@{DIGEST}"


def resource(type_: str, name: str, inputs: dict, parent: str = "") -> RecordedResource:
    return RecordedResource(
        urn=f"urn:pulumi:dev::{PROJECT}::{type_}::{name}",
        type=type_,
        name=name,
        custom=True,
        parent=parent,
        dependencies=[],
        property_dependencies={key: [] for key in inputs},
        protect=False,
        inputs=inputs,
        provider="",
        ignore_changes=[],
        aliases=[],
        additional_secret_outputs=[],
        delete_before_replace=False,
        retain_on_delete=False,
    )


def container(name: str = "runner", image: str = IMAGE) -> dict:
    return {
        "name": name,
        "image": image,
        "env": [{"name": "DBT_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "dbt", "key": "password"}}}],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        },
    }


def pod_spec() -> dict:
    return {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container()],
    }


def pinned(values: dict) -> dict:
    """Release values whose image override also carries a digest (the chart takes it in the tag), as compliant."""
    values["image"]["tag"] += f"@{DIGEST}"
    return values


def baseline() -> Recording:
    stack = {"stage": "dev", "namePrefix": PROJECT, "storage": {"backend": "minio", "minio": {"server": "minio:9000"}}}
    config = parse_stack_config(stack, "dev").kubernetes
    resources = [
        resource(
            "kubernetes:core/v1:Namespace",
            "ns-lakehouse",
            {"metadata": {"name": "dp-lakehouse", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
        ),
        resource(
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            "deny-lakehouse",
            {
                "metadata": {"name": "default-deny", "namespace": "dp-lakehouse"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            },
        ),
        resource(
            "kubernetes:batch/v1:CronJob",
            "dbt-runner",
            {
                "metadata": {"name": "dbt-runner", "namespace": "dp-lakehouse"},
                "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": pod_spec()}}}},
            },
            parent="urn:pulumi:dev::dataplatform::dataplatform:lakehouse:Lakehouse::lakehouse",
        ),
        resource(
            "kubernetes:helm.sh/v3:Release",
            "redis",
            {"name": "redis", "chart": "valkey", "version": "0.11.0",
             "values": pinned(cache.release(config.replicas, config.storage_class).rendered_values())},
        ),
        resource(
            "kubernetes:core/v1:Service",
            "dremio",
            {"metadata": {"name": "dremio"}, "spec": {"type": "ClusterIP", "ports": [{"port": 9047}]}},
        ),
    ]
    return Recording(project=PROJECT, stack="dev", preview=False, resources=resources)


def changed(recording: Recording, name: str, change) -> Recording:
    """A deep copy with `change(inputs)` applied to the named resource's inputs."""
    copied = copy.deepcopy(recording)
    change(copied.named(name).inputs)
    return copied
