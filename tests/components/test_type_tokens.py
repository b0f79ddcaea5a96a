"""Every component follows `dataplatform:<layer>:<Name>`, parents its children and is named `<parent>-<role>`."""

from __future__ import annotations

import pytest

from components.kit.base import TYPE_TOKEN, type_token


def test_type_token_rejects_other_grammars():
    assert type_token("storage", "DataLake") == "dataplatform:storage:DataLake"
    for layer, name in (("Storage", "DataLake"), ("storage", "dataLake"), ("stor-age", "DataLake")):
        with pytest.raises(ValueError, match="does not follow dataplatform:<layer>:<Name>"):
            type_token(layer, name)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_components_and_children_follow_the_conventions(stack, stack_recording):
    recording = stack_recording(stack)
    by_urn = recording.by_urn()
    components = [r for r in recording if not r.custom and not r.type.startswith("pulumi:providers:")]
    assert components, "the program declares no component"
    for component in components:
        assert TYPE_TOKEN.match(component.type), component.type
    for resource in recording:
        if "::pulumi:pulumi:Stack::" in resource.parent:
            assert resource.type == "dataplatform:platform:DataPlatform", f"{resource.name} sits at the top level"
            continue
        parent = by_urn[resource.parent]
        assert not parent.custom
        assert resource.name.startswith(f"{parent.name}-"), f"{resource.name} under {parent.name}"
