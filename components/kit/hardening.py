"""Typed hardening fragments for Helm values and Kubernetes objects: security contexts, resources, probes.

Pure: no resources. Each function returns the dict the Kubernetes API (or a chart's values) expects, so a
chart's values are assembled from these instead of copied blobs, and the same settings land at the paths
that `infra/model/charts.py` records for each pinned chart.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

NON_ROOT_UID = 10001


def pod_security(
    run_as_user: int | None = NON_ROOT_UID, fs_group: int | None = None, run_as_non_root: bool = True
) -> dict[str, Any]:
    """A pod securityContext that meets the restricted pod security standard."""
    context: dict[str, Any] = {"runAsNonRoot": run_as_non_root, "seccompProfile": {"type": "RuntimeDefault"}}
    if run_as_user is not None:
        context["runAsUser"] = run_as_user
        context["runAsGroup"] = run_as_user
    if fs_group is not None:
        context["fsGroup"] = fs_group
    return context


def container_security(
    read_only_root: bool = True, run_as_user: int | None = None, run_as_non_root: bool = True
) -> dict[str, Any]:
    """A container securityContext: no privilege escalation, every capability dropped, read-only root."""
    context: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": run_as_non_root,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if run_as_user is not None:
        context["runAsUser"] = run_as_user
    return context


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container; memory limit = request (no overcommit of memory)."""

    cpu: str
    memory: str
    cpu_limit: str

    def values(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu, "memory": self.memory},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory},
        }


SMALL = Resources(cpu="50m", memory="128Mi", cpu_limit="250m")
MEDIUM = Resources(cpu="100m", memory="256Mi", cpu_limit="500m")
LARGE = Resources(cpu="250m", memory="1Gi", cpu_limit="1")


def set_path(values: dict[str, Any], path: str, value: Any) -> None:
    """Set `value` at a dotted path, creating the objects on the way."""
    parts = path.split(".")
    target = values
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = copy.deepcopy(value)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of values fragments; `override` wins on scalars and lists."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
