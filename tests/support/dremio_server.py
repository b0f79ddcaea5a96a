"""An in-process HTTPS server that answers like Dremio Software for the endpoints the platform's provider uses.

    with FakeDremio.start(pki, edition="enterprise") as server:
        server.url                               # https://127.0.0.1:PORT
        server.fail("status", status=503)        # the next matching request gets a 503
        server.fail("timeout"); server.fail("drop")

Endpoints, following Dremio's documented REST API: `PUT /apiv2/bootstrap/firstuser` (only on an empty server),
`POST /apiv2/login` (a token for `Authorization: _dremio<token>`), `/api/v3/user` (POST, by-name, PUT/DELETE by id
with the tag), `/api/v3/catalog` (POST; by-path; GET/PUT/DELETE by id, the `tag` checked on every update, a new tag
after each change), and, on the Enterprise edition only, `/api/v3/role` and `/api/v3/catalog/{id}/grants`.
Like the server, it rejects unknown fields (a source `config` field its type does not have answers 400), a stale
`tag` (409), a name already taken (409), a folder whose parent does not exist (404) and weak passwords; it fills
the defaults the server fills and answers secret config fields as `$DREMIO_EXISTING_VALUE$` (and keeps the stored
secret when a PUT sends that value back). Every request is recorded for assertions.

It is a model of the API, not Dremio: no queries, no datasets, no metadata refresh.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import ssl
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.fake_https import FaultQueue, serve_https
from tests.support.tls import TestPki

EXISTING = "$DREMIO_EXISTING_VALUE$"
FIRST_USER_FIELDS = {"userName", "firstName", "lastName", "email", "password", "createdAt", "extra"}
USER_FIELDS = {"name", "firstName", "lastName", "email", "password", "id", "tag", "@type", "roles", "source",
               "active"}
ROLE_FIELDS = {"name", "description", "roles", "id", "type"}
SOURCE_FIELDS = {"entityType", "type", "name", "config", "metadataPolicy", "id", "tag", "description",
                 "accelerationGracePeriodMs", "accelerationRefreshPeriodMs", "accelerationNeverExpire",
                 "accelerationNeverRefresh", "allowCrossSourceSelection", "disableMetadataValidityCheck"}
METADATA_POLICY_FIELDS = {"authTTLMs", "namesRefreshMs", "datasetRefreshAfterMs", "datasetExpireAfterMs",
                          "datasetUpdateMode", "deleteUnavailableDatasets", "autoPromoteDatasets"}
# Source config fields per type (Dremio's source configuration reference), their defaults, and secrets.
CONFIG_DEFAULTS: dict[str, dict[str, Any]] = {
    "S3": {"accessKey": None, "accessSecret": None, "secure": False, "externalBucketList": [],
           "credentialType": "ACCESS_KEY", "propertyList": [], "whitelistedBuckets": [], "rootPath": "/",
           "enableAsync": True, "compatibilityMode": False, "isCachingEnabled": True, "maxCacheSpacePct": 100,
           "requesterPays": False, "enableFileStatusCheck": True, "defaultCtasFormat": "ICEBERG",
           "isPartitionInferenceEnabled": False, "assumedRoleARN": None},
    "POSTGRES": {"hostname": None, "port": "5432", "databaseName": None, "username": None, "password": None,
                 "authenticationType": "MASTER", "fetchSize": 200, "useLegacyDialect": False, "useSsl": False,
                 "encryptionValidationMode": "CERTIFICATE_AND_HOSTNAME_VALIDATION", "secretResourceUrl": None,
                 "enableExternalQuery": False},
    "ELASTIC": {"hostList": [], "username": None, "password": None, "authenticationType": "ANONYMOUS",
                "scriptsEnabled": True, "showHiddenIndices": False, "sslEnabled": False, "showIdColumn": False,
                "readTimeoutMillis": 60000, "scrollTimeoutMillis": 300000, "usePainless": True,
                "useWhitelist": False, "scrollSize": 4000, "allowPushdownOnNormalizedOrAnalyzedFields": False,
                "warnOnRowCountMismatch": False, "encryptionValidationMode": "CERTIFICATE_AND_HOSTNAME_VALIDATION"},
}
SECRET_CONFIG = {"S3": {"accessSecret"}, "POSTGRES": {"password"}, "ELASTIC": {"password"}}
VALIDATION_MODES = {"CERTIFICATE_AND_HOSTNAME_VALIDATION", "CERTIFICATE_ONLY_VALIDATION", "NO_VALIDATION"}
SPACE_PRIVILEGES = {"ALTER", "ALTER_REFLECTION", "MANAGE_GRANTS", "MODIFY", "SELECT", "VIEW_REFLECTION"}
SOURCE_PRIVILEGES = SPACE_PRIVILEGES | {"CREATE_TABLE", "DELETE", "DROP", "INSERT", "TRUNCATE", "UPDATE"}
NAME = re.compile(r"^[^/:\[\]]{1,255}$")


class ApiFailureError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Request:
    method: str
    path: str
    body: Any


@dataclass
class FakeDremio(FaultQueue):
    edition: str = "community"
    url: str = ""
    users: dict[str, dict] = field(default_factory=dict)  # by id
    tokens: dict[str, str] = field(default_factory=dict)  # token -> user name
    catalog: dict[str, dict] = field(default_factory=dict)  # by id
    roles: dict[str, dict] = field(default_factory=dict)  # by id
    grants: dict[str, list[dict]] = field(default_factory=dict)  # catalog id -> grants
    requests: list[Request] = field(default_factory=list)
    _tags: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def writes(self) -> list[Request]:
        return [request for request in self.requests if request.method in ("PUT", "POST", "DELETE")
                and request.path != "/apiv2/login"]

    def entity(self, *path: str) -> dict | None:
        return next((item for item in self.catalog.values() if _path_of(item) == list(path)), None)

    def bump(self, *path: str) -> None:
        """Change an object's tag behind the provider's back (another writer updated it)."""
        with self.lock:
            self.entity(*path)["tag"] = self._tag()

    @classmethod
    @contextmanager
    def start(cls, pki: TestPki, edition: str = "community") -> Iterator[FakeDremio]:
        fake = cls(edition=edition)
        with serve_https(_handler_for(fake), pki) as fake.url:
            yield fake

    # ---- plumbing -------------------------------------------------------------------------------------

    def _tag(self) -> str:
        return f"tag-{next(self._tags)}"

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        split = urlsplit(target)
        query = {key: values[0] for key, values in parse_qs(split.query).items()}
        parts = [unquote(part) for part in split.path.split("/") if part]
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                raise ApiFailureError(400, "Malformed JSON") from None
        with self.lock:
            self.requests.append(Request(method, split.path, body))
            if parts == ["apiv2", "bootstrap", "firstuser"] and method == "PUT":
                return 200, self._first_user(body)
            if parts == ["apiv2", "login"] and method == "POST":
                return 200, self._login(body)
            if parts[:2] != ["api", "v3"]:
                raise ApiFailureError(404, f"HTTP 404 Not Found: {split.path}")
            self._authenticated(headers)
            rest = parts[2:]
            if rest[:1] == ["user"]:
                return self._user(method, rest[1:], body, query)
            if rest[:1] == ["role"]:
                self._enterprise("Roles")
                return self._role(method, rest[1:], body)
            if rest[:1] == ["catalog"]:
                return self._catalog(method, rest[1:], body, query)
        raise ApiFailureError(404, f"HTTP 404 Not Found: {split.path}")

    def _authenticated(self, headers: dict[str, str]) -> None:
        value = headers.get("authorization", "")
        if not value.startswith("_dremio") or value[len("_dremio"):] not in self.tokens:
            raise ApiFailureError(401, "Unauthorized")

    def _enterprise(self, what: str) -> None:
        if self.edition != "enterprise":
            raise ApiFailureError(404, f"{what} are available in Dremio Enterprise Edition only")

    # ---- users ----------------------------------------------------------------------------------------

    @staticmethod
    def _check_password(password: Any) -> None:
        if not isinstance(password, str) or len(password) < 8 or not re.search(r"[A-Za-z]", password) \
                or not re.search(r"[0-9]", password):
            raise ApiFailureError(400, "Password must be at least 8 letters long, must contain at least one "
                                       "number and one letter")

    def _by_name(self, name: str) -> dict | None:
        return next((user for user in self.users.values() if user["name"] == name), None)

    def _first_user(self, body: Any) -> dict:
        _only(body, FIRST_USER_FIELDS, "user")
        if self.users:
            raise ApiFailureError(400, "First user can only be created when no user is already registered")
        if not body.get("userName"):
            raise ApiFailureError(400, "userName is required")
        self._check_password(body.get("password"))
        user = self._store_user({"name": body["userName"], **{k: body.get(k) for k in ("firstName", "lastName",
                                                                                      "email", "password")}})
        return _public_user(user)

    def _store_user(self, fields: dict) -> dict:
        user = {"id": str(uuid.uuid4()), "tag": self._tag(), "@type": "User", "source": "local", "active": True,
                **fields}
        self.users[user["id"]] = user
        return user

    def _login(self, body: Any) -> dict:
        _only(body, {"userName", "password"}, "login")
        user = self._by_name(body.get("userName", ""))
        if user is None or user["password"] != body.get("password"):
            raise ApiFailureError(401, "Login failed: Invalid username or password")
        token = uuid.uuid4().hex
        self.tokens[token] = user["name"]
        return {"token": token, "userName": user["name"], "expires": int(time.time() * 1000) + 30 * 3600_000}

    def _user(self, method: str, rest: list[str], body: Any, query: dict) -> tuple[int, Any]:
        if rest[:1] == ["by-name"] and method == "GET":
            user = self._by_name(rest[1])
            if user is None:
                raise ApiFailureError(404, f"User {rest[1]} not found")
            return 200, _public_user(user)
        if not rest and method == "POST":
            _only(body, USER_FIELDS, "user")
            if self._by_name(body.get("name", "")):
                raise ApiFailureError(409, f"User {body['name']} already exists")
            self._check_password(body.get("password"))
            fields = {key: body.get(key) for key in ("name", "firstName", "lastName", "email", "password")}
            return 200, _public_user(self._store_user(fields))
        user = self.users.get(rest[0]) if rest else None
        if user is None:
            raise ApiFailureError(404, "User not found")
        if method == "GET":
            return 200, _public_user(user)
        if method == "PUT":
            _only(body, USER_FIELDS, "user")
            if body.get("tag") != user["tag"]:
                raise ApiFailureError(409, f"User {user['name']} was modified concurrently (stale tag)")
            if body.get("password") is not None:
                self._check_password(body["password"])
            for key in ("firstName", "lastName", "email", "password"):
                if body.get(key) is not None:
                    user[key] = body[key]
            user["tag"] = self._tag()
            return 200, _public_user(user)
        if method == "DELETE":
            if query.get("version") != user["tag"]:
                raise ApiFailureError(409, "stale version")
            del self.users[user["id"]]
            return 204, None
        raise ApiFailureError(405, "Method Not Allowed")

    def _role(self, method: str, rest: list[str], body: Any) -> tuple[int, Any]:
        if rest[:1] == ["by-name"] and method == "GET":
            role = next((role for role in self.roles.values() if role["name"] == rest[1]), None)
            if role is None:
                raise ApiFailureError(404, f"Role {rest[1]} not found")
            return 200, role
        if not rest and method == "POST":
            _only(body, ROLE_FIELDS, "role")
            if any(role["name"] == body.get("name") for role in self.roles.values()):
                raise ApiFailureError(409, f"Role {body['name']} already exists")
            role = {"id": str(uuid.uuid4()), "name": body["name"], "type": "INTERNAL",
                    "description": body.get("description", ""), "roles": body.get("roles", []), "memberCount": 0}
            self.roles[role["id"]] = role
            return 200, role
        role = self.roles.get(rest[0]) if rest else None
        if role is None:
            raise ApiFailureError(404, "Role not found")
        if method == "PUT":
            _only(body, ROLE_FIELDS, "role")
            role.update(description=body.get("description", ""), roles=body.get("roles", []))
            return 200, role
        if method == "DELETE":
            del self.roles[role["id"]]
            return 204, None
        raise ApiFailureError(405, "Method Not Allowed")

    # ---- catalog --------------------------------------------------------------------------------------

    def _catalog(self, method: str, rest: list[str], body: Any, query: dict) -> tuple[int, Any]:
        if rest[:1] == ["by-path"] and method == "GET":
            found = self.entity(*rest[1:])
            if found is None:
                raise ApiFailureError(404, f"Could not find entity with path [{', '.join(rest[1:])}]")
            return 200, _public_entity(found)
        if not rest and method == "POST":
            return 200, _public_entity(self._create(body))
        found = self.catalog.get(rest[0]) if rest else None
        if found is None:
            raise ApiFailureError(404, f"Could not find entity with id [{rest[0] if rest else ''}]")
        if rest[1:] == ["grants"]:
            self._enterprise("Grants")
            return self._grants(method, found, body)
        if method == "GET":
            return 200, _public_entity(found)
        if method == "PUT":
            return 200, _public_entity(self._update(found, body))
        if method == "DELETE":
            if "tag" in query and query["tag"] != found["tag"]:
                raise ApiFailureError(409, "Cannot delete: the entity was modified (stale tag)")
            doomed = [key for key, item in self.catalog.items()
                      if _path_of(item)[: len(_path_of(found))] == _path_of(found)]
            for key in doomed:
                del self.catalog[key]
                self.grants.pop(key, None)
            return 204, None
        raise ApiFailureError(405, "Method Not Allowed")

    def _create(self, body: Any) -> dict:
        if not isinstance(body, dict):
            raise ApiFailureError(400, "Request body must be an object")
        kind = body.get("entityType")
        if kind == "source":
            entity = self._source(body)
        elif kind == "space":
            _only(body, {"entityType", "name"}, "space")
            entity = {"entityType": "space", "name": _name(body.get("name"))}
        elif kind == "folder":
            _only(body, {"entityType", "path"}, "folder")
            path = body.get("path")
            if not isinstance(path, list) or len(path) < 2:
                raise ApiFailureError(400, "A folder needs a path of at least two elements")
            if self.entity(*path[:-1]) is None:
                raise ApiFailureError(404, f"Could not find entity with path [{', '.join(path[:-1])}]")
            entity = {"entityType": "folder", "path": [_name(part) for part in path]}
        else:
            raise ApiFailureError(400, f"Unsupported entityType [{kind}]")
        if self.entity(*_path_of(entity)) is not None:
            raise ApiFailureError(409, f"The name [{'.'.join(_path_of(entity))}] is already in use")
        entity.update(id=str(uuid.uuid4()), tag=self._tag())
        self.catalog[entity["id"]] = entity
        return entity

    def _source(self, body: dict, previous: dict | None = None) -> dict:
        _only(body, SOURCE_FIELDS, "source")
        kind = body.get("type")
        if kind not in CONFIG_DEFAULTS:
            raise ApiFailureError(400, f"Unknown source type [{kind}]")
        config = body.get("config")
        if not isinstance(config, dict):
            raise ApiFailureError(400, "config is required")
        unknown = sorted(set(config) - set(CONFIG_DEFAULTS[kind]))
        if unknown:
            raise ApiFailureError(400, f"Unrecognized field \"{unknown[0]}\" in config of source type {kind}")
        policy = body.get("metadataPolicy") or {}
        unknown = sorted(set(policy) - METADATA_POLICY_FIELDS)
        if unknown:
            raise ApiFailureError(400, f"Unrecognized field \"{unknown[0]}\" in metadataPolicy")
        stored = {**copy.deepcopy(CONFIG_DEFAULTS[kind]), **copy.deepcopy(config)}
        for secret in SECRET_CONFIG[kind]:
            if stored.get(secret) == EXISTING:
                stored[secret] = (previous or {}).get("config", {}).get(secret)
        mode = stored.get("encryptionValidationMode")
        if mode is not None and mode not in VALIDATION_MODES:
            raise ApiFailureError(400, f"Invalid encryptionValidationMode [{mode}]")
        if kind == "S3" and stored["compatibilityMode"] and not any(
                item.get("name") == "fs.s3a.endpoint" for item in stored["propertyList"]):
            raise ApiFailureError(400, "compatibilityMode needs the fs.s3a.endpoint property")
        defaults = {"authTTLMs": 86400000, "namesRefreshMs": 3600000, "datasetRefreshAfterMs": 3600000,
                    "datasetExpireAfterMs": 10800000, "datasetUpdateMode": "PREFETCH_QUERIED",
                    "deleteUnavailableDatasets": True, "autoPromoteDatasets": False}
        return {"entityType": "source", "type": kind, "name": _name(body.get("name")), "config": stored,
                "metadataPolicy": {**defaults, **policy}, "accelerationGracePeriodMs": 10800000,
                "accelerationRefreshPeriodMs": 3600000, "accelerationNeverExpire": False,
                "accelerationNeverRefresh": False, "createdAt": "2026-11-25T00:00:00.000Z"}

    def _update(self, found: dict, body: Any) -> dict:
        if not isinstance(body, dict):
            raise ApiFailureError(400, "Request body must be an object")
        if body.get("tag") != found["tag"]:
            raise ApiFailureError(409, f"The entity [{'.'.join(_path_of(found))}] was modified by another user "
                                       "(tag mismatch)")
        if body.get("entityType") != found["entityType"] or body.get("id") != found["id"]:
            raise ApiFailureError(400, "id and entityType cannot change")
        if found["entityType"] != "source":
            raise ApiFailureError(400, f"{found['entityType']} cannot be updated")
        if body.get("name") != found["name"] or body.get("type") != found["type"]:
            raise ApiFailureError(400, "a source's name and type cannot change")
        updated = self._source({key: value for key, value in body.items() if key not in ("id", "tag")}, found)
        updated.update(id=found["id"], tag=self._tag())
        self.catalog[found["id"]] = updated
        return updated

    def _grants(self, method: str, found: dict, body: Any) -> tuple[int, Any]:
        available = SPACE_PRIVILEGES if found["entityType"] in ("space", "folder") else SOURCE_PRIVILEGES
        if method == "GET":
            grants = []
            for grant in self.grants.get(found["id"], []):
                store = self.roles if grant["granteeType"] == "ROLE" else self.users
                grants.append({**grant, "name": store[grant["id"]]["name"]})
            return 200, {"id": found["id"], "availablePrivileges": sorted(available), "grants": grants}
        if method == "PUT":
            _only(body, {"grants"}, "grants")
            stored = []
            for grant in body["grants"]:
                _only(grant, {"granteeType", "id", "privileges"}, "grant")
                store = self.roles if grant.get("granteeType") == "ROLE" else self.users
                if grant.get("granteeType") not in ("ROLE", "USER") or grant.get("id") not in store:
                    raise ApiFailureError(400, f"Unknown grantee [{grant.get('id')}]")
                bad = sorted(set(grant.get("privileges", [])) - available)
                if bad:
                    raise ApiFailureError(400, f"Privilege [{bad[0]}] is not available on this object")
                stored.append({"granteeType": grant["granteeType"], "id": grant["id"],
                               "privileges": list(grant["privileges"])})
            self.grants[found["id"]] = stored
            return 204, None
        raise ApiFailureError(405, "Method Not Allowed")


def _only(body: Any, allowed: set[str], what: str) -> None:
    if not isinstance(body, dict):
        raise ApiFailureError(400, f"{what} must be an object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiFailureError(400, f"Unrecognized field \"{unknown[0]}\" in {what}")


def _name(value: Any) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise ApiFailureError(400, f"Invalid name [{value}]")
    return value


def _path_of(entity: dict) -> list[str]:
    return list(entity["path"]) if "path" in entity else [entity["name"]]


def _public_user(user: dict) -> dict:
    return {key: value for key, value in user.items() if key != "password"}


def _public_entity(entity: dict) -> dict:
    public = copy.deepcopy(entity)
    if public["entityType"] == "source":
        for secret in SECRET_CONFIG[public["type"]]:
            if public["config"].get(secret) is not None:
                public["config"][secret] = EXISTING
    else:
        public.setdefault("path", _path_of(public))
        public["children"] = []
    return public


def _handler_for(fake: FakeDremio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            fault = fake.take_fault(self.command, urlsplit(self.path).path)
            if fault and fault.kind == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault and fault.kind == "timeout":
                time.sleep(fault.delay)
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                if fault and fault.kind == "status":
                    raise ApiFailureError(fault.status, f"injected fault {fault.status}")
                status, body = fake.handle(self.command, self.path, headers, raw)
            except ApiFailureError as failure:
                status, body = failure.status, {"errorMessage": failure.message, "moreInfo": ""}
            payload = b"" if body is None else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                self.close_connection = True

        do_GET = do_PUT = do_POST = do_DELETE = _serve  # noqa: N815 (http.server's names)

    return Handler
