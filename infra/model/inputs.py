"""The one validator: every user input of a run, judged before any resource is declared.

`validate_inputs` parses the stack config (Pulumi.<stack>.yaml over the stage defaults), loads the catalog
(infra/dataflow.yaml) and checks the rules that need both; `load_inputs` does the same for the program from the
engine's config. Every problem of every file surfaces in one `ConfigError`, one line each, naming the file, the
key path, what is allowed and the value given. The program and the offline plan both come through here; the
components then trust what they are given.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.ingestion.config import ENDPOINT_KEYS
from infra.model import catalog as catalog_module
from infra.model.catalog import Catalog, catalog_origin, load_catalog
from infra.model.config import PROJECT, StackConfig, parse_stack_config, stack_origin
from infra.model.errors import ConfigError, Problem, problem_line


@dataclass(frozen=True)
class Inputs:
    """A run's validated inputs: the typed stack config and the catalog."""

    config: StackConfig
    catalog: Catalog


def validate_inputs(values: dict[str, Any], stack: str, catalog_path: Path | None = None,
                    secret_keys: Collection[str] | None = None,
                    secret_paths: Collection[str] | None = None) -> Inputs:
    """Validate the project-namespace config `values` of `stack` and the catalog, alone and together; with
    `secret_keys` (the engine's encrypted keys) or `secret_paths` (the stack file's `secure:` leaves), a secret
    given in plain text is refused too.

    Raises ConfigError listing the problems of the stack file, then those of the catalog, then those between them.
    """
    errors: list[str] = []
    config = catalog = None
    try:
        config = parse_stack_config(values, stack, secret_keys=secret_keys, secret_paths=secret_paths)
    except ConfigError as error:
        errors.append(str(error))
    path = catalog_path or catalog_module.CATALOG_PATH
    try:
        catalog = load_catalog(path)
    except ConfigError as error:
        errors.append(str(error))
    if config is not None and catalog is not None:
        errors += cross_check(config, catalog, catalog_origin(path))
    if errors:
        raise ConfigError("\n".join(errors))
    assert config is not None and catalog is not None
    return Inputs(config=config, catalog=catalog)


def cross_check(config: StackConfig, catalog: Catalog, catalog_name: str = "infra/dataflow.yaml") -> list[str]:
    """The rules between the stack config and the catalog, one line per problem, under the key to change."""
    stack_file, prefix = stack_origin(config.stack), f"{PROJECT}:"
    problems: list[Problem] = []
    endpoints = config.ingestion.sources
    declared = {source.name: source for source in catalog.sources}
    for name, source in declared.items():
        if name not in endpoints:
            needed = ", ".join(ENDPOINT_KEYS[source.kind][0])
            problems.append(Problem(
                f"ingestion.sources.{name}", f"required: {catalog_name} declares source `sources[{name}]` "
                f"({source.kind}); give where it lives in this stack ({needed})"))
    for name in endpoints:
        if name not in declared:
            problems.append(Problem(
                f"ingestion.sources.{name}", f"not a source of {catalog_name} (sources: {', '.join(declared)}); "
                "remove it or declare the source there"))
    for name, source in declared.items():
        endpoint = endpoints.get(name)
        if endpoint is None:
            continue
        required, optional = ENDPOINT_KEYS[source.kind]
        given = endpoint.model_dump(by_alias=True, exclude_none=True)
        for key in required:
            if key not in given:
                problems.append(Problem(f"ingestion.sources.{name}.{key}", f"required for a {source.kind} source"))
        for key in given:
            if key not in required and key not in optional:
                allowed = ", ".join((*required, *optional))
                problems.append(Problem(f"ingestion.sources.{name}.{key}", f"not used by a {source.kind} source "
                                        f"(it takes {allowed}); remove it", given[key]))
    if not problems:
        from components.ingestion.connectors import configuration_problems

        problems += configuration_problems(endpoints, catalog.sources, config.ingestion.connector_registry,
                                           catalog_module.PROJECT_ROOT)
    if not problems:
        from components.platform import network_problems  # the products' flow tables, with the program's imports

        problems += network_problems(config, catalog)
    lines = [problem_line(stack_file, prefix, problem) for problem in problems]
    lock_days = config.storage.object_lock_days
    logs_days = catalog.lake.layer("logs").retention_days
    if lock_days and 0 < logs_days < lock_days:
        lines.append(problem_line(catalog_name, "", Problem(
            "lake.layers.logs.retention_days", f"expires the logs layer's objects before their lock ends: "
            f"{stack_file} locks them for {lock_days} days ({prefix}storage.objectLockDays); use at least {lock_days}, "
            "or 0 to keep them", logs_days)))
    return lines


def load_inputs() -> Inputs:
    """The inputs of the running program: the engine's config for this stack, and the catalog."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    from infra.model.config import project_values

    engine_config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = {*runtime_config.get_config_secret_keys_env(),
                   *(key for key in engine_config if runtime_config.is_config_secret(key))}
    return validate_inputs(project_values(engine_config, PROJECT), pulumi.get_stack(), secret_keys=secret_keys)
