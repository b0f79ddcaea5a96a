"""An in-process HTTPS server that answers like Airbyte's public API (`/api/public/v1`) for the calls the
platform's providers make.

    with FakeAirbyte.start(pki) as server:
        server.url                                  # https://127.0.0.1:PORT
        server.fail("POST /sources", status=503)    # the next matching request gets a 503
        server.fail("GET /workspaces", drop=True)   # ... or a dropped connection

Endpoints, per the documented API: `POST /applications/token` (client credentials, form-encoded, answers a
bearer token), `GET|POST /workspaces`, `GET|PATCH|DELETE /workspaces/{id}`, `GET|POST /sources`,
`GET|PUT|DELETE /sources/{id}`, the same for `/destinations`, and `GET|POST /connections`,
`GET|PATCH|DELETE /connections/{id}`. Lists take `workspaceIds`, `limit` and `offset` and answer
`{data, next, previous}`. Like Airbyte it wants a bearer token (401), validates request bodies against the
official client's models (400 with the field), masks secrets on read, refuses a deduplicating sync mode into the
S3 destination, an incremental stream without a cursor, and a cron that is not Quartz or fires more than once a
minute (400); unknown ids are 404. It also refuses a second object of the same name in a workspace (409), so a
provider that creates without looking up first fails loudly. Every request is recorded.

A model of the API, not Airbyte: no syncs, no discovery, no connector checks.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import airbyte_api.models as models
import pydantic

from tests.support.fake_https import serve_https
from tests.support.tls import TestPki

CLIENT = ("platform-client", "client-secret-for-tests")
MASK = "**********"
SECRET_KEYS = {"password", "aws_secret_access_key", "secret_access_key", "api_key", "client_key_password"}
SOURCE_MODELS = {"postgres": models.SourcePostgres, "mysql": models.SourceMysql,
                 "mongodb-v2": models.SourceMongodbV2, "s3": models.SourceS3}
DESTINATION_MODELS = {"s3": models.DestinationS3}
QUARTZ_FIELD = re.compile(r"^[0-9*?/,\-LW#A-Z]+$")


class Reject(Exception):  # noqa: N818 (an answer, not a failure)
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Fault:
    route: str
    status: int = 503
    drop: bool = False


@dataclass
class Request:
    method: str
    path: str
    body: Any


@dataclass
class State:
    workspaces: dict[str, dict] = field(default_factory=dict)
    sources: dict[str, dict] = field(default_factory=dict)
    destinations: dict[str, dict] = field(default_factory=dict)
    connections: dict[str, dict] = field(default_factory=dict)


def _validate(model: type[pydantic.BaseModel], body: Any, what: str) -> None:
    try:
        model.model_validate(body)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        raise Reject(400, f"{what}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if k in SECRET_KEYS and v else _masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def _check_cron(expression: str) -> None:
    fields = expression.split()
    if len(fields) not in (6, 7) or not all(QUARTZ_FIELD.match(f) for f in fields):
        raise Reject(400, f"'{expression}' is not a valid Quartz cron expression")
    if "?" not in (fields[3], fields[5]):
        raise Reject(400, f"'{expression}': Quartz needs '?' in day-of-month or day-of-week")
    if not fields[0].isdigit():
        raise Reject(400, f"'{expression}': syncs may run at most once a minute (fix the seconds field)")


class FakeAirbyte:
    def __init__(self) -> None:
        self.state = State()
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.tokens: set[str] = set()
        self.lock = threading.Lock()
        self.url = ""

    def fail(self, route: str, status: int = 503, drop: bool = False) -> None:
        self.faults.append(Fault(route, status, drop))

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")
                and not r.path.endswith("/applications/token")]

    @classmethod
    @contextmanager
    def start(cls, pki: TestPki) -> Iterator[FakeAirbyte]:
        fake = cls()
        with serve_https(_handler(fake), pki) as fake.url:
            yield fake

    # ---- the API ---------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        parts = path.removeprefix("/api/public/v1").strip("/").split("/")
        collection, item = parts[0], (parts[1] if len(parts) > 1 else None)
        table: dict[str, dict] = getattr(self.state, collection)
        if item is None and method == "GET":
            workspaces = set(query.get("workspaceIds", []))
            rows = [row for row in table.values() if not workspaces or row.get("workspaceId") in workspaces]
            offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["20"])[0])
            return 200, {"data": [self._view(collection, row) for row in rows[offset:offset + limit]],
                         "next": None, "previous": None}
        if item is None and method == "POST":
            return 200, self._view(collection, self._create(collection, table, body))
        if item not in table:
            raise Reject(404, f"{collection[:-1]} {item} not found")
        row = table[item]
        if method == "GET":
            return 200, self._view(collection, row)
        if method == "DELETE":
            del table[item]
            return 204, None
        if method in ("PUT", "PATCH"):
            return 200, self._view(collection, self._change(collection, row, body, method))
        raise Reject(405, f"{method} not allowed")

    def _view(self, collection: str, row: dict) -> dict:
        return _masked(row) if collection in ("sources", "destinations") else row

    def _unique(self, table: dict[str, dict], name: str, workspace_id: str | None, own: str | None = None) -> None:
        for key, row in table.items():
            if key != own and row["name"] == name and row.get("workspaceId") == workspace_id:
                raise Reject(409, f"an object named '{name}' already exists")

    def _create(self, collection: str, table: dict[str, dict], body: dict) -> dict:
        new_id = str(uuid.uuid4())
        if collection == "workspaces":
            _validate(models.WorkspaceCreateRequest, body, "workspace")
            self._unique(table, body["name"], None)
            row = {"workspaceId": new_id, "name": body["name"], "dataResidency": "auto",
                   "notifications": body.get("notifications") or {}}
        elif collection in ("sources", "destinations"):
            singular = collection[:-1]
            missing = [key for key in ("name", "workspaceId", "configuration") if not body.get(key)]
            if missing:
                raise Reject(400, f"{singular}: {', '.join(missing)} required")
            if body.get("workspaceId") not in self.state.workspaces:
                raise Reject(404, f"workspace {body.get('workspaceId')} not found")
            self._check_configuration(singular, body)
            self._unique(table, body["name"], body["workspaceId"])
            row = {f"{singular}Id": new_id, "name": body["name"], "workspaceId": body["workspaceId"],
                   "configuration": body["configuration"], "definitionId": body.get("definitionId") or new_id,
                   f"{singular}Type": body["configuration"].get(f"{singular}Type", "custom"), "createdAt": 0}
        else:
            _validate(models.ConnectionCreateRequest, body, "connection")
            source = self.state.sources.get(body["sourceId"])
            destination = self.state.destinations.get(body["destinationId"])
            if source is None or destination is None:
                raise Reject(404, "source or destination not found")
            self._check_connection(body, destination)
            self._unique(table, body["name"], source["workspaceId"])
            row = {"connectionId": new_id, "workspaceId": source["workspaceId"], "createdAt": 0, "tags": [],
                   "namespaceDefinition": "destination", "nonBreakingSchemaUpdatesBehavior": "ignore",
                   "status": "active", "prefix": "", **body,
                   "schedule": body.get("schedule") or {"scheduleType": "manual"}}
        table[new_id] = row
        return row

    def _change(self, collection: str, row: dict, body: dict, method: str) -> dict:
        if collection == "workspaces":
            _validate(models.WorkspaceUpdateRequest, body, "workspace")
            self._unique(self.state.workspaces, body.get("name", row["name"]), None, row["workspaceId"])
            row.update({k: v for k, v in body.items() if k in ("name", "notifications")})
        elif collection in ("sources", "destinations"):
            singular = collection[:-1]
            if "configuration" not in body or "name" not in body:
                raise Reject(400, f"{singular}: PUT replaces the whole object; name and configuration are required")
            self._check_configuration(singular, {**body, "definitionId": row["definitionId"]
                                                 if row[f"{singular}Type"] == "custom" else None})
            row.update(name=body["name"], configuration=body["configuration"])
        else:
            _validate(models.ConnectionPatchRequest, body, "connection")
            if "sourceId" in body or "destinationId" in body:
                raise Reject(400, "a connection's source and destination cannot be changed")
            self._check_connection(body, self.state.destinations[row["destinationId"]])
            row.update(body)
        return row

    def _check_configuration(self, singular: str, body: dict) -> None:
        configuration = body.get("configuration")
        if not isinstance(configuration, dict):
            raise Reject(400, f"{singular}: configuration is required")
        if body.get("definitionId"):
            return
        kind = configuration.get(f"{singular}Type")
        known = SOURCE_MODELS if singular == "source" else DESTINATION_MODELS
        if kind not in known:
            raise Reject(400, f"{singular}: unknown {singular}Type {kind!r} and no definitionId")
        _validate(known[kind], configuration, f"{singular} configuration")

    def _check_connection(self, body: dict, destination: dict) -> None:
        schedule = body.get("schedule")
        if schedule and schedule.get("scheduleType") == "cron":
            _check_cron(schedule.get("cronExpression") or "")
        for stream in (body.get("configurations") or {}).get("streams") or []:
            mode = stream.get("syncMode") or ""
            if destination["destinationType"] == "s3" and ("dedup" in mode or mode.endswith("_update")
                                                           or mode.endswith("_soft_delete")):
                raise Reject(400, f"stream {stream['name']}: destination S3 does not support sync mode {mode}")
            if mode.startswith("incremental") and not stream.get("cursorField"):
                raise Reject(400, f"stream {stream['name']}: incremental sync needs a cursor field")


def _handler(fake: FakeAirbyte) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            route = f"{self.command} /{split.path.removeprefix('/api/public/v1').strip('/').split('/')[0]}"
            with fake.lock:
                fault = next((f for f in fake.faults if f.route == route), None)
                if fault:
                    fake.faults.remove(fault)
            if fault and fault.drop:
                self.connection.close()
                return
            if fault:
                self._answer(fault.status, {"message": "injected fault"})
                return
            if split.path == "/api/public/v1/applications/token":
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                fake.requests.append(Request(self.command, split.path, {**form, "client_secret": "***"}))
                if (form.get("client_id"), form.get("client_secret")) != CLIENT or \
                        form.get("grant_type") != "client_credentials":
                    self._answer(401, {"message": "invalid client"})
                    return
                token = uuid.uuid4().hex
                fake.tokens.add(token)
                self._answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": 180})
                return
            try:
                body = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                self._answer(400, {"message": "malformed JSON"})
                return
            fake.requests.append(Request(self.command, split.path, body))
            if self.headers.get("Authorization", "").removeprefix("Bearer ") not in fake.tokens:
                self._answer(401, {"message": "unauthorized"})
                return
            try:
                with fake.lock:
                    status, answer = fake.handle(self.command, split.path, parse_qs(split.query), body)
            except Reject as reject:
                self._answer(reject.status, {"message": reject.message})
                return
            self._answer(status, answer)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 (http.server's names)

    return Handler
