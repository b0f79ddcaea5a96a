"""The Kubernetes objects each stack declares are valid against the Kubernetes schemas (kubernetes-validate, offline).

Custom resources (cert-manager, Prometheus Operator) have no schema in kubernetes-validate and are left out.
"""

from __future__ import annotations

import kubernetes_validate
import pytest

from infra.offline.harness import unwrap_secret

KUBERNETES_VERSION = "1.33"
# Custom resources: the operators' CRDs are not in kubernetes-validate's schemas.
CUSTOM_KINDS = ("ClusterIssuer", "Certificate", "Elasticsearch", "Cluster", "ScheduledBackup")


def plain(value):
    """Wire form back to API form: secrets unwrapped, integral floats as integers."""
    value = unwrap_secret(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_core_objects_validate(stack_recording, stack: str) -> None:
    recording = stack_recording(stack)
    checked = 0
    for resource in recording.resources:
        if not resource.type.startswith("kubernetes:") or resource.type.startswith(("kubernetes:helm.sh",
                                                                                      "kubernetes:monitoring",
                                                                                      "kubernetes:cert-manager")):
            continue
        if resource.inputs.get("kind") in CUSTOM_KINDS:
            continue
        manifest = plain(resource.inputs)
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked > 50
