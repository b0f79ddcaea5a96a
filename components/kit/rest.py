"""The one base every dynamic provider of the platform is built on (Elasticsearch now; Dremio, Airbyte, Superset).

Contract, for an author of a new resource kind:

1. Subclass `RestProvider` and implement, for one kind of object addressed by a key (a name or a path):
   - `key(props)`: the object's identity; a change of key replaces the resource;
   - `spec(props)`: the body the object must have, without secrets (what drift detection compares);
   - `secrets(props)`: the secret parts of the body (passwords), default none; merged into the body on write;
   - `connect(props)`: a client for the service, from `props["connection"]`;
   - `fetch(client, key)`: the live object in the shape `spec` returns, or None when it does not exist;
   - `put(client, key, body)`: create or replace the object (idempotent: an upsert);
   - `remove(client, key)`: delete it; raise `NotFound` when it is already gone;
   - `is_transient(error)`: whether a failure is worth retrying (5xx, connection errors, timeouts).
2. Declare the resource with a distinct type name, so each kind shows up on its own in plans and policies:
   `class IndexTemplate(ProviderResource, module="elasticsearch", name="IndexTemplate")` registers as
   `pulumi-python:dynamic/elasticsearch:IndexTemplate`.

What the base guarantees:
- numbers arrive from the engine as floats; whole ones are sent (and hashed) as ints;
- create and update apply the whole body (an upsert), so re-running either after a partial failure is safe;
  `diff` reports no change when the hash of the desired spec equals the hash stored at the last apply, so a
  second `pulumi up` changes nothing; `read` (refresh) hashes the live object, so drift shows as a change;
- `delete` succeeds when the object is already gone;
- every call is retried on transient failures with exponential backoff, a bounded number of times; the sleep
  is injected (`Retry(sleep=...)`) so tests need not wait;
- state holds only the key, non-secret identifiers, the hash of the applied spec, a hash of its secrets, and
  the connection. The engine hands `delete` and `refresh` nothing but the prior outputs, so the connection
  (endpoint, credentials, CA) must be among them: resources declare it an additional secret output, so it is
  encrypted in state and shown as `[secret]`. Object secrets (a user's password) are never stored, only hashed
  together with the key;
- TLS: the connection carries the CA bundle as PEM (`ca_pem`), never a file path (decision 0001).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import pulumi
import pulumi.dynamic as dynamic

T = TypeVar("T")
UNKNOWN_INPUT = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
CONNECTION = "connection"
SPEC_HASH = "spec_hash"
SECRETS_HASH = "secrets_hash"
KEY = "key"


class NotFound(Exception):  # noqa: N818 (a condition, not a failure)
    """The object does not exist on the service."""


class ProviderError(Exception):
    """A call failed for good (not transient, or still failing after every retry); the message names the object."""


@dataclass(frozen=True)
class Retry:
    """Exponential backoff: `attempts` tries, waits of `initial`, `initial*factor`, ... capped at `max_delay`."""

    attempts: int = 5
    initial: float = 0.5
    factor: float = 2.0
    max_delay: float = 8.0
    sleep: Callable[[float], None] = time.sleep

    def delays(self) -> list[float]:
        return [min(self.initial * self.factor**n, self.max_delay) for n in range(self.attempts - 1)]

    def run(self, call: Callable[[], T], transient: Callable[[Exception], bool], what: str) -> T:
        delays = self.delays()
        for attempt in range(self.attempts):
            try:
                return call()
            except NotFound:
                raise
            except Exception as error:
                if not transient(error):
                    raise ProviderError(f"{what}: {error!r}") from error
                if attempt == self.attempts - 1:
                    raise ProviderError(f"{what}: still failing after {self.attempts} attempts: {error!r}") from error
                self.sleep(delays[attempt])
        raise AssertionError("unreachable")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest(*parts: Any) -> str:
    return hashlib.sha256("\x1f".join(canonical(part) for part in parts).encode()).hexdigest()


def integral(value: Any) -> Any:
    """Numbers as the engine delivers them (every number a float) back to ints where they are whole."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [integral(item) for item in value]
    return value


def has_unknowns(value: Any) -> bool:
    """Whether an input still holds a value unknown at preview (the engine's sentinel)."""
    if value == UNKNOWN_INPUT:
        return True
    if isinstance(value, dict):
        return any(has_unknowns(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_unknowns(item) for item in value)
    return False


class RestProvider(dynamic.ResourceProvider):
    """Idempotent CRUD and diff over one kind of REST object; see the module docstring for the contract."""

    kind: ClassVar[str] = "object"

    def __init__(self, retry: Retry | None = None) -> None:
        self.retry = retry or Retry()

    # ---- what a kind implements ------------------------------------------------------------------

    def key(self, props: dict[str, Any]) -> str:
        raise NotImplementedError

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def secrets(self, props: dict[str, Any]) -> dict[str, Any]:
        return {}

    def identifiers(self, props: dict[str, Any]) -> dict[str, Any]:
        """Non-secret outputs besides the key (default none)."""
        return {}

    def connect(self, props: dict[str, Any]) -> Any:
        raise NotImplementedError

    def fetch(self, client: Any, key: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def put(self, client: Any, key: str, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def remove(self, client: Any, key: str) -> None:
        raise NotImplementedError

    def is_transient(self, error: Exception) -> bool:
        return False

    # ---- the engine's operations ------------------------------------------------------------------

    def _spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return integral(self.spec(props))

    def _call(self, what: str, call: Callable[[], T]) -> T:
        return self.retry.run(call, self.is_transient, f"{self.kind} {what}")

    def _outputs(self, props: dict[str, Any], key: str, spec_hash: str) -> dict[str, Any]:
        return {
            KEY: key,
            **self.identifiers(props),
            SPEC_HASH: spec_hash,
            SECRETS_HASH: digest(key, self.secrets(props)),
            CONNECTION: props[CONNECTION],
        }

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        key = self.key(props)
        spec = self._spec(props)
        client = self.connect(props)
        self._call(f"'{key}' apply", lambda: self.put(client, key, {**spec, **self.secrets(props)}))
        return self._outputs(props, key, digest(spec))

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        outs = self._apply(props)
        return dynamic.CreateResult(id_=outs[KEY], outs=outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(outs=self._apply(news))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        if has_unknowns({k: v for k, v in news.items() if k != "__provider"}):
            # Inputs unknown at preview (a password not generated yet): say "may change", never "replace".
            return dynamic.DiffResult(changes=True)
        key = self.key(news)
        if key != olds.get(KEY):
            return dynamic.DiffResult(changes=True, replaces=[KEY], delete_before_replace=True)
        changed = (
            digest(self._spec(news)) != olds.get(SPEC_HASH)
            or digest(key, self.secrets(news)) != olds.get(SECRETS_HASH)
            or canonical(news.get(CONNECTION)) != canonical(olds.get(CONNECTION))
        )
        return dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        client = self.connect(props)
        live = self._call(f"'{id_}' read", lambda: self.fetch(client, id_))
        if live is None:
            return dynamic.ReadResult(id_="", outs={})
        return dynamic.ReadResult(id_=id_, outs={**props, SPEC_HASH: digest(integral(live))})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        client = self.connect(props)
        try:
            self._call(f"'{id_}' delete", lambda: self.remove(client, id_))
        except NotFound:
            pulumi.log.debug(f"{self.kind} '{id_}' was already gone")


# The SDK's `pulumi.dynamic.serialize_provider` (3.x) makes the pickled provider deterministic by wrapping
# `pickle._Pickler._batch_setitems` in a sorting function, and never unwraps it: every dynamic resource adds one
# more level. A program with about a thousand dynamic resources (or a process that runs the program twenty times,
# as the tests do) then fails with RecursionError while pickling. Starting each resource from the original
# method keeps the depth at one; the sorting, and so the serialised provider, are unchanged.
_PICKLER_BATCH_SETITEMS = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]


def unwrap_sdk_pickler() -> None:
    """Undo the SDK's previous wrapping of the pickler before it serialises the next dynamic provider."""
    pickle._Pickler._batch_setitems = _PICKLER_BATCH_SETITEMS  # type: ignore[attr-defined]


class ProviderResource(dynamic.Resource):
    """A dynamic resource whose connection is kept encrypted in state (see the module docstring)."""

    key: pulumi.Output[str]
    spec_hash: pulumi.Output[str]

    def __init__(
        self,
        provider: RestProvider,
        name: str,
        props: dict[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        secret_connection = pulumi.ResourceOptions(additional_secret_outputs=[CONNECTION])
        unwrap_sdk_pickler()
        super().__init__(
            provider,
            name,
            {KEY: None, SPEC_HASH: None, SECRETS_HASH: None, **props},
            pulumi.ResourceOptions.merge(opts, secret_connection),
        )
