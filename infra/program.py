"""The Pulumi program: validate every input once (infra/model/inputs.py), then declare the platform."""

from __future__ import annotations

import pulumi

from components.platform import DataPlatform
from infra.model.errors import ConfigError
from infra.model.inputs import load_inputs


def main() -> None:
    try:
        inputs = load_inputs()
    except ConfigError as error:
        # A user error: each line names the file, the key and the fix; no traceback.
        raise pulumi.RunError(str(error)) from None
    config = inputs.config
    platform = DataPlatform("platform", config, inputs.catalog)
    pulumi.export("stage", config.stage)
    pulumi.export("buckets", platform.lake.bucket_names)
    pulumi.export("lakeEndpoint", platform.lake.endpoint)
    pulumi.export("lakeCredentials", platform.lake.credentials)
    # Each `kubernetes.prometheusReaders` login: the front's URL, the username and the password (secret).
    pulumi.export("prometheusReaders", platform.runtime.prometheus_readers)
