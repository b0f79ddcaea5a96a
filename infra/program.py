"""The Pulumi program: parse the stack config and the catalog once, then declare the platform."""

from __future__ import annotations

import pulumi
from pulumi.runtime import config as runtime_config

from components.platform import DataPlatform
from infra.catalog import Catalog, load_catalog
from infra.config import PROJECT, StackConfig, parse_stack_config, project_values
from infra.errors import ConfigError


def load_inputs() -> tuple[StackConfig, Catalog]:
    """The typed stack config and catalog of this run; ConfigError on any invalid input."""
    engine_config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    config = parse_stack_config(project_values(engine_config, PROJECT), pulumi.get_stack())
    return config, load_catalog()


def main() -> None:
    try:
        config, catalog = load_inputs()
    except ConfigError as error:
        # A user error: the message names the key and the fix; no traceback.
        raise pulumi.RunError(str(error)) from None
    platform = DataPlatform("platform", config, catalog)
    pulumi.export("stage", config.stage)
    pulumi.export("buckets", platform.lake.bucket_names)
    pulumi.export("lakeEndpoint", platform.lake.endpoint)
    pulumi.export("lakeCredentials", platform.lake.credentials)
