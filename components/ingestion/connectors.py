"""Airbyte connectors by definition id, and a source's configuration judged against its connector's spec.

Airbyte knows a connector by its definition id (a UUID that stays the same across releases and versions); the public
API creates every source and destination with one (`definitionId`). The catalog's built-in kinds map to the
connectors below; any other connector is named by its id (`connector:` in the catalog) and configured from the
stack config (`ingestion.sources.<name>.configuration`, its secrets under `.secrets`).

A connector's spec is the JSON Schema of its configuration (`connectionSpecification`); fields it marks
`airbyte_secret` are stored by Airbyte in its secrets store and answered masked. `check_configuration` judges a
configuration against a spec: every field the schema requires or constrains, and no secret field in plain text.
Offline, the specs come from Airbyte's connector registry (`ingestion.connectorRegistry`: the registry file as
Airbyte publishes it, each connector with its definition id and spec); the Airbyte provider's check judges the same
way against the spec the deployed server reports (components/ingestion/provider.py, decision 0036).

    registry = ConnectorRegistry.load(Path("oss_registry.json"))
    spec = registry.source_spec(POSTGRES)
    check_configuration(spec, {"host": "db", "password": "x"}, secret_paths=set())
    # [("password", "the connector marks it secret (airbyte_secret): give it as a secret"), ("port", "...")]
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from infra.model.errors import MISSING, Problem

# Definition ids of the connectors the built-in kinds use (Airbyte's OSS registry; ids do not change between releases).
POSTGRES = "decd338e-5647-4c0b-adf4-da0e75f5a750"  # airbyte/source-postgres
MYSQL = "435bb9a5-7887-4809-aa58-28c27df0d7ad"  # airbyte/source-mysql
MONGODB = "b2e713cd-cc36-4c0a-b5bd-b47cb8a0561e"  # airbyte/source-mongodb-v2
S3_SOURCE = "69589781-7828-43c5-9f63-8925b1c1ccc2"  # airbyte/source-s3
S3_DESTINATION = "4816b78f-1489-44c1-9060-4b19d5fa9362"  # airbyte/destination-s3
KIND_DEFINITIONS: dict[str, str] = {"postgres": POSTGRES, "mysql": MYSQL, "mongodb": MONGODB, "csv_files": S3_SOURCE}
# A value the configuration's secrets hold, for judging a configuration whose secrets are not at hand.
SECRET_PLACEHOLDER = "secret-value"


def definition_id(kind: str, connector: str | None) -> str | None:
    """The connector a catalog source uses: the one it names, or its kind's."""
    return connector or KIND_DEFINITIONS.get(kind)


def secret_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths of the fields a spec marks `airbyte_secret`, in any of its `oneOf`/`anyOf`/`allOf` branches."""
    found: set[str] = set()
    for key, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}{key}"
        if isinstance(sub, dict):
            if sub.get("airbyte_secret"):
                found.add(path)
            found |= secret_paths(sub, f"{path}.")
            if isinstance(sub.get("items"), dict):
                found |= secret_paths(sub["items"], f"{path}.")
    for branch_key in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(branch_key) or []:
            if isinstance(branch, dict):
                found |= secret_paths(branch, prefix)
    return found


def leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar of a configuration with its dotted path (list items share their list's path)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, prefix)
    else:
        yield prefix.rstrip("."), value


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """`{"a.b": 1}` as `{"a": {"b": 1}}`: secrets given by dotted path, merged into a configuration."""
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        *parents, last = path.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return nested


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` laid over `base`, nested mappings merged key by key (neither is changed)."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def check_configuration(spec: dict[str, Any], plain: dict[str, Any],
                        secret_paths_given: set[str]) -> list[tuple[str, str]]:
    """What is wrong with a configuration for a connector: `(dotted field path, message)` pairs.

    `plain` is the configuration without its secrets; `secret_paths_given` the dotted paths of the secrets it will be
    given (judged with a placeholder value). A field the spec marks `airbyte_secret` in `plain` is an error: Airbyte
    would store it as a secret and answer it masked, and the stack config would hold it in clear text.
    """
    problems: list[tuple[str, str]] = []
    marked = secret_paths(spec)
    for path, _value in leaves(plain):
        if path in marked:
            problems.append((path, "the connector marks it secret (airbyte_secret): give it as a secret, not in "
                                   "plain text"))
    configuration = merge(plain, nest({path: SECRET_PLACEHOLDER for path in secret_paths_given}))
    validator = jsonschema.Draft7Validator(spec)
    for error in sorted(validator.iter_errors(configuration), key=lambda e: list(map(str, e.absolute_path))):
        path = ".".join(map(str, error.absolute_path))
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            path = f"{path}.{missing}" if path else missing
            message = "required by the connector's spec"
        elif error.validator in ("oneOf", "anyOf"):
            message = "matches none of the options the connector's spec allows"
        else:
            message = error.message if path not in marked else f"not valid ({error.validator})"
        problems.append((path or "(configuration)", message))
    return problems


@dataclass(frozen=True)
class ConnectorRegistry:
    """Airbyte's connector registry: each connector's definition id, image and spec."""

    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    destinations: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ConnectorRegistry:
        document = json.loads(path.read_text())
        return cls(
            sources={entry["sourceDefinitionId"]: entry for entry in document.get("sources", [])},
            destinations={entry["destinationDefinitionId"]: entry for entry in document.get("destinations", [])},
        )

    def source_spec(self, definition: str) -> dict[str, Any] | None:
        entry = self.sources.get(definition)
        return None if entry is None else entry["spec"]["connectionSpecification"]

    def destination_spec(self, definition: str) -> dict[str, Any] | None:
        entry = self.destinations.get(definition)
        return None if entry is None else entry["spec"]["connectionSpecification"]

    def describe(self, definition: str) -> str:
        entry = self.sources.get(definition) or self.destinations.get(definition)
        return f"{entry['dockerRepository']}:{entry['dockerImageTag']}" if entry else definition


def registry_path(setting: str, root: Path) -> Path:
    path = Path(setting).expanduser()
    return path if path.is_absolute() else root / path


def configuration_problems(sources: dict[str, Any], catalog_sources: list[Any], registry_setting: str | None,
                           root: Path) -> list[Problem]:
    """Each catalog source's configuration against its connector's spec, as problems under the stack key to change.

    `sources` are the stack config's `ingestion.sources` (SourceEndpointSettings by name). Without a registry only
    what needs no spec is judged: a source named by connector keeps its configuration and secrets apart."""
    from components.ingestion.provider import source_configuration, source_secrets

    problems: list[Problem] = []
    registry = None
    if registry_setting is not None:
        path = registry_path(registry_setting, root)
        try:
            registry = ConnectorRegistry.load(path)
        except (OSError, ValueError, KeyError, TypeError) as error:
            reason = getattr(error, "strerror", None) or f"not a connector registry ({type(error).__name__})"
            return [Problem("ingestion.connectorRegistry", f"cannot be read: {reason}", registry_setting)]
    for source in catalog_sources:
        endpoint = sources.get(source.name)
        if endpoint is None:
            continue
        where = f"ingestion.sources.{source.name}"
        given = endpoint.model_dump(by_alias=True, exclude={"password", "secrets"})
        secrets = sorted((endpoint.secrets or {}).keys())
        overlap = {path for path, _ in leaves(given.get("configuration") or {})} & set(secrets)
        problems += [Problem(f"{where}.secrets.{path}", f"also given in plain text under `{where}.configuration`; "
                             "give it once, as a secret", MISSING) for path in sorted(overlap)]
        definition = definition_id(source.kind, str(source.connector) if source.connector else None)
        if registry is None or definition is None:
            continue
        spec = registry.source_spec(definition)
        if spec is None:
            problems.append(Problem(where, f"catalog source `{source.name}` names connector {definition}, which the "
                                         "connector registry does not list", MISSING))
            continue
        endpoint_values = {**given, "schema": given.get("schema"), "username": endpoint.username}
        try:
            plain = source_configuration(source, endpoint_values)
        except ValueError:
            continue  # judged by the stack config's own rules (https URLs)
        secret_part = source_secrets(source, {"username": endpoint.username,
                                              "secrets": {path: SECRET_PLACEHOLDER for path in secrets}},
                                     SECRET_PLACEHOLDER if endpoint.password else None, SECRET_PLACEHOLDER)
        secret_given = {path for path, value in leaves(secret_part) if value is not None}
        named = f"catalog source `{source.name}` ({registry.describe(definition)})"
        for path, message in check_configuration(spec, plain, secret_given):
            if source.kind == "rest_api":
                key = f"{where}.secrets.{path}" if path in secret_given else f"{where}.configuration.{path}"
            else:
                key = where
                message = f"connector field `{path}`: {message}"
            problems.append(Problem(key, f"{message} ({named})"))
    return problems
