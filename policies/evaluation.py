"""Convert each resource once per analyzer call instead of once per policy.

The SDK's analyzer server (pulumi_policy 1.21, `_PolicyAnalyzerServicer`) turns a resource's protobuf
properties into Python values inside its loop over policies: `Analyze` converts the same resource once for each
of the pack's resource policies, `AnalyzeStack` converts every resource of the stack once for each stack policy,
and both convert the resource's provider again each time. With 44 resource and 18 stack policies that is about
sixty conversions per resource, most of the time a `pulumi preview --policy-pack policies/` spends in the pack.

`install()` keeps, for the duration of one `Analyze` or `AnalyzeStack` call and on that call's thread only, the
converted value of each distinct properties message, so every policy of the call receives the same read-only
value it would otherwise have rebuilt. Nothing outlives the call, nothing is shared between calls or threads, and
`Remediate` (whose policies may rewrite the properties they get) is left exactly as the SDK has it. The policies
see identical inputs either way: tests/policies/test_policy_evaluation.py runs the pack with and without this over both
stacks and compares every finding.

If the SDK's server no longer has the shape this relies on, `install()` changes nothing and returns False: the
pack still works, only slower. Decision 0013 records why the pack carries this.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format

_call = threading.local()


def _cache() -> dict[Any, Any] | None:
    return getattr(_call, "cache", None)


def _shared(kind: str, convert: Callable[..., Any]) -> Callable[..., Any]:
    """`convert(value)` once per distinct source object within a call; other arguments bypass the cache."""

    @functools.wraps(convert)
    def wrapper(value: Any, *args: Any, **kwargs: Any) -> Any:
        cache = _cache()
        if cache is None or any(args) or kwargs:
            return convert(value, *args, **kwargs)
        key = (kind, id(value))
        entry = cache.get(key)
        # The source is kept in the entry, so its id cannot be reused by another object during the call.
        if entry is None or entry[0] is not value:
            entry = cache[key] = (value, convert(value))
        return entry[1]

    return wrapper


class _SharedJsonFormat:
    """Stands in for `google.protobuf.json_format` inside the SDK's server module."""

    def __getattr__(self, name: str) -> Any:
        return getattr(json_format, name)

    # The request's messages are not modified during a call, and protobuf hands out the same Python object for
    # the same field of a message while it is referenced (the entry references it), so identity is the key.
    MessageToDict = staticmethod(_shared("message", json_format.MessageToDict))


def _per_call(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: Any) -> Any:
        outer = _cache()
        _call.cache = {} if outer is None else outer
        try:
            return method(self, request, context)
        finally:
            _call.cache = outer

    return wrapper


def install() -> bool:
    """Share conversions within each analyzer call; False (and no change) if the SDK's server is not as expected."""
    from pulumi_policy import policy as server

    if isinstance(getattr(server, "json_format", None), _SharedJsonFormat):
        return True
    servicer = getattr(server, "_PolicyAnalyzerServicer", None)
    if (
        servicer is None
        or getattr(server, "json_format", None) is not json_format
        or not callable(getattr(server, "deserialize_properties", None))
        or not callable(getattr(server, "unknown_checking_proxy", None))
        or not all(callable(getattr(servicer, name, None)) for name in ("Analyze", "AnalyzeStack"))
    ):
        return False
    server.json_format = _SharedJsonFormat()
    server.deserialize_properties = _shared("properties", server.deserialize_properties)
    server.unknown_checking_proxy = _shared("proxy", server.unknown_checking_proxy)
    servicer.Analyze = _per_call(servicer.Analyze)
    servicer.AnalyzeStack = _per_call(servicer.AnalyzeStack)
    return True
