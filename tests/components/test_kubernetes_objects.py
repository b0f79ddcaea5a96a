"""The built-in Kubernetes objects each stack declares are valid against the schemas of every supported Kubernetes
version (kubernetes-validate's, offline; the versions are the render stage's `SUPPORTED_KUBERNETES`).

Custom resources are judged against their charts' CRDs by the render stage (tests/infra/render/).
"""

from __future__ import annotations

import pytest

from infra.offline.harness import unwrap_secret
from infra.offline.render import kubernetes


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
    checked, failures = 0, []
    for resource in recording.resources:
        if not resource.type.startswith("kubernetes:") or resource.type.startswith("kubernetes:helm.sh"):
            continue
        manifest = plain(resource.inputs)
        if not kubernetes.is_built_in(manifest["apiVersion"], manifest["kind"]):
            continue
        failures += [f"{resource.name}: Kubernetes {version}: {finding.path}: {finding.message}"
                     for version, findings in kubernetes.validate(manifest).items() for finding in findings]
        checked += 1
    assert not failures, "\n".join(failures)
    assert checked > 50
