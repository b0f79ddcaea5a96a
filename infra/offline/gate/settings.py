"""The pack's per-stack config (`policies/config/<stack>.json`), read and reconciled with the pack's defaults as the CLI
reconciles it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from infra.offline.gate.report import LEVELS, GateError, PolicyInfo

REPO_ROOT = Path(__file__).resolve().parents[3]


PACK_DIR = REPO_ROOT / "policies"


def load_config_file(path: Path) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """`--policy-pack-config` JSON: policy name (or `all`) -> level string, or object with enforcementLevel."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise GateError(f"{path}: no policy config for this stack; add one (see docs/policies.md)") from None
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise GateError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise GateError(f"{path}: must be a JSON object of policy name -> level or settings")
    parsed: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for name, value in document.items():
        if isinstance(value, str):
            level, properties = value, {}
        elif isinstance(value, dict):
            properties = dict(value)
            level = properties.pop("enforcementLevel", None)
        else:
            raise GateError(f"{path}: {name}: must be an enforcement level or an object")
        if level is not None and level not in LEVELS:
            raise GateError(f"{path}: {name}: {level!r} is not one of {', '.join(LEVELS)}")
        parsed[name] = (level, properties)
    return parsed


def reconcile(
    policies: Iterable[PolicyInfo],
    given: Mapping[str, tuple[str | None, dict[str, Any]]],
    origin: str = "policy config",
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Schema defaults, then `all`, then each policy's own entry; validated against each policy's schema."""
    policies = list(policies)
    known_names = {policy.name for policy in policies}
    unknown = sorted(set(given) - known_names - {"all"})
    if unknown:
        raise GateError(f"{origin}: {', '.join(unknown)}: no such policy in the pack (see docs/policies.md)")
    result: dict[str, tuple[str, dict[str, Any]]] = {}
    all_level = given.get("all", (None, {}))[0]
    for policy in policies:
        properties = {key: spec["default"] for key, spec in policy.config_schema.items() if "default" in spec}
        level = all_level or policy.level
        own_level, own_properties = given.get(policy.name, (None, {}))
        properties.update(own_properties)
        result[policy.name] = (own_level or level, properties)
        _validate_properties(policy, properties, origin)
    return result


def _validate_properties(policy: PolicyInfo, properties: dict[str, Any], origin: str) -> None:
    import jsonschema

    schema: dict[str, Any] = {"type": "object"}
    if policy.config_schema:
        schema["properties"] = policy.config_schema
    if policy.required:
        schema["required"] = list(policy.required)
    try:
        jsonschema.validate(properties, schema)
    except jsonschema.ValidationError as error:
        where = ".".join(str(part) for part in error.absolute_path) or "(settings)"
        raise GateError(f"{origin}: {policy.name}: {where}: {error.message}") from None


def config_path(stack: str, pack_dir: Path = PACK_DIR) -> Path:
    return pack_dir / "config" / f"{stack}.json"
