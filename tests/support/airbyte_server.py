"""An in-process HTTPS server that answers like Airbyte 2.1's public API (`/api/public/v1`), derived from Airbyte's
own definitions in `../shared/vendor-specs/airbyte/`.

    with FakeAirbyte.start(pki) as server:
        server.url                                  # https://127.0.0.1:PORT
        server.fail("POST /sources", status=503)    # the next matching request gets a 503
        server.fail("GET /workspaces", drop=True)   # ... or a dropped connection

What it holds to, and where from:
- every request against the OpenAPI document of platform 2.1.0 (`2.1.0/public-api.yaml`): the operation exists
  (404/405), its path and query parameters and its body match the operation's schemas (400 naming the field); every
  answer it gives is checked against the operation's response schema (a mismatch fails the test: a bug here);
- the token: `POST /applications/token` with a JSON body. The document also lists a form body, but OSS answers a
  form-encoded request 401 (airbytehq/airbyte-api-python-sdk#126: "airbyte is waiting for requests with
  content-type application/json"; #112: a JSON body works where the SDK's form fails), and so does this server;
- sources and destinations: `definitionId`, or else `configuration.sourceType`/`destinationType` naming a connector
  (`airbyte/source-<type>`), is required (422 without either); the type name is stripped before the configuration is
  stored; the configuration must satisfy the connector's spec (the 1.8.0 registry, `connector-registry.json`, whose
  specs for the catalog's connectors are the files of `airbyte/connectors/`: 400 naming the field); answers carry
  `definitionId` and the type name beside the configuration, whose secrets are masked (`**********`): exactly the
  fields the spec marks `airbyte_secret`. The platform's `specs_secrets_mask.yaml` does not mask answers: at
  release/2.1.0 (commit 061b8f3) a source or destination is answered through `JsonSecretsProcessor.
  prepareSecretsForOutput` -> `maskAllSecrets` (airbyte-config/config-secrets/src/main/kotlin/secrets/
  JsonSecretsProcessor.kt), which masks the paths whose schema node has `airbyte_secret`, and nothing else
  (SourceHandler.kt / DestinationHandler.kt `build...Read`); the mask list is read only by the log layout's
  `MaskedDataConverter` (airbyte-commons-storage/.../logging/logback/MaskedDataConverter.kt);
- connector definitions: `GET /workspaces/{id}/definitions/sources|destinations/{definitionId}` answers the registry's
  entry as a `DefinitionResponse` (name, image, tag, documentation: no spec, as the document defines it), 404 for
  an unknown id; the spec itself is served where Airbyte serves it, the configuration API's
  `POST /api/v1/source_definition_specifications/get` (and `destination_...`), held to `CONFIG_API` below;
- workspaces: answers carry every notification type of `NotificationsConfig`, each with both channels, those not
  set off;
- connections: a cron comes back with its zone appended (`0 0 * * * ? UTC`); a stream whose cursor the source
  defines (CDC on source-postgres or source-mysql, every stream of source-mongodb-v2) is refused a `cursorField`
  with 400 ("Cursor Field [...] is already defined by source") and answered with the source's cursor; an
  incremental stream of another source needs one (the fake discovers no default cursor).
It also keeps what the old model asserted and Airbyte does: a bearer token on every call (401), one object of a name
per workspace (409: a provider that creates without looking up first fails loudly), Quartz crons at most once a
minute, no deduplicating sync mode into the S3 destination (400). Every request is recorded.

Sync jobs are modelled only as far as the batch's syncs step calls them (`FakeAirbyte.jobs`): a job goes through the
statuses a test sets for its connection; nothing is read or written.

A model of the API, not Airbyte: no data moves, no discovery, no connector checks.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import yaml

from tests.support.fake_https import serve_https
from tests.support.openapi import OpenApi, Reject
from tests.support.tls import TestPki
from tests.support.vendor_specs import vendor_spec, vendor_spec_path

API_PREFIX = "/api/public/v1"
CLIENT = ("platform-client", "client-secret-for-tests")
MASK = "**********"
ZONE = "UTC"
NOTIFICATION_TYPES = ("failure", "success", "connectionUpdate", "connectionUpdateActionRequired", "syncDisabled",
                      "syncDisabledWarning")
# The cursor a CDC stream gets from its source (the connectors' CDC metadata columns).
CDC_CURSORS = {"airbyte/source-postgres": ["_ab_cdc_lsn"], "airbyte/source-mysql": ["_ab_cdc_cursor"],
               "airbyte/source-mongodb-v2": ["_ab_cdc_cursor"]}


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
    content_type: str = "application/json"


@dataclass
class State:
    workspaces: dict[str, dict] = field(default_factory=dict)
    sources: dict[str, dict] = field(default_factory=dict)
    destinations: dict[str, dict] = field(default_factory=dict)
    connections: dict[str, dict] = field(default_factory=dict)
    jobs: dict[int, dict] = field(default_factory=dict)


@cache
def openapi() -> OpenApi:
    return OpenApi.load("airbyte/2.1.0/public-api.yaml", prefix=API_PREFIX)


@cache
def registry() -> dict[str, dict[str, dict]]:
    document = vendor_spec("airbyte/1.8.0/connector-registry.json")
    return {"source": {entry["sourceDefinitionId"]: entry for entry in document["sources"]},
            "destination": {entry["destinationDefinitionId"]: entry for entry in document["destinations"]}}


@cache
def masked_names() -> frozenset[str]:
    """The names of `specs_secrets_mask.yaml`: masked in the platform's logs, not in API answers (module doc)."""
    return frozenset(yaml.safe_load(vendor_spec_path("airbyte/2.1.0/specs_secrets_mask.yaml").read_text())
                     ["properties"])


# The two operations of Airbyte's configuration API the providers call (the public API has no operation that answers
# a connector's spec), with the schemas they use, as airbyte-platform release/2.1.0 (commit 061b8f3) defines them in
# airbyte-api/server-api/src/main/openapi/config.yaml (`/v1/source_definition_specifications/get`,
# `/v1/destination_definition_specifications/get`, served under `/api`). That document is not among the vendor
# definitions beside the project, so the parts used are written out here: request bodies and required fields as
# defined; of the answers, the objects the stand-in never fills (`advancedAuth`, a job's `failureReason` and `logs`)
# are kept as objects without their inner schemas.
_UUID = {"type": "string", "format": "uuid"}
_SPEC_READ_COMMON = {
    "advancedAuth": {"type": "object"},
    "advancedAuthGlobalCredentialsAvailable": {"type": "boolean"},
    "documentationUrl": {"type": "string"},
    "jobInfo": {"$ref": "#/components/schemas/SynchronousJobRead"},
}
CONFIG_API: dict[str, Any] = {
    "openapi": "3.0.0",
    "paths": {
        f"/v1/{singular}_definition_specifications/get": {"post": {
            "operationId": f"get{singular.title()}DefinitionSpecification",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "$ref": f"#/components/schemas/{singular.title()}DefinitionIdWithWorkspaceId"}}}},
            "responses": {
                "200": {"content": {"application/json": {"schema": {
                    "$ref": f"#/components/schemas/{singular.title()}DefinitionSpecificationRead"}}}},
                "404": {"content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/NotFoundKnownExceptionInfo"}}}},
                "422": {"content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/InvalidInputExceptionInfo"}}}}}}}
        for singular in ("source", "destination")},
    "components": {"schemas": {
        **{f"{singular.title()}DefinitionIdWithWorkspaceId": {
            "type": "object", "required": [f"{singular}DefinitionId", "workspaceId"],
            "properties": {f"{singular}DefinitionId": _UUID, "workspaceId": _UUID}}
           for singular in ("source", "destination")},
        "SourceDefinitionSpecificationRead": {
            "type": "object", "required": ["sourceDefinitionId", "jobInfo"],
            "properties": {**_SPEC_READ_COMMON, "sourceDefinitionId": _UUID,
                           "connectionSpecification": {"type": "object"}}},
        "DestinationDefinitionSpecificationRead": {
            "type": "object", "required": ["destinationDefinitionId", "jobInfo"],
            "properties": {**_SPEC_READ_COMMON, "destinationDefinitionId": _UUID,
                           "connectionSpecification": {"type": "object"},
                           "supportedDestinationSyncModes": {"type": "array", "items": {
                               "type": "string", "enum": ["append", "overwrite", "append_dedup", "overwrite_dedup",
                                                          "update", "soft_delete"]}}}},
        "SynchronousJobRead": {
            "type": "object", "required": ["id", "configType", "createdAt", "endedAt", "succeeded"],
            "properties": {"id": _UUID, "configType": {"type": "string", "enum": [
                "check_connection_source", "check_connection_destination", "discover_schema", "get_spec", "sync",
                "reset_connection", "refresh", "clear"]},
                "configId": {"type": "string"}, "createdAt": {"type": "integer"}, "endedAt": {"type": "integer"},
                "succeeded": {"type": "boolean"}, "connectorConfigurationUpdated": {"type": "boolean"},
                "failureReason": {"type": "object"}, "logType": {"type": "string", "enum": ["formatted",
                                                                                          "structured"]},
                "logs": {"type": "object"}}},
        "NotFoundKnownExceptionInfo": {"type": "object", "required": ["message"],
                                       "properties": {"message": {"type": "string"}, "id": {"type": "string"}}},
        "InvalidInputExceptionInfo": {"type": "object", "required": ["message", "validationErrors"],
                                      "properties": {"message": {"type": "string"},
                                                     "validationErrors": {"type": "array"}}},
    }},
}
CONFIG_API_PREFIX = "/api"


@cache
def config_openapi() -> OpenApi:
    return OpenApi(CONFIG_API, prefix=CONFIG_API_PREFIX)


def connector_spec(singular: str, definition: str) -> dict[str, Any]:
    return registry()[singular][definition]["spec"]["connectionSpecification"]


def type_name(entry: dict[str, Any], singular: str) -> str:
    """`airbyte/source-postgres` -> `postgres`: the name the API gives a connector (`sourceType`)."""
    return entry["dockerRepository"].split("/")[-1].removeprefix(f"{singular}-")


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    found = [schema]
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(key) or []:
            if isinstance(branch, dict):
                found += _branches(branch)
    return found


def masked(value: Any, schema: dict[str, Any]) -> Any:
    """A configuration as Airbyte answers it: the fields the spec marks `airbyte_secret` masked."""
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [masked(item, items) for item in value]
    if not isinstance(value, dict):
        return value
    answer = {}
    for key, item in value.items():
        subs = [branch["properties"][key] for branch in _branches(schema)
                if isinstance(branch.get("properties"), dict) and isinstance(branch["properties"].get(key), dict)]
        secret = any(sub.get("airbyte_secret") for sub in subs)
        if secret and item is not None and not isinstance(item, (dict, list)):
            answer[key] = MASK
        else:
            answer[key] = masked(item, next((sub for sub in subs if sub.get("type") in ("object", "array")),
                                            subs[0] if subs else {}))
    return answer


def _check_cron(expression: str) -> str:
    """The expression without a trailing zone; 400 unless it is Quartz firing at most once a minute."""
    fields = expression.split()
    if fields and fields[-1] == ZONE:
        fields = fields[:-1]
    if len(fields) not in (6, 7):
        raise Reject(400, f"'{expression}' is not a valid Quartz cron expression")
    if "?" not in (fields[3], fields[5]):
        raise Reject(400, f"'{expression}': Quartz needs '?' in day-of-month or day-of-week")
    if not fields[0].isdigit():
        raise Reject(400, f"'{expression}': syncs may run at most once a minute (fix the seconds field)")
    return " ".join(fields)


def _notifications(given: dict[str, Any] | None) -> dict[str, Any]:
    settings = {}
    for kind in NOTIFICATION_TYPES:
        channels = copy.deepcopy((given or {}).get(kind) or {})
        channels.setdefault("email", {}).setdefault("enabled", False)
        channels.setdefault("webhook", {}).setdefault("enabled", False)
        settings[kind] = channels
    return settings


class FakeAirbyte:
    def __init__(self) -> None:
        self.api = openapi()
        self.state = State()
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.tokens: set[str] = set()
        self.violations: list[str] = []
        self.lock = threading.Lock()
        self.url = ""
        # What each connection's next sync goes through, by connection name: the status each `GET /jobs/{jobId}`
        # answers in turn (the last one stays). Unset: `running`, then `succeeded`.
        self.sync_statuses: dict[str, list[str]] = {}

    def fail(self, route: str, status: int = 503, drop: bool = False) -> None:
        self.faults.append(Fault(route, status, drop))

    def writes(self) -> list[Request]:
        """Requests that change something (the token and the configuration API's spec reads, POSTs both, do not)."""
        return [r for r in self.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")
                and not r.path.endswith("/applications/token") and r.path.startswith(API_PREFIX + "/")]

    @classmethod
    @contextmanager
    def start(cls, pki: TestPki) -> Iterator[FakeAirbyte]:
        fake = cls()
        with serve_https(_handler(fake), pki) as fake.url:
            yield fake
        assert not fake.violations, f"answers outside Airbyte's definition: {fake.violations}"

    # ---- the API ---------------------------------------------------------------------------------

    def token(self, content_type: str, body: Any) -> tuple[int, Any]:
        if content_type != "application/json":
            raise Reject(401, "Invalid client id or token")  # OSS reads the token request as JSON only
        if (body.get("client_id"), body.get("client_secret")) != CLIENT or body.get("grant_type") != \
                "client_credentials":
            raise Reject(401, "Invalid client id or token")
        token = uuid.uuid4().hex
        self.tokens.add(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 180}

    def definition(self, collection: str, workspace_id: str, definition: str) -> tuple[int, Any]:
        """`GET /workspaces/{workspaceId}/definitions/{collection}/{definitionId}`: a `DefinitionResponse`."""
        if workspace_id not in self.state.workspaces:
            raise Reject(404, f"workspace {workspace_id} not found")
        entry = registry()[collection.removesuffix("s")].get(definition)
        if entry is None:
            raise Reject(404, f"{collection[:-1]} definition {definition} not found")
        return 200, {"id": definition, "name": entry["name"], "dockerRepository": entry["dockerRepository"],
                     "dockerImageTag": entry["dockerImageTag"], "documentationUrl": entry.get("documentationUrl", "")}

    def specification(self, singular: str, body: dict[str, Any]) -> tuple[int, Any]:
        """The configuration API's `get<Kind>DefinitionSpecification`: the connector's spec for a workspace."""
        if body["workspaceId"] not in self.state.workspaces:
            raise Reject(404, f"workspace {body['workspaceId']} not found")
        definition = body[f"{singular}DefinitionId"]
        entry = registry()[singular].get(definition)
        if entry is None:
            raise Reject(404, f"{singular} definition {definition} not found")
        answer: dict[str, Any] = {
            f"{singular}DefinitionId": definition, "connectionSpecification": entry["spec"]["connectionSpecification"],
            "documentationUrl": entry["spec"].get("documentationUrl", ""),
            "jobInfo": {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, definition)), "configType": "get_spec",
                        "createdAt": 0, "endedAt": 0, "succeeded": True}}
        if singular == "destination":
            answer["supportedDestinationSyncModes"] = entry["spec"].get("supported_destination_sync_modes", [])
        return 200, answer

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        parts = path.removeprefix(API_PREFIX).strip("/").split("/")
        if len(parts) >= 3 and parts[0] == "workspaces" and parts[2] == "definitions":
            if len(parts) == 5 and method == "GET" and parts[3] in ("sources", "destinations"):
                return self.definition(parts[3], parts[1], parts[4])
            raise Reject(501, f"{method} {path}: defined by Airbyte, not modelled by this stand-in")
        if parts[0] == "jobs":
            return self.jobs(method, parts[1] if len(parts) > 1 else None, query, body)
        collection, item = parts[0], (parts[1] if len(parts) > 1 else None)
        table: dict[str, dict] = getattr(self.state, collection)
        if item is None and method == "GET":
            workspaces = {w for value in query.get("workspaceIds", []) for w in value.split(",")}
            rows = [row for row in table.values() if not workspaces or row.get("workspaceId") in workspaces]
            offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["20"])[0])
            return 200, {"data": [self._view(collection, row) for row in rows[offset:offset + limit]]}
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
        return 200, self._view(collection, self._change(collection, row, body, method))

    def jobs(self, method: str, item: str | None, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        """Sync jobs: `POST /jobs` starts one (`JobCreateRequest`; a second sync of a connection while one runs is
        refused, as TemporalClient.startNewManualSync refuses it, "A sync is already running for: <id>"), `GET
        /jobs/{jobId}` answers the next status of `sync_statuses`, `DELETE /jobs/{jobId}` cancels, `GET /jobs`
        lists by connection, type and status. Answers are `JobResponse`s."""
        if item is None and method == "POST":
            if body["jobType"] != "sync":
                raise Reject(501, f"jobType {body['jobType']}: defined by Airbyte, not modelled by this stand-in")
            connection = self.state.connections.get(body["connectionId"])
            if connection is None:
                raise Reject(404, f"connection {body['connectionId']} not found")
            if any(job["connectionId"] == body["connectionId"] and job["status"] in ("pending", "running",
                                                                                        "incomplete")
                   for job in self.state.jobs.values()):
                raise Reject(409, f"A sync is already running for: {body['connectionId']}")
            job_id = len(self.state.jobs) + 1
            self.state.jobs[job_id] = {
                "jobId": job_id, "status": "running", "jobType": "sync", "connectionId": body["connectionId"],
                "startTime": "2026-12-03T01:00:00Z", "lastUpdatedAt": "2026-12-03T01:00:00Z",
                "steps": list(self.sync_statuses.get(connection["name"], ["running", "succeeded"]))}
            return 200, self._job(self.state.jobs[job_id])
        if item is None and method == "GET":
            wanted = {key: query[key][0] for key in ("connectionId", "jobType", "status") if key in query}
            rows = [job for job in self.state.jobs.values()
                    if all(job[key] == value for key, value in wanted.items())]
            return 200, {"data": [self._job(job) for job in reversed(rows)][: int(query.get("limit", ["20"])[0])]}
        job = self.state.jobs.get(int(item)) if item is not None else None
        if job is None:
            raise Reject(404, f"job {item} not found")
        if method == "DELETE":
            if job["status"] in ("pending", "running", "incomplete"):
                job["status"] = "cancelled"
            return 200, self._job(job)
        if job["status"] not in ("succeeded", "failed", "cancelled") and job["steps"]:
            job["status"] = job["steps"].pop(0) if len(job["steps"]) > 1 else job["steps"][0]
        if job["status"] == "succeeded":
            job.update(rowsSynced=1200, bytesSynced=48_000, duration="PT2M10S")
        return 200, self._job(job)

    @staticmethod
    def _job(job: dict) -> dict:
        return {key: value for key, value in job.items() if key != "steps"}

    def _view(self, collection: str, row: dict) -> dict:
        answer = copy.deepcopy(row)
        if collection in ("sources", "destinations"):
            singular = collection[:-1]
            answer["configuration"] = masked(row["configuration"], connector_spec(singular, row["definitionId"]))
        if collection == "connections":
            answer["schedule"] = dict(row["schedule"])
            if answer["schedule"].get("cronExpression"):
                answer["schedule"]["cronExpression"] += f" {ZONE}"
        return answer

    def _unique(self, table: dict[str, dict], name: str, workspace_id: str | None, own: str | None = None) -> None:
        for key, row in table.items():
            if key != own and row["name"] == name and row.get("workspaceId") == workspace_id:
                raise Reject(409, f"an object named '{name}' already exists")

    def _connector(self, singular: str, body: dict) -> tuple[str, dict]:
        """The definition a create names (definitionId, else the configuration's type name) and the configuration
        with the type name stripped, as Airbyte stores it."""
        configuration = dict(body["configuration"])
        named = configuration.pop(f"{singular}Type", None)
        known = registry()[singular]
        definition = body.get("definitionId")
        if definition is None and named is not None:
            definition = next((key for key, entry in known.items() if type_name(entry, singular) == named), None)
            if definition is None:
                raise Reject(400, f"{singular}Type {named!r} names no connector")
        if definition is None:
            raise Reject(422, f"One of configuration.{singular}Type or definitionId must be provided")
        if definition not in known:
            raise Reject(404, f"{singular} definition {definition} not found")
        return definition, configuration

    def _check_configuration(self, singular: str, definition: str, configuration: dict) -> None:
        spec = connector_spec(singular, definition)
        errors = sorted(jsonschema.Draft7Validator(spec).iter_errors(configuration),
                        key=lambda e: list(map(str, e.absolute_path)))
        if errors:
            where = ".".join(map(str, errors[0].absolute_path)) or "configuration"
            raise Reject(400, f"The provided configuration does not fulfill the specification: {where}: "
                              f"{errors[0].message[:200]}")

    def _create(self, collection: str, table: dict[str, dict], body: dict) -> dict:
        new_id = str(uuid.uuid4())
        if collection == "workspaces":
            self._unique(table, body["name"], None)
            row = {"workspaceId": new_id, "name": body["name"], "dataResidency": "auto",
                   "notifications": _notifications(body.get("notifications"))}
        elif collection in ("sources", "destinations"):
            singular = collection[:-1]
            if body["workspaceId"] not in self.state.workspaces:
                raise Reject(404, f"workspace {body['workspaceId']} not found")
            definition, configuration = self._connector(singular, body)
            self._check_configuration(singular, definition, configuration)
            self._unique(table, body["name"], body["workspaceId"])
            row = {f"{singular}Id": new_id, "name": body["name"], "workspaceId": body["workspaceId"],
                   "configuration": configuration, "definitionId": definition,
                   f"{singular}Type": type_name(registry()[singular][definition], singular), "createdAt": 1}
        else:
            source = self.state.sources.get(body["sourceId"])
            destination = self.state.destinations.get(body["destinationId"])
            if source is None or destination is None:
                raise Reject(404, "source or destination not found")
            self._unique(table, body.get("name") or "", source["workspaceId"])
            row = {"connectionId": new_id, "name": body.get("name") or "", "workspaceId": source["workspaceId"],
                   "sourceId": body["sourceId"], "destinationId": body["destinationId"], "createdAt": 1,
                   "tags": [], "namespaceDefinition": "destination", "nonBreakingSchemaUpdatesBehavior": "ignore",
                   "status": "active", "prefix": "", "schedule": {"scheduleType": "manual"},
                   "configurations": {"streams": []}}
            self._settle(row, body, source, destination)
        table[new_id] = row
        return row

    def _change(self, collection: str, row: dict, body: dict, method: str) -> dict:
        if collection == "workspaces":
            self._unique(self.state.workspaces, body.get("name", row["name"]), None, row["workspaceId"])
            if "name" in body:
                row["name"] = body["name"]
            if "notifications" in body:
                row["notifications"] = _notifications(body["notifications"])
        elif collection in ("sources", "destinations"):
            singular = collection[:-1]
            configuration = dict(body.get("configuration") or {})
            configuration.pop(f"{singular}Type", None)
            if method == "PATCH":
                configuration = {**row["configuration"], **configuration}
            self._check_configuration(singular, row["definitionId"], configuration)
            row.update(name=body.get("name", row["name"]), configuration=configuration)
        else:
            self._settle(row, body, self.state.sources[row["sourceId"]],
                         self.state.destinations[row["destinationId"]])
        return row

    def _settle(self, row: dict, body: dict, source: dict, destination: dict) -> None:
        """A connection's settings from a create or patch body, judged as Airbyte judges them."""
        schedule = body.get("schedule")
        if schedule is not None:
            if schedule["scheduleType"] == "cron":
                row["schedule"] = {"scheduleType": "cron",
                                   "cronExpression": _check_cron(schedule.get("cronExpression") or "")}
            else:
                row["schedule"] = {"scheduleType": schedule["scheduleType"]}
        defined = self._source_cursor(source)
        streams = []
        for stream in (body.get("configurations") or {}).get("streams") or []:
            mode = stream.get("syncMode") or "full_refresh_append"
            if destination["destinationType"] == "s3" and ("dedup" in mode or mode.endswith("_update")
                                                           or mode.endswith("_soft_delete")):
                raise Reject(400, f"stream {stream['name']}: destination S3 does not support sync mode {mode}")
            stored = {**stream, "syncMode": mode}
            if defined is not None:
                if stream.get("cursorField"):
                    raise Reject(400, f"Cursor Field {stream['cursorField']} is already defined by source for "
                                      f"stream {stream['name']}")
                if mode.startswith("incremental"):
                    stored["cursorField"] = list(defined)
            elif mode.startswith("incremental") and not stream.get("cursorField"):
                raise Reject(400, f"stream {stream['name']}: No default cursor field for stream; a cursorField is "
                                  "required for an incremental sync")
            streams.append(stored)
        if body.get("configurations") is not None:
            row["configurations"] = {"streams": streams}
        for key in ("name", "namespaceDefinition", "namespaceFormat", "prefix", "nonBreakingSchemaUpdatesBehavior",
                    "status"):
            if key in body:
                row[key] = body[key]

    def _source_cursor(self, source: dict) -> list[str] | None:
        """The cursor a source defines for its streams, or None where the connection must name one."""
        repository = registry()["source"][source["definitionId"]]["dockerRepository"]
        method = (source["configuration"].get("replication_method") or {}).get("method")
        if repository == "airbyte/source-mongodb-v2" or (repository in CDC_CURSORS and method == "CDC"):
            return CDC_CURSORS[repository]
        return None


def _handler(fake: FakeAirbyte) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            route = f"{self.command} /{split.path.removeprefix(API_PREFIX).strip('/').split('/')[0]}"
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
            try:
                if content_type == "application/x-www-form-urlencoded":
                    body: Any = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                else:
                    body = json.loads(raw) if raw else None
            except (json.JSONDecodeError, UnicodeDecodeError):
                self._answer(400, {"message": "malformed body"})
                return
            recorded = {**body, "client_secret": "***"} if split.path.endswith("/applications/token") and \
                isinstance(body, dict) else body
            fake.requests.append(Request(self.command, split.path, recorded, content_type))
            query = parse_qs(split.query)
            config_api = not split.path.startswith(API_PREFIX + "/") and split.path.startswith(
                CONFIG_API_PREFIX + "/")
            api = config_openapi() if config_api else fake.api
            try:
                operation, params = api.operation(self.command, split.path)
                api.check_request(operation, params, query, content_type or "application/json", body)
                if operation.template == "/applications/token":
                    status, answer = fake.token(content_type, body)
                else:
                    if self.headers.get("Authorization", "").removeprefix("Bearer ") not in fake.tokens:
                        raise Reject(401, "unauthorized")
                    with fake.lock:
                        if config_api:
                            status, answer = fake.specification(operation.template.split("/")[2].split("_")[0],
                                                                body)
                        else:
                            status, answer = fake.handle(self.command, split.path, query, body)
            except Reject as reject:
                self._answer(reject.status, {"message": reject.message})
                return
            try:
                api.check_response(operation, status, "application/json" if answer is not None else None, answer)
            except AssertionError as error:  # the fake's own bug: the test fails on it (`violations`)
                fake.violations.append(str(error))
                self._answer(500, {"message": str(error)})
                return
            self._answer(status, answer)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 (http.server's names)

    return Handler
