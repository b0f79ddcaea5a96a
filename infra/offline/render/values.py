"""From the plan's wire-form inputs to the values Helm gets: numbers as the provider sends them, stand-ins for what
the plan cannot know.

The plan records inputs in the engine's wire form: numbers are floats, and a value the mocks cannot know is the
wire's unknown sentinel (preview semantics), `null` (an Output the mocks left empty, such as prod's RDS address
in Airbyte's `global.database.host`), or `"[secret]"` (a secret, redacted). Pulumi's provider hands Helm JSON
numbers, so a whole float becomes an int. Each unknown leaf gets a stand-in that reads as one
(`plan-stand-in.<path>.invalid`: a hostname under the reserved `.invalid` domain, so it can never resolve) and is
listed in the render summary, so nobody mistakes a rendered stand-in for the deployed value.

A `null` the program means literally (Helm's way to delete a chart default) would be replaced too; the program
passes none today, and the render tests pin each stack's stand-in paths, so a new one is seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from infra.offline.harness import UNKNOWN, is_secret, unwrap_secret

SECRET_MARK = "[secret]"
STAND_IN_SECRET = "plan-stand-in-secret"


@dataclass(frozen=True)
class StandIn:
    path: str
    """Dotted path of the leaf (list items by index)."""
    was: str
    """`unknown` (not known until deploy), `null` (an Output the mocks left empty) or `secret` (redacted)."""
    value: str


def helm_values(wire: Any) -> tuple[Any, list[StandIn]]:
    """The wire-form value as Helm receives it, and the stand-ins put in for what the plan does not know."""
    stand_ins: list[StandIn] = []
    return _convert(wire, (), stand_ins), stand_ins


def _convert(value: Any, path: tuple[str, ...], stand_ins: list[StandIn]) -> Any:
    if is_secret(value):
        inner = unwrap_secret(value)
        return _convert(inner, path, stand_ins) if inner not in (None, UNKNOWN) else _stand_in(path, "secret",
                                                                                               stand_ins)
    if isinstance(value, dict):
        return {key: _convert(item, (*path, key), stand_ins) for key, item in value.items()}
    if isinstance(value, list):
        return [_convert(item, (*path, str(index)), stand_ins) for index, item in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None:
        return _stand_in(path, "null", stand_ins)
    if value == UNKNOWN:
        return _stand_in(path, "unknown", stand_ins)
    if value == SECRET_MARK:
        return _stand_in(path, "secret", stand_ins)
    return value


def _stand_in(path: tuple[str, ...], was: str, stand_ins: list[StandIn]) -> str:
    dotted = ".".join(path)
    if was == "secret":
        value = STAND_IN_SECRET
    else:
        label = re.sub(r"[^a-z0-9]+", "-", dotted.lower()).strip("-")[:63].strip("-") or "value"
        value = f"plan-stand-in.{label}.invalid"
    stand_ins.append(StandIn(dotted, was, value))
    return value
