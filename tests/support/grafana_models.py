"""Grafana's dashboard model as Grafana publishes it for code, PyPI `grafana-foundation-sdk` (the types its `cog`
generator derives from Grafana's own schema, one release per Grafana version; pinned in requirements.txt): a dashboard
JSON is read into those types and judged against them.

    problems = dashboard_problems(board)     # [] when Grafana's types take the board as it is

Three checks, each by the vendor's types, none by a reading of ours: the SDK's `Dashboard.from_json` must read the
board (with the SDK's panel and query plugins registered, so each panel's `options`, `fieldConfig` and targets are read
by the types of its kind); written back by the SDK's encoder, every key and value of the board must come back
unchanged (a key Grafana's model does not have is dropped, and so named; the SDK may add its defaults); and every
value read must have the type the SDK's annotation gives its field (an `int` width, a `str` refresh, an enum's
values, a panel kind's options).
"""

from __future__ import annotations

import enum
import json
import types
import typing
from typing import Any

from grafana_foundation_sdk.cog import encoder, plugins
from grafana_foundation_sdk.models import dashboard as model

plugins.register_default_plugins()
SDK = "grafana-foundation-sdk"


def _lost(ours: Any, theirs: Any, path: str) -> list[str]:
    """Where `ours` is not inside `theirs`: a key dropped, a value changed (keys only `theirs` has are defaults)."""
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [f"{path}: read as {type(theirs).__name__}, not an object"]
        return [problem for key, value in ours.items()
                for problem in ([f"{path}.{key}: not a field of Grafana's model (dropped when read)"]
                                if key not in theirs else _lost(value, theirs[key], f"{path}.{key}"))]
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(ours) != len(theirs):
            return [f"{path}: the list did not come back whole"]
        return [problem for index, (a, b) in enumerate(zip(ours, theirs, strict=True))
                for problem in _lost(a, b, f"{path}[{index}]")]
    return [] if ours == theirs else [f"{path}: {ours!r} came back as {theirs!r}"]


def _type_problems(value: Any, hint: Any, path: str) -> list[str]:
    if hint is Any or hint is object:
        return _fields(value, path)  # an open field the SDK filled with a typed object (a panel kind's options)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return []
        chosen = [arg for arg in args if isinstance(arg, type) and not issubclass(arg, enum.Enum)
                  and isinstance(value, arg)]
        if chosen:  # the SDK read it as this alternative (a panel or a row): judge it as that
            return _type_problems(value, chosen[0], path)
        tried = [_type_problems(value, arg, path) for arg in args if arg is not type(None)]
        return [] if any(not problems for problems in tried) else min(tried, key=len)
    if value is None:
        return [f"{path}: missing, where Grafana's model requires {hint}"]
    if origin is typing.Literal:
        return [] if value in args else [f"{path}: {value!r} is none of {args}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: {value!r} is not a list"]
        return [problem for index, item in enumerate(value)
                for problem in _type_problems(item, args[0] if args else Any, f"{path}[{index}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: {value!r} is not an object"]
        return [problem for key, item in value.items()
                for problem in _type_problems(item, args[1] if args else Any, f"{path}.{key}")]
    if not isinstance(hint, type):
        return _fields(value, path)  # a type variable the SDK leaves open
    if issubclass(hint, enum.Enum):
        allowed = {member.value for member in hint}
        return [] if isinstance(value, hint) or value in allowed else [
            f"{path}: {value!r} is not one of {hint.__name__}'s values {sorted(map(str, allowed))}"]
    if hint is bool:
        return [] if isinstance(value, bool) else [f"{path}: {value!r} is not a boolean"]
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: {value!r} is not an integer"]
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{path}: {value!r} is not a number"]
    if hint is str:
        return [] if isinstance(value, str) else [f"{path}: {value!r} is not a string"]
    if not isinstance(value, hint):
        return [f"{path}: {type(value).__name__} where Grafana's model has {hint.__name__}"]
    return _fields(value, path)


def _fields(instance: Any, path: str) -> list[str]:
    """Each annotated field of an SDK object against its annotation."""
    if type(instance).__module__.split(".")[0] != "grafana_foundation_sdk":
        return []
    hints = typing.get_type_hints(type(instance))
    return [problem for name, hint in hints.items()
            for problem in _type_problems(getattr(instance, name, None), hint, f"{path}.{name}")]


def dashboard_problems(board: dict[str, Any]) -> list[str]:
    """What Grafana's dashboard model (the SDK's types) refuses in `board`; [] when it takes it as it is."""
    try:
        read = model.Dashboard.from_json(board)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        return [f"dashboard: {SDK} cannot read it ({type(error).__name__}: {error})"]
    written = json.loads(json.dumps(read, cls=encoder.JSONEncoder))
    return _lost(board, written, "dashboard") + _fields(read, "dashboard")
