"""Read `Pulumi.yaml` and `Pulumi.<stack>.yaml` the way the Pulumi CLI does, for runs without the CLI.

The CLI applies the project-level `config:` schema before the program starts: a declared key missing from
the stack without a default is an error, a default fills an absent key, and a value must have the declared
type (string, integer, boolean or array). Values then reach the program as strings (structured values as
JSON). The offline plan and the tests apply the same rules here so they see what `pulumi up` would see.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.model import yamlio
from infra.model.errors import ConfigError, shown

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}
# What the offline tiers put where a `secure:` value sits: the ciphertext cannot be read without the
# stack's secrets provider, and the program only needs to know it is a secret.
OFFLINE_SECRET_PLACEHOLDER = "offline-secret-placeholder"


@dataclass(frozen=True)
class StackSettings:
    project: str
    stack: str
    config: dict[str, str] = field(default_factory=dict)  # "<namespace>:<key>" -> engine string form
    secret_keys: tuple[str, ...] = ()
    secret_paths: tuple[str, ...] = ()
    """Every `secure:` value of the file by its full path (`<namespace>:<key>.<path>`, list items by index): which
    leaves the file holds encrypted, where the engine only tells a program which top-level keys hold one."""

    def with_overrides(self, overrides: dict[str, Any]) -> StackSettings:
        """A copy with `<namespace>:<key>` values replaced (None removes the key); values in YAML form."""
        merged = dict(self.config)
        for key, value in overrides.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = engine_string(value)
        kept = tuple(path for path in self.secret_paths if path.split(".", 1)[0] not in overrides)
        return StackSettings(self.project, self.stack, merged, self.secret_keys, kept)


def engine_string(value: Any) -> str:
    """How the engine hands a config value to a program: strings raw, everything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def load_project(root: Path = REPO_ROOT) -> dict[str, Any]:
    path = root / "Pulumi.yaml"
    try:
        project = yamlio.load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing; run from the project root") from None
    except yamlio.DuplicateKeyError as error:
        raise ConfigError(error.describe(path.name)) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(project, dict) or "name" not in project:
        raise ConfigError(f"{path}: not a Pulumi project file (no `name`)")
    return project


def load_stack(stack: str, root: Path = REPO_ROOT) -> StackSettings:
    """The config a program of `stack` receives, with the project's schema applied as the CLI does."""
    project = load_project(root)
    name = project["name"]
    path = root / f"Pulumi.{stack}.yaml"
    try:
        document = yamlio.load(path.read_text()) or {}
    except FileNotFoundError:
        stacks = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml"))
        raise ConfigError(
            f"{path.name}: no such stack file; choose one of: {', '.join(stacks)} (make plan STACK=<name>)"
        ) from None
    except yamlio.DuplicateKeyError as error:
        raise ConfigError(error.describe(path.name, skip=1)) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path.name}: not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path.name}: a stack file is a mapping with a `config` key (got {shown(document)})")
    raw = document.get("config") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: `config` must be a mapping of `<namespace>:<key>` to values")

    values: dict[str, str] = {}
    secret_keys: list[str] = []
    secret_paths: list[str] = []
    for key, value in raw.items():
        if ":" not in str(key):
            raise ConfigError(f"{path.name}: {key}: config keys need a namespace, e.g. {name}:{key}")
        # `pulumi config set --secret` stores `{secure: <ciphertext>}`, at the top or, with `--path`, inside a
        # structured value; the whole key is then secret, as the engine marks it.
        plain, secret = _without_ciphertext(value)
        values[key] = engine_string(plain)
        if secret:
            secret_keys.append(key)
            secret_paths += _secure_paths(value, str(key))

    for short, spec in (project.get("config") or {}).items():
        key = short if ":" in short else f"{name}:{short}"
        spec = spec if isinstance(spec, dict) else {"default": spec}
        declared = spec.get("type")
        if key not in raw:
            if "default" not in spec:
                raise ConfigError(
                    f"{path.name}: {key}: required by Pulumi.yaml but missing; "
                    f"set it with `pulumi config set {short} <value> --stack {stack}`"
                )
            values[key] = engine_string(spec["default"])
            continue
        if declared and key not in secret_keys and not _has_type(raw[key], declared):
            raise ConfigError(
                f"{path.name}: {key}: Pulumi.yaml declares type {declared} (got {raw[key]!r})"
            )
    return StackSettings(name, stack, values, tuple(sorted(secret_keys)), tuple(sorted(secret_paths)))


def _secure_paths(value: Any, path: str) -> list[str]:
    """The paths of the `{secure: ...}` values inside `value` (itself at `path`)."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return [path]
        return [found for key, item in value.items() for found in _secure_paths(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in _secure_paths(item, f"{path}[{index}]")]
    return []


def _without_ciphertext(value: Any) -> tuple[Any, bool]:
    """The value with every `{secure: ...}` replaced by the offline placeholder, and whether there was one."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return OFFLINE_SECRET_PLACEHOLDER, True
        found = False
        plain = {}
        for key, item in value.items():
            plain[key], secret = _without_ciphertext(item)
            found = found or secret
        return plain, found
    if isinstance(value, list):
        items = [_without_ciphertext(item) for item in value]
        return [item for item, _ in items], any(secret for _, secret in items)
    return value, False


def _has_type(value: Any, declared: str) -> bool:
    expected = SCHEMA_TYPES.get(declared)
    if expected is None:
        return True
    if expected is int and isinstance(value, bool):
        return False
    return isinstance(value, expected)
