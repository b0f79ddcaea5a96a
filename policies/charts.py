"""The `charts` setting of the Kubernetes policies: where each chart keeps its hardening settings in its values.

A `helm.v3.Release` is one opaque resource (its pods exist only inside the chart), so the Kubernetes policies
check its `values` at the paths recorded for its chart. Those paths are facts about the charts the program pins,
not rules of the pack, so they reach the pack as data: each chart-aware policy takes a `charts` setting in the
stack's policy config (`--policy-pack-config policies/config/<stack>.json`), chart name -> the paths that policy
checks. The repository generates those entries from its chart pins (`make policy-config`); the pack knows no
chart of its own, so without them it can judge no release, and `kubernetes-pod-require-restricted-security`
reports every release whose chart is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import known, setting

_PATHS = {"type": "array", "items": {"type": "string", "minLength": 1}}
_TLS_SWITCH = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "minLength": 1},
        "equals": {"description": "The value the path must hold."},
        "contains": {"type": "string", "minLength": 1, "description": "Text the value must contain (spaces "
                     "collapsed)."},
        "set": {"const": True, "description": "The value must be present and not empty."},
    },
    "required": ["path"],
    "oneOf": [{"required": ["equals"]}, {"required": ["contains"]}, {"required": ["set"]}],
    "additionalProperties": False,
}
FACTS: dict[str, tuple[dict[str, Any], str]] = {
    "podSecurity": (_PATHS, "pod securityContext objects"),
    "containerSecurity": (_PATHS, "container securityContext objects"),
    "resources": (_PATHS, "resource requirement objects"),
    "serviceTypes": (_PATHS, "Service `type` values"),
    "tls": ({"type": "array", "items": _TLS_SWITCH}, "TLS switches ({path, equals | contains | set})"),
    "plaintextSecrets": (_PATHS, "values that would hold a secret in plain text"),
    "images": (_PATHS, "image objects ({repository, tag, digest})"),
}


def charts_setting(*facts: str) -> dict[str, dict[str, Any]]:
    """The `charts` property of a policy's config schema, for the facts that policy reads."""
    described = "; ".join(f"`{fact}`: {FACTS[fact][1]}" for fact in facts)
    return {
        "charts": {
            "type": "object",
            "default": {},
            "description": f"Chart name -> dotted paths into a release's values ({described}); generated from "
            "the program's chart pins by `make policy-config`.",
            "additionalProperties": {
                "type": "object",
                "properties": {fact: FACTS[fact][0] for fact in facts},
                "required": list(facts),
                "additionalProperties": False,
            },
        }
    }


def chart_name(args: Any) -> str | None:
    """The chart a release installs, without its repository (`oci://registry/charts/minio` -> `minio`)."""
    chart = known(args.props, "chart")
    if not isinstance(chart, str):
        return None
    return chart.rstrip("/").rsplit("/", 1)[-1]


def chart_facts(args: Any) -> Mapping[str, Any] | None:
    """What this policy's `charts` setting records for the release's chart, or None."""
    name = chart_name(args)
    if name is None:
        return None
    return (setting(args, "charts", {}) or {}).get(name)
