"""`DataPlatform`: wires the layers in data-flow order, passing outputs from one to the next."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.base import child_options, type_token
from components.storage import DataLake, LakeConfig
from infra.catalog import Catalog
from infra.config import StackConfig


class DataPlatform(pulumi.ComponentResource):
    """The whole platform of one stack. Layers are children, in the order data flows through them."""

    def __init__(self, name: str, config: StackConfig, catalog: Catalog, opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token("platform", "DataPlatform"), name, None, opts)
        providers = {}
        if config.aws is not None:
            providers["aws"] = aws.Provider(
                f"{name}-aws",
                region=config.aws.region,
                default_tags=aws.ProviderDefaultTagsArgs(
                    tags={"dataplatform:stack": config.stack, "dataplatform:stage": config.stage}
                ),
                opts=child_options(self),
            )
        self.lake = DataLake(
            f"{name}-lake",
            LakeConfig.from_stack(config, catalog),
            catalog,
            opts=child_options(self, providers=providers),
        )
        self.register_outputs({"buckets": self.lake.bucket_names})
