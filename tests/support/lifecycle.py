"""Every dynamic resource of a stack's plan, as the engine would hand it to its provider, and the run of its whole
life (create, second apply, refresh, drift, delete) against the stand-in of its service.

    declared = dynamic_resources("dev")           # the program run under the offline plan's mocks
    for resource in declared: resource.provider, resource.props, resource.depends_on

`dynamic_resources` runs the same program `make plan` runs (infra/offline/harness.py) and keeps each
`pulumi-python:dynamic/...` resource: the provider unpickled from its `__provider` input (as the engine's dynamic
provider host does), and its inputs in the engine's form (numbers as floats, secrets unwrapped). A secret the
stack leaves unset (a source password a deployer sets in the stack's config) is given a sentinel value, so the
provider is exercised as a deployed stack runs it; the plan's own sentinels stand in for generated passwords.
A secret the stack files leave out entirely because only the operator has it (OPERATOR_SECRETS: the `api` source's
`access_key`, which the stack files document how to set) is added as `pulumi config set --secret --path` would.

`Endpoints` points each resource's connection at the stand-in of its service; `Lifecycle` runs the engine's
operations in the engine's order (check, create, ...), passing the outputs of one to the next as the engine stores them.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import functools
import json
import re
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import dill
import httpx
import yaml
from pulumi.dynamic import ResourceProvider

from components.kit.rest import CONNECTION, SPEC_HASH, RestProvider, has_unknowns, integral
from infra.model.config import parse_stack_config, project_values
from infra.model.stackfiles import StackSettings, load_stack
from infra.offline.harness import RecordedResource, run_program, secret_sentinel, unwrap_secret
from tests.support.fake_https import Exchange, serve_https

DYNAMIC = "pulumi-python:dynamic/"
PROVIDER_KEY = "__provider"
STACKS = ("dev", "prod")


# ---- what the plan declares ------------------------------------------------------------------------------


@dataclass
class Declared:
    """One dynamic resource of a stack's plan."""

    stack: str
    type: str
    name: str
    urn: str
    provider: ResourceProvider
    props: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)  # names of the dynamic resources it waits for, in order
    edition: str = ""  # the stack's Dremio edition

    @property
    def kind(self) -> str:
        """`airbyte:Source`, `runtime:TrustBundleFile`, ..."""
        return self.type.removeprefix(DYNAMIC)

    @property
    def service(self) -> str:
        """The module of the type token: `airbyte`, `dremio`, `elasticsearch`, `superset`, `runtime`."""
        return self.kind.split(":")[0]

    @property
    def test_id(self) -> str:
        return f"{self.stack}/{self.kind}/{self.name}"


def _resolved(value: Any, where: tuple[str, ...], in_secret: bool = False) -> Any:
    """Secrets unwrapped; a secret left unset by the stack gets a sentinel named after where it sits."""
    unwrapped = unwrap_secret(value)
    secret = in_secret or unwrapped is not value
    if isinstance(unwrapped, dict):
        return {key: _resolved(item, (*where, key), secret) for key, item in unwrapped.items()}
    if isinstance(unwrapped, list):
        return [_resolved(item, (*where, str(index)), secret) for index, item in enumerate(unwrapped)]
    if unwrapped is None and secret:
        return secret_sentinel("lifecycle", *where)
    return unwrapped


def _provider(recorded: RecordedResource) -> ResourceProvider:
    """The provider as the engine's dynamic provider host gets it: unpickled from `__provider`."""
    provider = dill.loads(base64.b64decode(unwrap_secret(recorded.inputs[PROVIDER_KEY])))
    if isinstance(provider, RestProvider):
        # The same bounded backoff, without the waits: a retried call shows in the recorded exchanges anyway.
        provider.retry = dataclasses.replace(provider.retry, sleep=lambda _seconds: None)
    return provider


# `<namespace>:<key>` -> path inside it -> what an operator sets as a secret before the first `pulumi up`.
OPERATOR_SECRETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "dataplatform:ingestion": (("sources", "api", "secrets", "access_key"),),
}


def with_operator_secrets(settings: StackSettings) -> StackSettings:
    """The stack's settings with OPERATOR_SECRETS set (each a sentinel named after its path), the keys secret."""
    config = dict(settings.config)
    for key, paths in OPERATOR_SECRETS.items():
        value = json.loads(config[key])
        for path in paths:
            node = value
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = secret_sentinel("operator", settings.stack, key, *path)
        config[key] = json.dumps(value)
    secret_keys = tuple(sorted({*settings.secret_keys, *OPERATOR_SECRETS}))
    return StackSettings(settings.project, settings.stack, config, secret_keys)


@functools.cache
def dynamic_resources(stack: str) -> tuple[Declared, ...]:
    """Every dynamic resource the stack's program declares, dependencies before dependants, otherwise by URN."""
    from infra.program import main

    settings = with_operator_secrets(load_stack(stack))
    edition = parse_stack_config(project_values(settings.config), stack).lakehouse.edition
    recording = run_program(main, settings)
    # The SDK registers from several threads: the recording's order varies between runs, the URNs do not.
    dynamic = sorted((resource for resource in recording if resource.type.startswith(DYNAMIC)),
                     key=lambda resource: resource.urn)
    by_urn = {resource.urn: resource for resource in dynamic}
    declared: dict[str, Declared] = {}

    def visit(resource: RecordedResource) -> None:
        if resource.urn in declared:
            return
        declared[resource.urn] = None  # type: ignore[assignment]  (a cycle would end here)
        waits = sorted({urn for urn in resource.dependencies if urn in by_urn}, key=order.__getitem__)
        for urn in waits:
            visit(by_urn[urn])
        props = {key: _resolved(value, (stack, resource.name, key))
                 for key, value in resource.inputs.items() if key != PROVIDER_KEY}
        if has_unknowns(props):
            raise AssertionError(f"{resource.urn}: inputs still unknown after the program ran")
        props[PROVIDER_KEY] = unwrap_secret(resource.inputs[PROVIDER_KEY])
        declared[resource.urn] = Declared(stack, resource.type, resource.name, resource.urn, _provider(resource),
                                          props, [by_urn[urn].name for urn in waits], edition)

    order = {resource.urn: index for index, resource in enumerate(dynamic)}
    for resource in dynamic:
        visit(resource)
    return tuple(declared.values())


def closure(resource: Declared) -> list[Declared]:
    """The resource's dynamic dependencies, transitively, in an order the engine could create them in."""
    by_name = {item.name: item for item in dynamic_resources(resource.stack)}
    ordered: list[Declared] = []

    def visit(item: Declared) -> None:
        for name in item.depends_on:
            dependency = by_name[name]
            if dependency not in ordered:
                visit(dependency)
                ordered.append(dependency)

    visit(resource)
    return ordered


# ---- the vendors' definitions of the routes ----------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # `/sources/{sourceId}`

    def matches(self, method: str, path: str) -> bool:
        if method != self.method:
            return False
        wanted, given = self.template.strip("/").split("/"), path.strip("/").split("/")
        return len(wanted) == len(given) and all(
            part == actual or (part.startswith("{") and part.endswith("}") and actual)
            for part, actual in zip(wanted, given, strict=True))


@dataclass(frozen=True)
class Definition:
    """The routes a vendor defines, with the statuses each may answer (None: the definition does not list them)."""

    vendor: str
    prefix: str  # where the server mounts the API
    routes: dict[Route, frozenset[int] | None]

    def route_of(self, exchange: Exchange) -> Route | None:
        path = exchange.path.removeprefix(self.prefix) or "/"
        return next((route for route in self.routes if route.matches(exchange.method, path)), None)

    def outside(self, exchanges: list[Exchange]) -> list[str]:
        """Each exchange whose route, or whose answer's status, the definition does not have."""
        findings = []
        for exchange in exchanges:
            route = self.route_of(exchange)
            if route is None:
                findings.append(f"{exchange.method} {exchange.path}: no such route in {self.vendor}'s definition")
                continue
            statuses = self.routes[route]
            if statuses is not None and exchange.status not in statuses:
                findings.append(f"{exchange.method} {exchange.path} answered {exchange.status}: {self.vendor}'s "
                                f"definition of {route.method} {route.template} answers {sorted(statuses)}")
        return findings


@dataclass(frozen=True)
class Definitions:
    """Several definitions one server serves side by side, each under its prefix (the longest that matches)."""

    parts: tuple[Definition, ...]

    def outside(self, exchanges: list[Exchange]) -> list[str]:
        findings = []
        for exchange in exchanges:
            owners = [part for part in self.parts if exchange.path.startswith(part.prefix + "/")]
            if not owners:
                findings.append(f"{exchange.method} {exchange.path}: under no prefix of "
                                f"{[part.prefix for part in self.parts]}")
                continue
            findings += max(owners, key=lambda part: len(part.prefix)).outside([exchange])
        return findings


def openapi_definition(vendor: str, spec: dict[str, Any], prefix: str) -> Definition:
    """An OpenAPI 3 document's routes and documented response codes, served under `prefix`."""
    routes: dict[Route, frozenset[int] | None] = {}
    for template, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                continue
            codes = {int(code) for code in operation.get("responses", {}) if str(code).isdigit()}
            routes[Route(method.upper(), template)] = frozenset(codes) if codes else None
    return Definition(vendor, prefix, routes)


def airbyte_definition(document: str) -> Definitions:
    """Airbyte's public API (OpenAPI 3, served under `/api/public/v1`), and the two operations of its configuration
    API (under `/api`) that answer a connector's spec (tests/support/airbyte_server.py `CONFIG_API`)."""
    from tests.support.airbyte_server import API_PREFIX, CONFIG_API, CONFIG_API_PREFIX

    return Definitions((openapi_definition("Airbyte", yaml.safe_load(document), API_PREFIX),
                        openapi_definition("Airbyte's configuration API", CONFIG_API, CONFIG_API_PREFIX)))


def elasticsearch_definition(schema: dict[str, Any]) -> Definition:
    """The Elasticsearch specification's endpoints (it names no statuses: routes only)."""
    routes: dict[Route, frozenset[int] | None] = {}
    for endpoint in schema["endpoints"]:
        for url in endpoint["urls"]:
            for method in url["methods"]:
                routes[Route(method, url["path"])] = None
    return Definition("Elasticsearch", "", routes)


# ---- the run of one resource ------------------------------------------------------------------------------

# Answers a provider expects while it looks for an object, and that are no failure: a lookup of an object that is
# not there (404 on a read), a delete of one already gone, and the first administrator's login probe on an empty
# Dremio (401 before the bootstrap creates it).
EXPECTED_REFUSALS = {("GET", 404), ("HEAD", 404), ("DELETE", 404), ("POST /apiv2/login", 401)}


def unexpected_answers(exchanges: list[Exchange]) -> list[str]:
    """Every 4xx/5xx answer that is not one of the lookups above."""
    found = []
    for exchange in exchanges:
        if exchange.status < 400:
            continue
        if (exchange.method, exchange.status) in EXPECTED_REFUSALS or (
                f"{exchange.method} {exchange.path}", exchange.status) in EXPECTED_REFUSALS:
            continue
        found.append(f"{exchange.method} {exchange.path} -> {exchange.status}")
    return found


def _with_provider(outs: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """Outputs as the engine stores them: the dynamic provider host adds the pickled provider."""
    return {**outs, PROVIDER_KEY: props[PROVIDER_KEY]}


def edited(spec: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """The spec with the field at `path` set to `value`."""
    changed = copy.deepcopy(spec)
    node: Any = changed
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return changed


def _lookup(spec: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        spec = spec[part]
    return spec


def _first(spec: dict[str, Any], *paths: tuple[str | int, ...]) -> tuple[str | int, ...]:
    for path in paths:
        try:
            _lookup(spec, path)
        except (KeyError, IndexError, TypeError):
            continue
        return path
    raise KeyError(f"none of {paths} in {describe(spec)}")


def _source_edit(spec: dict[str, Any]) -> tuple[tuple[str | int, ...], Any]:
    path = _first(spec, ("configuration", "database"), ("configuration", "bucket"),
                  ("configuration", "database_config", "auth_source"), ("configuration", "api_url"),
                  ("configuration", "start_date"))
    return path, "2025-01-01" if path[-1] == "start_date" else "edited"  # a date field keeps its format


# One field of each kind's spec that a person changes on the server, and its new value: a refresh must show it.
# A kind missing here has nothing the service lets anyone change in place (a Dremio space or folder is its path).
Edit = Callable[[dict[str, Any]], tuple[tuple[str | int, ...], Any]]
DRIFT: dict[str, Edit] = {
    "elasticsearch:IlmPolicy": lambda spec: (("policy", "phases", "delete", "min_age"), "1d"),
    "elasticsearch:IndexTemplate": lambda spec: (("priority",), spec["priority"] + 1),
    "elasticsearch:Role": lambda spec: (("description",), "edited by hand"),
    "elasticsearch:User": lambda spec: (("full_name",), "edited by hand"),
    "elasticsearch:SnapshotRepository": lambda spec: (("settings", "base_path"), "edited-by-hand"),
    "elasticsearch:SlmPolicy": lambda spec: (("retention", "expire_after"), "1d"),
    "dremio:FirstAdmin": lambda spec: (("lastName",), "Edited"),
    "dremio:User": lambda spec: (("lastName",), "Edited"),
    "dremio:Source": lambda spec: (("metadataPolicy", "namesRefreshMs"), 2 * spec["metadataPolicy"]["namesRefreshMs"]),
    "dremio:Role": lambda spec: (("description",), "edited by hand"),
    "dremio:Grants": lambda spec: (("grants", 0, "privileges"), spec["grants"][0]["privileges"][:-1]),
    "airbyte:Workspace": lambda spec: (("notifications", "failure", "email", "enabled"), False),
    "airbyte:Source": lambda spec: _source_edit(spec),
    "airbyte:Destination": lambda spec: (("configuration", "s3_bucket_path"), "edited"),
    "airbyte:Connection": lambda spec: (("status",), "inactive"),
    "superset:Role": lambda spec: (("permissions",), spec["permissions"][:-1]),
    "superset:User": lambda spec: (("last_name",), "Edited"),
    "superset:Database": lambda spec: (("expose_in_sqllab",), False),
}


# Kinds that own a part of an object that outlives them: their delete empties that part (the grants of a Dremio
# catalog object are cleared; the object stays, owned by its own resource).
EMPTIED_BY_DELETE: dict[str, dict[str, Any]] = {"dremio:Grants": {"grants": []}}
# Kept by delete, by design: Dremio must keep an administrator, so deleting the resource leaves the user in place.
KEPT_BY_DELETE = {"dremio:FirstAdmin"}


@dataclass
class Lifecycle:
    """The engine's operations on one resource, in the engine's order; each step raises AssertionError naming it."""

    resource: Declared
    props: dict[str, Any]
    outs: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    steps: list[str] = field(default_factory=list)

    @property
    def provider(self) -> RestProvider:
        return self.resource.provider  # type: ignore[return-value]

    def _step(self, name: str) -> None:
        self.steps.append(name)

    def check(self) -> None:
        """The engine's check of the inputs, before anything is created: no failure."""
        self._step("check")
        checked = self.provider.check({}, copy.deepcopy(self.props))
        reasons = [failure.reason for failure in checked.failures]
        assert not reasons, f"{self.resource.test_id}: check: {reasons}"

    def create(self) -> None:
        self._step("create")
        created = self.provider.create(copy.deepcopy(self.props))
        self.id, self.outs = created.id, _with_provider(created.outs, self.props)
        assert created.id, f"{self.resource.test_id}: create returned no id"

    def diff_is_clean(self, step: str) -> None:
        self._step(step)
        answer = self.provider.diff(self.id, copy.deepcopy(self.outs), copy.deepcopy(self.props))
        assert answer.changes is False, f"{self.resource.test_id}: {step}: the engine would see a change " \
            f"(replaces={answer.replaces})"

    def second_apply(self) -> None:
        self._step("update")
        updated = self.provider.update(self.id, copy.deepcopy(self.outs), copy.deepcopy(self.props))
        self.outs = _with_provider(updated.outs, self.props)
        self.diff_is_clean("diff after the second apply")

    def refresh(self) -> dict[str, Any]:
        read = self.provider.read(self.id, copy.deepcopy(self.outs))
        return _with_provider(read.outs, self.props) if read.id else {}

    def refresh_converges(self) -> None:
        self._step("refresh")
        refreshed = self.refresh()
        assert refreshed, f"{self.resource.test_id}: refresh found the object gone right after it was applied"
        self.outs = refreshed
        self.diff_is_clean("diff after refresh")

    def drift_shows(self) -> bool:
        """Change one field on the server as another client would; a refresh must then show a change, and the next
        apply must put the object back as declared. False when the kind has nothing changeable in place."""
        choose = DRIFT.get(self.resource.kind)
        if choose is None:
            return False
        self._step("drift")
        provider, props = self.provider, self.props
        client = provider.connect(props)
        spec = integral(provider.spec(props))
        path, value = choose(spec)
        changed = edited(spec, path, value)
        if self.resource.kind == "dremio:FirstAdmin":
            # The first administrator's put is the bootstrap; a later change goes through the user API.
            live = client.call("GET", f"/api/v3/user/by-name/{self.id}")
            client.call("PUT", f"/api/v3/user/{live['id']}", {
                "name": self.id, "firstName": changed["firstName"], "lastName": changed["lastName"],
                "email": changed["email"], "id": live["id"], "tag": live["tag"]})
        else:
            provider.put(client, provider.key(props), {**changed, **provider.secrets(props)})
        where = ".".join(map(str, path))
        drifted = self.refresh()
        assert drifted, f"{self.resource.test_id}: drift: refresh lost the object after {where} changed"
        assert drifted[SPEC_HASH] != self.outs[SPEC_HASH], \
            f"{self.resource.test_id}: drift: {where} changed on the server does not show on refresh"
        answer = provider.diff(self.id, copy.deepcopy(drifted), copy.deepcopy(props))
        assert answer.changes is True, f"{self.resource.test_id}: drift: the engine would not correct {where}"
        self.outs = _with_provider(provider.update(self.id, drifted, copy.deepcopy(props)).outs, props)
        self.refresh_converges()
        return True

    def delete(self) -> None:
        self._step("delete")
        self.provider.delete(self.id, copy.deepcopy(self.outs))
        emptied = EMPTIED_BY_DELETE.get(self.resource.kind)
        if emptied is not None:
            live = self.provider.fetch(self.provider.connect(self.props), self.id)
            assert live == emptied, f"{self.resource.test_id}: delete: the object still holds {describe(live)}"
        elif self.resource.kind in KEPT_BY_DELETE:
            assert self.refresh(), f"{self.resource.test_id}: delete: the object a delete keeps is gone"
        else:
            assert self.refresh() == {}, f"{self.resource.test_id}: delete: a refresh still finds the object"
        self.provider.delete(self.id, copy.deepcopy(self.outs))  # deleting what is gone succeeds

    def run(self) -> bool:
        """The whole life; returns whether drift could be shown."""
        self.check()
        self.create()
        self.diff_is_clean("diff after create")
        self.second_apply()
        self.refresh_converges()
        drift = self.drift_shows()
        self.delete()
        return drift


def connection_for(resource: Declared, connection: dict[str, Any]) -> dict[str, Any]:
    """The resource's props with its connection pointed at a stand-in (the declared timeout kept)."""
    props = copy.deepcopy(resource.props)
    declared = props.get(CONNECTION) or {}
    props[CONNECTION] = {**({"timeout": declared["timeout"]} if "timeout" in declared else {}), **connection}
    return props


def summary(resources: tuple[Declared, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for resource in resources:
        counts[resource.kind] = counts.get(resource.kind, 0) + 1
    return dict(sorted(counts.items()))


def describe(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


Runner = Callable[[Declared], None]


# ---- the recording of a run ---------------------------------------------------------------------------------

RECORDINGS = Path(__file__).resolve().parents[2] / "build" / "lifecycle"
# Keys whose values never reach a recording: credentials, tokens, certificates (their names in every vendor's bodies).
SECRET_KEY = re.compile(r"(password|secret|token|access_?key|api_?key|certificate|ca_pem|private|credential|"
                        r"authorization|csrf)", re.IGNORECASE)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
REDACTED = "<redacted>"


def secret_values(value: Any, key: str = "", inside: bool = False) -> set[str]:
    """Every string of the inputs that is, or sits under, a secret-named key: replaced wherever it shows."""
    secret = inside or bool(SECRET_KEY.search(key))
    if isinstance(value, dict):
        return {found for name, item in value.items() for found in secret_values(item, str(name), secret)}
    if isinstance(value, list):
        return {found for item in value for found in secret_values(item, key, secret)}
    return {value} if secret and isinstance(value, str) and len(value) >= 4 else set()


_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
EPOCH_MILLIS = 10**12  # a number this large is a clock reading in milliseconds (2001 on): the time of the run


def _redacted(value: Any) -> Any:
    """Secret-named values redacted; clock readings (epoch milliseconds, ISO instants) as `<time>`."""
    if isinstance(value, dict):
        return {key: (REDACTED if SECRET_KEY.search(str(key)) and item not in (None, "", [], {}) else _redacted(item))
                for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and value >= EPOCH_MILLIS:
        return "<time>"
    if isinstance(value, str) and _INSTANT.fullmatch(value):
        return "<time>"
    return value


def _body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return _redacted(json.loads(raw))
    except (ValueError, UnicodeDecodeError):
        return f"<{len(raw)} bytes, not JSON>"


def recording_lines(exchanges: dict[str, list[Exchange]], secrets: set[str]) -> list[str]:
    """One JSON line per exchange, by service (sorted) then in the order the provider made them; secrets redacted
    (by key, and every secret input value wherever it shows), the ids the servers generate numbered by first
    appearance, so two runs write the same lines."""
    ids: dict[str, str] = {}

    def stable(text: str) -> str:
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(json.dumps(secret)[1:-1], REDACTED)
        return _UUID.sub(lambda match: ids.setdefault(match.group(0).lower(), f"<id-{len(ids) + 1}>"), text)

    lines = []
    for service in sorted(exchanges):
        for exchange in exchanges[service]:
            # A route that hands out a credential (a token, a CSRF token) has its whole answer redacted.
            answer = REDACTED if SECRET_KEY.search(exchange.path) and exchange.response else _body(exchange.response)
            record = {"service": service, "method": exchange.method, "path": exchange.path,
                      "status": exchange.status, "request": _body(exchange.request), "response": answer}
            lines.append(stable(json.dumps(record, sort_keys=True)))
    return lines


def write_recording(resource: Declared, exchanges: dict[str, list[Exchange]], secrets: set[str]) -> Path:
    """`build/lifecycle/<stack>/<kind>--<name>.jsonl`: the run of one resource, as `recording_lines` writes it."""
    path = RECORDINGS / resource.stack / f"{resource.kind.replace(':', '--')}--{resource.name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in recording_lines(exchanges, secrets)))
    return path


# ---- a recording front for a real server ------------------------------------------------------------------

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
               "proxy-authenticate", "content-length", "content-encoding"}


@contextlib.contextmanager
def recording_front(target: str, ca_pem: str | None, pki: Any) -> Iterator[Any]:
    """An https front (the test PKI) that passes every request to `target` unchanged, Host header included (so a
    server that checks the Referer against its host sees the front's), and records it as the stand-ins do."""
    upstream = httpx.Client(base_url=target, verify=ssl.create_default_context(cadata=ca_pem) if ca_pem else True,
                            timeout=60)

    class Front(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def _pass(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {key: value for key, value in self.headers.items() if key.lower() not in _HOP_BY_HOP}
            answer = upstream.request(self.command, self.path, content=body, headers=headers)
            data = answer.content
            self.send_response(answer.status_code)
            for key, value in answer.headers.multi_items():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _pass  # noqa: N815 (http.server's names)

    try:
        with serve_https(Front, pki) as url:
            yield url
    finally:
        upstream.close()


def superset_definition(url: str, ca_pem: str | None, admin: tuple[str, str]) -> Definition:
    """The API the running Superset documents about itself (`/api/v1/_openapi`, Flask-AppBuilder's OpenAPI document
    of every API it registered, the security API included): routes and documented statuses."""
    with httpx.Client(base_url=url, verify=ssl.create_default_context(cadata=ca_pem) if ca_pem else True,
                      timeout=60) as http:
        token = http.post("/api/v1/security/login", json={"username": admin[0], "password": admin[1],
                                                          "provider": "db", "refresh": False}).json()["access_token"]
        answer = http.get("/api/v1/_openapi", headers={"Authorization": f"Bearer {token}"})
        answer.raise_for_status()
    return openapi_definition("Superset", answer.json(), "")
