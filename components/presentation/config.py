"""The presentation layer's section of the stack config (`dataplatform:presentation`): Superset.

A pure pydantic model: the stack config (infra/model/config.py) is composed of the sections, and the
component takes this one as it is."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from infra.model.sections import (
    Section,
)


class PresentationSettings(Section):
    size: Literal["small", "medium", "large"] = Field(description="Resources of each Superset pod.")
