"""What every layer component shares: the type-token grammar and child resource options."""

from __future__ import annotations

import re

import pulumi

PACKAGE = "dataplatform"
TYPE_TOKEN = re.compile(rf"^{PACKAGE}:(?P<layer>[a-z]+):(?P<name>[A-Z][A-Za-z0-9]+)$")


def type_token(layer: str, name: str) -> str:
    """`dataplatform:<layer>:<Name>`, the one grammar for every component type."""
    token = f"{PACKAGE}:{layer}:{name}"
    if not TYPE_TOKEN.match(token):
        raise ValueError(f"type token {token!r} does not follow {PACKAGE}:<layer>:<Name>")
    return token


def child_options(
    parent: pulumi.Resource, opts: pulumi.ResourceOptions | None = None, **extra
) -> pulumi.ResourceOptions:
    """Options for a component's child: parented to the component, plus any extra options."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=parent, **extra))
