"""Resources in the engine's wire form: what the Analyzer service receives for each recorded resource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from infra.offline.harness import RecordedResource


def wire(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs as the engine marshals them for analyzers: internal keys (`__defaults`, ...) dropped."""
    return {key: value for key, value in properties.items() if not key.startswith("__")}


def struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def options(resource: RecordedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=resource.protect,
        ignoreChanges=resource.ignore_changes,
        deleteBeforeReplace=resource.delete_before_replace,
        deleteBeforeReplaceDefined=resource.delete_before_replace,
        additionalSecretOutputs=resource.additional_secret_outputs,
        aliases=resource.aliases,
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(),
        parent=resource.parent,
    )


def provider_reference(
    resource: RecordedResource, by_urn: Mapping[str, RecordedResource]
) -> analyzer_pb2.AnalyzerProviderResource | None:
    """The explicit provider a resource names (`<urn>::<id>`); default providers are not in the recording."""
    if not resource.provider:
        return None
    provider = by_urn.get(resource.provider.rsplit("::", 1)[0])
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider.type, properties=struct(wire(provider.inputs)), urn=provider.urn, name=provider.name
    )


def stack_resource(
    resource: RecordedResource, by_urn: Mapping[str, RecordedResource], preview: bool
) -> analyzer_pb2.AnalyzerResource:
    # After an update the engine passes the resulting state; at preview, what the program declared.
    properties = resource.inputs if preview or not resource.outputs else resource.outputs
    return analyzer_pb2.AnalyzerResource(
        type=resource.type,
        properties=struct(wire(properties)),
        urn=resource.urn,
        name=resource.name,
        options=options(resource),
        provider=provider_reference(resource, by_urn),
        parent=resource.parent,
        dependencies=resource.dependencies,
        propertyDependencies={
            key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
            for key, urns in resource.property_dependencies.items()
            if urns
        },
    )
