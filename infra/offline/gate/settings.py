"""The pack's per-stack config (`policies/config/<stack>.json`), read and reconciled with the pack's defaults as the CLI
reconciles it."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from infra.offline.gate.probe import judge_exemptions
from infra.offline.gate.report import LEVELS, GateError, PolicyInfo

# The config's exemption contract (policies/exemptions.py): the allow-list policy, its setting (copied into each
# exemptable policy's own), and the evaluation date the gate gives every policy that judges exemptions.
ALLOW_LIST = "pack-exemption-require-allow-list"
SETTING = "exemptions"
DATE_SETTING = "evaluationDate"

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
    evaluation_date: datetime.date | None = None,
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Schema defaults, then `all`, then each policy's own entry; validated against each policy's schema.

    With `evaluation_date`, every policy that judges exemptions gets it as its `evaluationDate` (the file may not
    set it: a date frozen in the file would keep expired exemptions counting). Each exemptable policy's own
    `exemptions` must be its entries of the allow-list, as `make policy-config` copies them.
    """
    policies = list(policies)
    for name, (_, properties) in given.items():
        if DATE_SETTING in properties:
            raise GateError(f"{origin}: {name}: {DATE_SETTING} is the gate's input (`make plan DATE=...`), not a "
                            "setting of the file; remove it")
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
        if evaluation_date is not None and DATE_SETTING in policy.config_schema:
            properties[DATE_SETTING] = evaluation_date.isoformat()
        result[policy.name] = (own_level or level, properties)
        _validate_properties(policy, properties, origin)
    _check_exemption_copies(result, origin)
    return result


def copies(entries: Iterable[Any]) -> dict[str, list[Any]]:
    """Policy id -> its allow-list entries, as `make policy-config` copies them into the policy's own setting."""
    result: dict[str, list[Any]] = {}
    for entry in entries:
        if isinstance(entry, Mapping) and isinstance(entry.get("policy"), str):
            result.setdefault(entry["policy"].strip(), []).append(dict(entry))
    return result


def _check_exemption_copies(config: Mapping[str, tuple[str, dict[str, Any]]], origin: str) -> None:
    if ALLOW_LIST not in config:
        return
    listed = copies(config[ALLOW_LIST][1].get(SETTING) or [])
    for name, (_, properties) in config.items():
        if name != ALLOW_LIST and SETTING in properties and (properties[SETTING] or []) != listed.get(name, []):
            raise GateError(f"{origin}: {name}: its `{SETTING}` differ from its entries in the allow-list "
                            f"(`{ALLOW_LIST}`); edit the allow-list only and run `make policy-config`")


def exemption_status(
    policies: Iterable[PolicyInfo], config: Mapping[str, tuple[str, dict[str, Any]]], on: datetime.date,
    pack_dir: Path, python: Path,
) -> dict[str, list[dict[str, Any]]]:
    """The allow-list's exemptions and exceptions judged on `on` by the pack's own code: a policy may be exempted
    when its schema has the `exemptions` setting (the pack gives it to exemptable policies only)."""
    policies = list(policies)
    if ALLOW_LIST not in config:
        return {"exemptions": [], "exceptions": []}
    exemptable = {policy.name: SETTING in policy.config_schema for policy in policies if policy.name != ALLOW_LIST}
    codes = {policy.code: policy.name for policy in policies if policy.code}
    settings = config[ALLOW_LIST][1]
    return judge_exemptions(pack_dir, python, settings.get(SETTING) or [], on, exemptable, codes,
                            settings.get("exceptions") or [])


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
