"""An in-process HTTPS server that answers like Dremio Software, per edition, for the endpoints the platform's
provider uses.

    with FakeDremio.start(pki, edition="enterprise") as server:
        server.url                               # https://127.0.0.1:PORT
        server.fail("status", status=503)        # the next matching request gets a 503
        server.fail("timeout"); server.fail("drop")

What it follows. `ROUTES` lists every endpoint it serves, each with where its behaviour comes from:
- the Dremio OSS source at `OSS_COMMIT` (github.com/dremio/dremio-oss "Release 25.2.0", the newest source Dremio
  has published): the file under `OSS_ROOT`, the class and the method. Both editions serve these;
- for what only the Enterprise edition has, the vendor's documentation page; those routes are docs-only (no
  source to read) and the Community edition answers them as the OSS server does: no resource, 404.
A path the edition serves with another method answers 405 (Jersey's answer for a matched resource without that
method): the OSS `api/UserResource` has no DELETE, so `DELETE /api/v3/user/{id}` is a 405 on Community, and
users are deleted through `DELETE /apiv2/user/{name}?version=<tag>`.

Answers are shaped as the server shapes them: Jackson with `Include.NON_NULL` (dac/.../util/JSONUtil.java), so
null fields are left out; unknown request fields are a 400 (Jackson's default), fields the class marks
`@JsonIgnore` are accepted and dropped (S3's `allowCreateDrop`); secret config fields answer
`$DREMIO_EXISTING_VALUE$` (ConnectionConf.clearSecrets) and a PUT that sends it back keeps the stored secret;
tags are opaque strings that change on every write; errors are `{errorMessage, moreInfo}` with the status
GenericExceptionMapper gives the exception (IllegalArgumentException 400, ConcurrentModificationException 409,
UserNotFoundException 404). Every request is recorded for assertions.

It is a model of the API, not Dremio: no metadata refresh; datasets exist only where a test adds them
(`add_dataset`, standing in for a table dbt built), with their reflection refresh policy and refresh requests.
SQL is accepted, never run: `POST /api/v3/sql` records the statement (`queries`) and starts a job that has
completed at once; its results are the rows the first of `sql_answers` (a test's functions of the SQL text)
gives, else none. Nothing here parses the SQL: tests/dbt/test_dbt_dremio_sql.py checks what dbt sends.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import re
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.fake_https import FaultQueue, serve_https
from tests.support.tls import TestPki

OSS_COMMIT = "c7fee0bcd44c928c0ff57481dd6a484c4caeae33"
OSS_ROOT = "dac/backend/src/main/java/com/dremio/dac/"
DOCS = "https://docs.dremio.com/current/reference/api/"
EXISTING = "$DREMIO_EXISTING_VALUE$"
COMMUNITY, ENTERPRISE = "community", "enterprise"
BOTH = frozenset({COMMUNITY, ENTERPRISE})
ONLY_ENTERPRISE = frozenset({ENTERPRISE})


@dataclass(frozen=True)
class Route:
    """One endpoint: method, path pattern (`{name}` one segment, `{path*}` the rest), the editions that serve
    it, what it follows (`oss:<file> <Class.method>` under OSS_ROOT at OSS_COMMIT, or `docs-only:<url>`), and the
    FakeDremio method that answers it."""

    method: str
    pattern: str
    editions: frozenset[str]
    follows: str
    handler: str

    def match(self, parts: list[str]) -> dict[str, Any] | None:
        expected = [part for part in self.pattern.split("/") if part]
        found: dict[str, Any] = {}
        for index, segment in enumerate(expected):
            if segment.endswith("*}"):
                rest = parts[index:]
                if not rest:
                    return None
                found[segment[1:-2]] = rest
                return found
            if index >= len(parts):
                return None
            if segment.startswith("{"):
                found[segment[1:-1]] = parts[index]
            elif segment != parts[index]:
                return None
        return found if len(parts) == len(expected) else None


ROUTES: tuple[Route, ...] = (
    Route("POST", "/apiv2/login", BOTH,
          "oss:resource/LogInLogOutResource.java LogInLogOutResource.login", "_login"),
    Route("DELETE", "/apiv2/login", BOTH,
          "oss:resource/LogInLogOutResource.java LogInLogOutResource.logout", "_logout"),
    Route("POST", "/apiv2/backup", BOTH,
          "oss:resource/BackupResource.java BackupResource.createBackup", "_backup"),
    Route("PUT", "/apiv2/bootstrap/firstuser", BOTH,
          "oss:resource/BootstrapResource.java BootstrapResource.createUser", "_first_user"),
    Route("DELETE", "/apiv2/user/{name}", frozenset({COMMUNITY}),
          "oss:resource/UserResource.java UserResource.deleteUser", "_delete_user_by_name"),
    Route("GET", "/api/v3/user/by-name/{name}", BOTH,
          "oss:api/UserResource.java UserResource.getUserByName", "_get_user_by_name"),
    Route("GET", "/api/v3/user/{id}", BOTH, "oss:api/UserResource.java UserResource.getUser", "_get_user"),
    Route("POST", "/api/v3/user", BOTH, "oss:api/UserResource.java UserResource.createUser", "_create_user"),
    Route("PUT", "/api/v3/user/{id}", BOTH, "oss:api/UserResource.java UserResource.updateUser", "_update_user"),
    Route("DELETE", "/api/v3/user/{id}", ONLY_ENTERPRISE, f"docs-only:{DOCS}user/", "_delete_user_by_id"),
    Route("GET", "/api/v3/catalog/by-path/{path*}", BOTH,
          "oss:api/CatalogResource.java CatalogResource.getCatalogItemByPath", "_get_by_path"),
    Route("POST", "/api/v3/catalog", BOTH,
          "oss:api/CatalogResource.java CatalogResource.createCatalogItem", "_create_entity"),
    Route("GET", "/api/v3/catalog/{id}", BOTH,
          "oss:api/CatalogResource.java CatalogResource.getCatalogItem", "_get_entity"),
    Route("PUT", "/api/v3/catalog/{id}", BOTH,
          "oss:api/CatalogResource.java CatalogResource.updateCatalogItem", "_update_entity"),
    Route("DELETE", "/api/v3/catalog/{id}", BOTH,
          "oss:api/CatalogResource.java CatalogResource.deleteCatalogItem", "_delete_entity"),
    Route("POST", "/api/v3/catalog/{id}/refresh", BOTH,
          "oss:api/CatalogResource.java CatalogResource.refreshCatalogItem", "_refresh_entity"),
    Route("GET", "/api/v3/catalog/{id}/grants", ONLY_ENTERPRISE, f"docs-only:{DOCS}catalog/grants/", "_get_grants"),
    Route("PUT", "/api/v3/catalog/{id}/grants", ONLY_ENTERPRISE, f"docs-only:{DOCS}catalog/grants/", "_put_grants"),
    Route("GET", "/api/v3/role/by-name/{name}", ONLY_ENTERPRISE, f"docs-only:{DOCS}roles/", "_get_role_by_name"),
    Route("POST", "/api/v3/role", ONLY_ENTERPRISE, f"docs-only:{DOCS}roles/", "_create_role"),
    Route("PUT", "/api/v3/role/{id}", ONLY_ENTERPRISE, f"docs-only:{DOCS}roles/", "_update_role"),
    Route("DELETE", "/api/v3/role/{id}", ONLY_ENTERPRISE, f"docs-only:{DOCS}roles/", "_delete_role"),
    Route("POST", "/api/v3/sql", BOTH, "oss:api/SQLResource.java SQLResource.runQuery", "_submit_sql"),
    Route("GET", "/api/v3/job/{id}", BOTH, "oss:api/JobResource.java JobResource.getJobStatus", "_job_status"),
    Route("GET", "/api/v3/job/{id}/results", BOTH,
          "oss:api/JobResource.java JobResource.getQueryResults", "_job_results"),
    Route("POST", "/api/v3/job/{id}/cancel", BOTH, "oss:api/JobResource.java JobResource.cancelJob", "_cancel_job"),
)
UNAUTHENTICATED = {"/apiv2/login", "/apiv2/bootstrap/firstuser"}
# api/Dataset.java: the properties its @JsonCreator binds (plus `entityType`, CatalogEntity's type property), and
# those of its RefreshSettings; service/namespace's RefreshPolicyType and RefreshMethod enums.
DATASET_FIELDS = {"entityType", "id", "type", "path", "createdAt", "tag", "accelerationRefreshPolicy", "sql",
                  "sqlContext", "format", "approximateStatisticsAllowed"}
REFRESH_SETTINGS_FIELDS = {"activePolicyType", "refreshField", "refreshPeriodMs", "refreshSchedule", "gracePeriodMs",
                           "method", "neverExpire", "neverRefresh", "sourceRefreshOnDataChanges"}
REFRESH_POLICY_TYPES = {"PERIOD", "SCHEDULE", "NEVER", "REFRESH_ON_DATA_CHANGES"}
REFRESH_METHODS = {"FULL", "INCREMENTAL", "AUTO"}

# util/BackupRestoreUtil.java BackupOptions (@JsonCreator); the compressions it accepts (SUPPORTED_COMPRESSION_METHODS,
# "" meaning none); the backup directory's name (datastore/BackupSupport.java backupDestinationDirName, UTC).
BACKUP_OPTION_FIELDS = {"backupDir", "binary", "includeProfiles", "compression", "table", "key"}
BACKUP_COMPRESSIONS = {"", "lz4", "snappy", "none"}
BACKUP_DIR_FORMAT = "dremio_backup_%Y-%m-%d_%H.%M"
# Request fields per class. The OSS User (api/User.java @JsonCreator); UserForm (model/usergroup/UserForm.java:
# `password` and the unwrapped user config); Enterprise's user and role objects as documented.
FIRST_USER_FIELDS = {"userName", "firstName", "lastName", "email", "password", "createdAt", "extra", "active"}
OSS_USER_FIELDS = {"id", "name", "firstName", "lastName", "email", "tag", "password", "extra", "active"}
ENTERPRISE_USER_FIELDS = OSS_USER_FIELDS | {"@type", "roles", "source", "identityType"}
ROLE_FIELDS = {"id", "name", "type", "roles", "description", "memberCount"}
# api/Source.java: the properties Jackson binds (setters), plus `entityType` (CatalogEntity's type property) and
# the read-only ones an answer carries and a PUT may echo back.
SOURCE_FIELDS = {"entityType", "id", "tag", "type", "name", "description", "createdAt", "config", "metadataPolicy",
                 "accelerationGracePeriodMs", "accelerationRefreshPeriodMs", "accelerationRefreshSchedule",
                 "accelerationActivePolicyType", "accelerationNeverExpire", "accelerationNeverRefresh",
                 "allowCrossSourceSelection", "disableMetadataValidityCheck", "children", "state", "nextPageToken"}
METADATA_POLICY_FIELDS = {"authTTLMs", "namesRefreshMs", "datasetRefreshAfterMs", "datasetExpireAfterMs",
                          "datasetUpdateMode", "deleteUnavailableDatasets", "autoPromoteDatasets"}
METADATA_POLICY_MINIMUM_MS = 60_000  # api/MetadataPolicy.java: @Min(ONE_MINUTE_IN_MS) on the four durations
DEFAULT_METADATA_POLICY = {"authTTLMs": 86_400_000, "namesRefreshMs": 3_600_000,
                           "datasetRefreshAfterMs": 3_600_000, "datasetExpireAfterMs": 10_800_000,
                           "datasetUpdateMode": "PREFETCH_QUERIED", "deleteUnavailableDatasets": True,
                           "autoPromoteDatasets": False}


@dataclass(frozen=True)
class SourceType:
    """A source type's config: each field's default (None: unset, left out of answers), the secret fields, the
    `@JsonIgnore` fields (accepted, dropped), and what the model follows."""

    defaults: dict[str, Any]
    secrets: frozenset[str]
    ignored: frozenset[str]
    not_echoed: frozenset[str]
    follows: str


SOURCE_TYPES: dict[str, SourceType] = {
    # plugins/s3/src/main/java/com/dremio/plugins/s3/store/AbstractS3PluginConfig.java and S3PluginConfig.java.
    "S3": SourceType(
        defaults={"accessKey": "", "accessSecret": None, "secure": True, "externalBucketList": None,
                  "propertyList": None, "rootPath": "/", "enableAsync": True, "compatibilityMode": False,
                  "isCachingEnabled": True, "maxCacheSpacePct": 100, "whitelistedBuckets": None,
                  "assumedRoleARN": None, "kmsKeyARN": None, "requesterPays": False, "enableFileStatusCheck": True,
                  "defaultCtasFormat": "ICEBERG", "isPartitionInferenceEnabled": False,
                  "credentialType": "ACCESS_KEY", "awsProfile": None},
        secrets=frozenset({"accessSecret"}), ignored=frozenset({"allowCreateDrop"}), not_echoed=frozenset(),
        follows=f"oss:plugins/s3/src/main/java/com/dremio/plugins/s3/store/AbstractS3PluginConfig.java@{OSS_COMMIT}"),
    # The PostgreSQL connector's source is not published: docs only. `enableExternalQuery` is accepted and left
    # out of the answer, as the measurement on the deployed version suggested; the provider neither sends nor
    # compares it, so it converges whichever way the server answers.
    "POSTGRES": SourceType(
        defaults={"hostname": None, "port": "5432", "databaseName": None, "username": None, "password": None,
                  "authenticationType": "MASTER", "fetchSize": 200, "useLegacyDialect": False, "useSsl": False,
                  "encryptionValidationMode": "CERTIFICATE_AND_HOSTNAME_VALIDATION", "secretResourceUrl": None,
                  "maxIdleConns": 8, "idleTimeSec": 60, "queryTimeoutSec": 0, "propertyList": None,
                  "enableExternalQuery": False},
        secrets=frozenset({"password", "secretResourceUrl"}), ignored=frozenset(),
        not_echoed=frozenset({"enableExternalQuery"}),
        follows=f"docs-only:{DOCS}catalog/container-source-config/"),
}
ENUMS = {"encryptionValidationMode": {"CERTIFICATE_AND_HOSTNAME_VALIDATION", "CERTIFICATE_ONLY_VALIDATION",
                                      "NO_VALIDATION"},
         "defaultCtasFormat": {"ICEBERG", "PARQUET"},
         "credentialType": {"ACCESS_KEY", "AWS_PROFILE", "EC2_METADATA", "NONE"},
         "authenticationType": {"ANONYMOUS", "MASTER", "SECRET"}}
SPACE_PRIVILEGES = {"ALTER", "ALTER_REFLECTION", "MANAGE_GRANTS", "MODIFY", "SELECT", "VIEW_REFLECTION"}
SOURCE_PRIVILEGES = SPACE_PRIVILEGES | {"CREATE_TABLE", "DELETE", "DROP", "INSERT", "TRUNCATE", "UPDATE"}
# Space names: model/spaces/SpaceName.java refuses `/ : [ ]` and a leading/trailing period among others;
# source names: api/Source.java `@Pattern("^[^.\"@]+$")`.
SPACE_NAME = re.compile(r"^[^/:\[\]]{1,255}$")
SOURCE_NAME = re.compile(r"^[^.\"@]+$")


class ApiFailureError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Request:
    method: str
    path: str
    body: Any
    query: dict[str, str] = field(default_factory=dict)
    route: Route | None = None


@dataclass
class FakeDremio(FaultQueue):
    edition: str = COMMUNITY
    url: str = ""
    ca_pem: str = ""  # the CA that signs the server's certificate, for clients
    users: dict[str, dict] = field(default_factory=dict)  # by id
    tokens: dict[str, str] = field(default_factory=dict)  # token -> user name
    catalog: dict[str, dict] = field(default_factory=dict)  # by id
    roles: dict[str, dict] = field(default_factory=dict)  # by id
    grants: dict[str, list[dict]] = field(default_factory=dict)  # catalog id -> grants
    requests: list[Request] = field(default_factory=list)
    caller: str | None = None  # the user name of the request being answered
    backups: list[dict] = field(default_factory=list)  # {options, stats, caller, stores}: what each backup wrote
    # Directories whose children the coordinator can create (BackupRestoreUtil.checkOrCreateDirectory refuses a
    # backup directory whose parent does not exist); None: every parent exists.
    backup_parents: set[str] | None = None
    refreshes: list[list[str]] = field(default_factory=list)  # the paths of the datasets whose reflections were
    # refreshed (POST /api/v3/catalog/{id}/refresh), in order
    queries: list[str] = field(default_factory=list)  # every SQL statement submitted, in order
    # Functions of a submitted statement's text giving its result rows (dicts, one key per column), or None to
    # leave it to the next; a statement none answers completes with no rows.
    sql_answers: list[Callable[[str], list[dict] | None]] = field(default_factory=list)
    jobs: dict[str, dict] = field(default_factory=dict)  # job id -> {sql, rows, user}
    _tags: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def writes(self) -> list[Request]:
        return [request for request in self.requests if request.method in ("PUT", "POST", "DELETE")
                and request.path != "/apiv2/login"]

    def entity(self, *path: str) -> dict | None:
        return next((item for item in self.catalog.values() if _path_of(item) == list(path)), None)

    def user(self, name: str) -> dict | None:
        return next((user for user in self.users.values() if user["name"] == name), None)

    def bump(self, *path: str) -> None:
        """Change an object's tag behind the provider's back (another writer updated it)."""
        with self.lock:
            self.entity(*path)["tag"] = self._tag()

    def edit(self, *path: str, **config: Any) -> None:
        """Change a source's config fields behind the provider's back (someone edited it in the UI)."""
        with self.lock:
            found = self.entity(*path)
            found["config"].update(config)
            found["tag"] = self._tag()

    def add_dataset(self, *path: str) -> dict:
        """A physical dataset in a source, as dbt-dremio's CTAS leaves one (a folder of Parquet files); the fake
        creates none itself."""
        with self.lock:
            if self.entity(path[0]) is None or self.entity(path[0])["entityType"] != "source":
                raise ValueError(f"no source {path[0]!r} to hold {'.'.join(path)}")
            entity = {"entityType": "dataset", "type": "PHYSICAL_DATASET", "path": list(path),
                      "format": {"type": "Parquet", "ignoreOtherFileFormats": False},
                      "createdAt": "2026-12-03T01:05:00.000Z", "approximateStatisticsAllowed": False,
                      "id": str(uuid.uuid4()), "tag": self._tag()}
            self.catalog[entity["id"]] = entity
            return entity

    @classmethod
    @contextmanager
    def start(cls, pki: TestPki, edition: str = COMMUNITY) -> Iterator[FakeDremio]:
        if edition not in BOTH:
            raise ValueError(f"edition {edition!r}")
        fake = cls(edition=edition, ca_pem=pki.ca_pem)
        with serve_https(_handler_for(fake), pki) as fake.url:
            yield fake

    # ---- plumbing -------------------------------------------------------------------------------------

    def _tag(self) -> str:
        """An opaque version string (the server's are base64, with `+`, `/` and `=` in them)."""
        return base64.b64encode(hashlib.sha256(str(next(self._tags)).encode()).digest()[:8]).decode()

    def route(self, method: str, path: str) -> tuple[Route, dict[str, Any]]:
        """The route serving `method path` on this edition; 404 if no resource matches the path, 405 if one does
        but not with this method."""
        parts = [unquote(part) for part in path.split("/") if part]
        matched = [(route, found) for route in ROUTES if self.edition in route.editions
                   for found in [route.match(parts)] if found is not None]
        for route, found in matched:
            if route.method == method:
                return route, found
        if matched:
            raise ApiFailureError(405, "HTTP 405 Method Not Allowed")
        raise ApiFailureError(404, "HTTP 404 Not Found")

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        split = urlsplit(target)
        query = {key: values[0] for key, values in parse_qs(split.query).items()}
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                raise ApiFailureError(400, "Malformed JSON") from None
        with self.lock:
            request = Request(method, split.path, body, query)
            self.requests.append(request)
            route, found = self.route(method, split.path)
            request.route = route
            if route.pattern not in UNAUTHENTICATED:
                self._authenticated(headers)
            return getattr(self, route.handler)(body=body, query=query, **found)

    def _authenticated(self, headers: dict[str, str]) -> None:
        value = headers.get("authorization", "")
        if not value.startswith("_dremio") or value[len("_dremio"):] not in self.tokens:
            raise ApiFailureError(401, "Unauthorized")
        self.caller = self.tokens[value[len("_dremio"):]]

    # ---- login and the first user (apiv2) ---------------------------------------------------------------

    @staticmethod
    def _check_password(password: Any) -> None:
        # services/users/.../SimpleUserService.java validatePassword
        if not isinstance(password, str) or len(password) < 8 or not re.search(r"[A-Za-z]", password) \
                or not re.search(r"[0-9]", password):
            raise ApiFailureError(400, "Invalid password: must be at least 8 letters long, must contain at least "
                                       "one number and one letter")

    def _first_user(self, body: Any, query: dict) -> tuple[int, Any]:
        _only(body, FIRST_USER_FIELDS, "UserForm")
        if self.users:
            raise ApiFailureError(400, "First user can only be created when no user is already registered")
        if not body.get("userName"):
            raise ApiFailureError(400, "userName is required")
        self._check_password(body.get("password"))
        user = self._store_user({"name": body["userName"],
                                 **{key: body.get(key) for key in ("firstName", "lastName", "email", "password")}})
        return 200, {"resourcePath": f"/user/{user['name']}", "userName": user["name"],
                     "userConfig": _drop_nulls({"uid": {"id": user["id"]}, "userName": user["name"],
                                                "firstName": user["firstName"], "lastName": user["lastName"],
                                                "email": user["email"], "version": user["tag"],
                                                "active": True})}

    def _store_user(self, fields: dict) -> dict:
        user = {"id": str(uuid.uuid4()), "tag": self._tag(), "active": True, "createdAt": int(time.time() * 1000),
                **fields}
        self.users[user["id"]] = user
        return user

    def _login(self, body: Any, query: dict) -> tuple[int, Any]:
        _only(body, {"userName", "password"}, "UserLogin")
        user = self.user(body.get("userName", ""))
        if user is None or user["password"] != body.get("password"):
            raise ApiFailureError(401, "Login failed: Invalid username or password")
        token = uuid.uuid4().hex
        self.tokens[token] = user["name"]
        return 200, {"token": token, "userName": user["name"], "firstName": user.get("firstName"),
                     "lastName": user.get("lastName"), "expires": int(time.time() * 1000) + 30 * 3600_000,
                     "email": user.get("email"), "userId": user["id"], "admin": True,
                     "clusterId": "00000000-0000-0000-0000-000000000000", "clusterCreatedAt": 0,
                     "version": "26.0.0", "permissions": {}, "userCreatedAt": user["createdAt"]}

    def _logout(self, body: Any, query: dict) -> tuple[int, Any]:
        # LogInLogOutResource.logout: the token of the Authorization header is revoked; void, 204.
        for token, name in list(self.tokens.items()):
            if name == self.caller:
                del self.tokens[token]
                break
        return 204, None

    # ---- backup (BackupResource) ----------------------------------------------------------------------

    def _backup(self, body: Any, query: dict) -> tuple[int, Any]:
        """BackupResource.createBackup: `@RolesAllowed("admin")` (on OSS every authenticated user is in every role:
        server/DACSecurityContext.isUserInRole), then BackupRestoreUtil.checkOrCreateDirectory and createBackup. The
        server dereferences `backupDir`, `table` and `key` without a null check (Path.of, `options.table.isEmpty()`
        in asFuture): a missing one is a NullPointerException, which GenericExceptionMapper answers 500. One table
        is written per KV store (the fake's users, catalog, roles and grants; the tokens table is never backed up,
        job profiles only with includeProfiles), and a copy of them is kept for assertions."""
        _only(body, BACKUP_OPTION_FIELDS, "BackupOptions")
        for name in ("backupDir", "table", "key"):
            if body.get(name) is None:
                raise ApiFailureError(500, "java.lang.NullPointerException")
        compression = body.get("compression") or ""
        if compression not in BACKUP_COMPRESSIONS:
            raise ApiFailureError(500, "Compression value should be a string and can either be empty or snappy or "
                                       "lz4.")
        split = urlsplit(body["backupDir"])
        scheme = body["backupDir"].split(":", 1)[0] if split.scheme else ""  # as written (urlsplit lower-cases)
        directory = "/" + split.path.strip("/")
        parent = directory.rsplit("/", 1)[0] or "/"
        if self.backup_parents is not None and parent not in self.backup_parents:
            raise ApiFailureError(400, f"Parent directory {scheme + '://' if scheme else ''}{parent} does not exist.")
        backup_path = f"{directory}/{time.strftime(BACKUP_DIR_FORMAT, time.gmtime())}"
        stores = {"users": self.users, "catalog": self.catalog, "roles": self.roles, "grants": self.grants}
        stats = {"backupPath": backup_path, "tables": len(stores), "files": 0}
        self.backups.append({"options": dict(body), "stats": stats, "caller": self.caller,
                             "stores": copy.deepcopy(stores)})
        return 200, stats

    # ---- users ----------------------------------------------------------------------------------------

    def _public_user(self, user: dict) -> dict:
        """api/User.java `fromUser` (no password; `extra` null and so left out); Enterprise's documented object
        adds `@type`, `roles` and `source`."""
        public = {"id": user["id"], "name": user["name"], "firstName": user.get("firstName"),
                  "lastName": user.get("lastName"), "email": user.get("email"), "tag": user["tag"],
                  "active": user["active"]}
        if self.edition == ENTERPRISE:
            public = {"@type": "EnterpriseUser", **public, "source": "local",
                      "roles": [{"id": "8ac1bbca-479c-4c47-87e9-7f946f665c13", "name": "PUBLIC", "type": "SYSTEM"}]}
        return _drop_nulls(public)

    def _user_fields(self) -> set[str]:
        return ENTERPRISE_USER_FIELDS if self.edition == ENTERPRISE else OSS_USER_FIELDS

    def _get_user_by_name(self, body: Any, query: dict, name: str) -> tuple[int, Any]:
        user = self.user(name)
        if user is None:
            raise ApiFailureError(404, f"User {name} not found")
        return 200, self._public_user(user)

    def _existing_user(self, user_id: str) -> dict:
        user = self.users.get(user_id)
        if user is None:
            raise ApiFailureError(404, f"User {user_id} not found")
        return user

    def _get_user(self, body: Any, query: dict, id: str) -> tuple[int, Any]:
        return 200, self._public_user(self._existing_user(id))

    def _create_user(self, body: Any, query: dict) -> tuple[int, Any]:
        _only(body, self._user_fields(), "User")
        if self.user(body.get("name") or ""):
            raise ApiFailureError(409, f"User {body['name']} already exists")
        self._check_password(body.get("password"))
        fields = {key: body.get(key) for key in ("name", "firstName", "lastName", "email", "password")}
        return 200, self._public_user(self._store_user(fields))

    def _update_user(self, body: Any, query: dict, id: str) -> tuple[int, Any]:
        _only(body, self._user_fields(), "User")
        user = self._existing_user(id)
        if body.get("name") != user["name"]:
            raise ApiFailureError(415, "Changing of user name is not supported")  # NotSupportedException
        if body.get("tag") != user["tag"]:
            raise ApiFailureError(409, f"User {user['name']} was modified: the tag is stale")
        if body.get("password") is not None:
            self._check_password(body["password"])
            user["password"] = body["password"]
        for key in ("firstName", "lastName", "email"):
            user[key] = body.get(key)
        user["tag"] = self._tag()
        return 200, self._public_user(user)

    def _delete_user(self, user: dict, version: str | None) -> None:
        if version is None:
            raise ApiFailureError(400, "missing version parameter")
        if user["name"] == self.caller:
            raise ApiFailureError(403, "Deletion of the user account of currently logged in user is not allowed.")
        if version != user["tag"]:
            raise ApiFailureError(409, f"Cannot delete user \"{user['name']}\", version provided \"{version}\" is "
                                       f"different from version found \"{user['tag']}\"")
        del self.users[user["id"]]

    def _delete_user_by_name(self, body: Any, query: dict, name: str) -> tuple[int, Any]:
        user = self.user(name)
        if user is None:
            raise ApiFailureError(404, f"User {name} not found")
        self._delete_user(user, query.get("version"))
        return 200, None  # Response.ok().build(): no entity

    def _delete_user_by_id(self, body: Any, query: dict, id: str) -> tuple[int, Any]:
        self._delete_user(self._existing_user(id), query.get("version"))
        return 204, None

    # ---- roles (Enterprise, docs only) ------------------------------------------------------------------

    def _role_named(self, name: str) -> dict | None:
        return next((role for role in self.roles.values() if role["name"] == name), None)

    def _get_role_by_name(self, body: Any, query: dict, name: str) -> tuple[int, Any]:
        role = self._role_named(name)
        if role is None:
            raise ApiFailureError(404, f"Role {name} not found")
        return 200, role

    def _create_role(self, body: Any, query: dict) -> tuple[int, Any]:
        _only(body, ROLE_FIELDS, "role")
        if self._role_named(body.get("name")):
            raise ApiFailureError(409, f"Role {body['name']} already exists")
        role = {"id": str(uuid.uuid4()), "name": body["name"], "type": "INTERNAL", "roles": body.get("roles", []),
                "memberCount": 0, "description": body.get("description", "")}
        self.roles[role["id"]] = role
        return 200, role

    def _existing_role(self, role_id: str) -> dict:
        role = self.roles.get(role_id)
        if role is None:
            raise ApiFailureError(404, f"Role {role_id} not found")
        return role

    def _update_role(self, body: Any, query: dict, id: str) -> tuple[int, Any]:
        _only(body, ROLE_FIELDS, "role")
        role = self._existing_role(id)
        role.update(description=body.get("description", ""), roles=body.get("roles", []))
        return 200, role

    def _delete_role(self, body: Any, query: dict, id: str) -> tuple[int, Any]:
        del self.roles[self._existing_role(id)["id"]]
        return 204, None

    # ---- catalog --------------------------------------------------------------------------------------

    def _get_by_path(self, body: Any, query: dict, path: list[str]) -> tuple[int, Any]:
        found = self.entity(*path)
        if found is None:
            raise ApiFailureError(404, f"Could not find entity with path [{path}]")
        return 200, self._public_entity(found)

    def _existing_entity(self, entity_id: str) -> dict:
        found = self.catalog.get(entity_id)
        if found is None:
            raise ApiFailureError(404, f"Could not find entity with id [{entity_id}]")
        return found

    def _get_entity(self, body: Any, query: dict, id: str) -> tuple[int, Any]:
        return 200, self._public_entity(self._existing_entity(id))

    def _create_entity(self, body: Any, query: dict) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise ApiFailureError(400, "Request body must be an object")
        kind = body.get("entityType")
        if kind == "source":
            entity = self._source(body)
            if self.entity(entity["name"]) is not None:
                raise ApiFailureError(409, f"Source [{entity['name']}] already exists.")
        elif kind == "space":
            _only(body, {"entityType", "id", "name", "tag", "createdAt", "children", "nextPageToken"}, "Space")
            if body.get("id") is not None:
                raise ApiFailureError(400, "Space id is immutable.")
            name = body.get("name")
            if not isinstance(name, str) or not SPACE_NAME.match(name):
                raise ApiFailureError(400, f"Invalid space name [{name}]")
            if self.entity(name) is not None:
                raise ApiFailureError(409, f"A space with the name [{name}] already exists.")
            entity = {"entityType": "space", "name": name, "createdAt": int(time.time() * 1000)}
        elif kind == "folder":
            _only(body, {"entityType", "id", "path", "tag", "children", "nextPageToken"}, "Folder")
            path = body.get("path")
            if not isinstance(path, list) or len(path) < 2:
                raise ApiFailureError(400, "Folder path is required.")
            parent = self.entity(*path[:-1])
            if parent is None:
                raise ApiFailureError(400, f"Could not find entity with path [{path}].")
            if parent["entityType"] not in ("space", "folder"):
                raise ApiFailureError(400, f"Can not create a folder inside a [{parent['entityType'].upper()}].")
            if self.entity(*path) is not None:
                raise ApiFailureError(409, f"The folder [{'.'.join(path)}] already exists.")
            entity = {"entityType": "folder", "path": list(path)}
        else:
            raise ApiFailureError(400, f"Could not resolve type id '{kind}' as a subtype of CatalogEntity")
        entity.update(id=str(uuid.uuid4()), tag=self._tag())
        self.catalog[entity["id"]] = entity
        return 200, self._public_entity(entity)

    def _source(self, body: dict, previous: dict | None = None) -> dict:
        _only(body, SOURCE_FIELDS, "Source")
        kind = body.get("type")
        if kind not in SOURCE_TYPES:
            raise ApiFailureError(400, f"Could not resolve type id '{kind}' as a subtype of ConnectionConf")
        source_type = SOURCE_TYPES[kind]
        name = body.get("name")
        if not isinstance(name, str) or not SOURCE_NAME.match(name):
            raise ApiFailureError(400, "Source name can not contain periods, double quotes or @.")
        config = body.get("config")
        if not isinstance(config, dict):
            raise ApiFailureError(400, "config is required")
        config = {key: value for key, value in config.items() if key not in source_type.ignored}
        _only(config, set(source_type.defaults), f"{kind} config")
        for key, allowed in ENUMS.items():
            if key in config and config[key] not in allowed:
                raise ApiFailureError(400, f"Cannot deserialize value of type `{key}` from String \"{config[key]}\"")
        policy = body.get("metadataPolicy") or {}
        _only(policy, METADATA_POLICY_FIELDS, "MetadataPolicy")
        for key in ("authTTLMs", "namesRefreshMs", "datasetRefreshAfterMs", "datasetExpireAfterMs"):
            if key in policy and policy[key] < METADATA_POLICY_MINIMUM_MS:
                raise ApiFailureError(400, f"{key} must be greater than or equal to {METADATA_POLICY_MINIMUM_MS}")
        stored = {**copy.deepcopy(source_type.defaults), **copy.deepcopy(config)}
        for secret in source_type.secrets:
            if stored.get(secret) == EXISTING:
                stored[secret] = (previous or {}).get("config", {}).get(secret)
        return {"entityType": "source", "type": kind, "name": name, "config": stored,
                "description": body.get("description"),
                "metadataPolicy": {**DEFAULT_METADATA_POLICY, **policy},
                "accelerationGracePeriodMs": body.get("accelerationGracePeriodMs") or 10_800_000,
                "accelerationRefreshPeriodMs": body.get("accelerationRefreshPeriodMs") or 3_600_000,
                "accelerationActivePolicyType": "PERIOD",
                "accelerationNeverExpire": bool(body.get("accelerationNeverExpire")),
                "accelerationNeverRefresh": bool(body.get("accelerationNeverRefresh")),
                "allowCrossSourceSelection": bool(body.get("allowCrossSourceSelection")),
                "disableMetadataValidityCheck": bool(body.get("disableMetadataValidityCheck")),
                "createdAt": (previous or {}).get("createdAt") or "2026-11-25T00:00:00.000Z"}

    def _update_entity(self, body: Any, query: dict, id: str) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise ApiFailureError(400, "Request body must be an object")
        if body.get("id") is None:
            raise ApiFailureError(404, "Entity id is required.")
        if body.get("id") != id:
            raise ApiFailureError(404, "Ids must match.")
        found = self._existing_entity(id)
        if body.get("tag") != found["tag"]:
            raise ApiFailureError(409, f"The entity [{'.'.join(_path_of(found))}] was modified by another user: "
                                       f"expected tag {found['tag']} but found {body.get('tag')}")
        if found["entityType"] == "dataset":
            return 200, self._public_entity(self._update_dataset(body, found))
        if found["entityType"] != "source":
            # The provider never updates a space or folder (they are nothing but their path).
            raise ApiFailureError(400, f"{found['entityType']} updates are outside this model")
        updated = self._source(body, found)
        updated.update(id=found["id"], tag=self._tag())
        self.catalog[found["id"]] = updated
        return 200, self._public_entity(updated)

    def _update_dataset(self, body: dict, found: dict) -> dict:
        """CatalogServiceHelper.updateDataset on a physical dataset of a source: validateDataset's checks, the type
        unchanged, a format required (a promoted folder), and the refresh policy stored as the dataset's
        reflection settings (absent: the stored settings removed)."""
        if body.get("entityType") != "dataset":
            raise ApiFailureError(400, "Could not resolve the entity type")
        _only(body, DATASET_FIELDS, "Dataset")
        if body.get("type") is None:
            raise ApiFailureError(400, "Dataset type is required.")
        if not isinstance(body.get("path"), list) or len(body["path"]) < 2:
            raise ApiFailureError(400, "Dataset path should be fully qualified.")
        if body.get("sql") is not None or body.get("sqlContext") is not None:
            raise ApiFailureError(400, "Physical dataset can not have sql defined.")
        if body["type"] != found["type"]:
            raise ApiFailureError(400, "Dataset type can not be modified")
        if body.get("format") is None:
            raise ApiFailureError(400, "Promoted dataset needs to have a format set.")
        policy = body.get("accelerationRefreshPolicy")
        if policy is not None:
            _only(policy, REFRESH_SETTINGS_FIELDS, "RefreshSettings")
            for key, allowed in (("activePolicyType", REFRESH_POLICY_TYPES), ("method", REFRESH_METHODS)):
                if key in policy and policy[key] not in allowed:
                    raise ApiFailureError(400, f"Cannot deserialize value of type `{key}` from String "
                                               f"\"{policy[key]}\"")
        found.update(format=body["format"], tag=self._tag())
        if policy is None:
            found.pop("refreshSettings", None)
        else:
            found["refreshSettings"] = _drop_nulls(dict(policy))
        return found

    def _refresh_entity(self, body: Any, query: dict, id: str) -> tuple[int, Any]:
        """refreshCatalogItem: the reflections depending on a dataset are queued for refresh; anything that is not
        a dataset is an IllegalArgumentException, answered 404."""
        found = self.catalog.get(id)
        if found is None or found["entityType"] != "dataset":
            raise ApiFailureError(404, f"Could not find dataset with id [{id}].")
        self.refreshes.append(list(found["path"]))
        return 204, None

    def _delete_entity(self, body: Any, query: dict, id: str) -> tuple[int, Any]:
        found = self._existing_entity(id)
        if "tag" in query and query["tag"] != found["tag"]:
            raise ApiFailureError(409, f"Cannot delete, expected tag {query['tag']} but found tag {found['tag']}")
        doomed = [key for key, item in self.catalog.items()
                  if _path_of(item)[: len(_path_of(found))] == _path_of(found)]
        for key in doomed:
            del self.catalog[key]
            self.grants.pop(key, None)
        return 204, None

    def _public_entity(self, entity: dict) -> dict:
        public = copy.deepcopy(entity)
        if public["entityType"] == "source":
            source_type = SOURCE_TYPES[public["type"]]
            for secret in source_type.secrets:
                if public["config"].get(secret):
                    public["config"][secret] = EXISTING
            for hidden in source_type.not_echoed:
                public["config"].pop(hidden, None)
            public["state"] = {"status": "good", "suggestedUserAction": "", "messages": []}
            public["children"] = []
        elif public["entityType"] == "dataset":
            # toDatasetAPI: the dataset's stored reflection settings, else its source's.
            source = self.entity(public["path"][0])
            inherited = {"activePolicyType": source["accelerationActivePolicyType"],
                         "refreshPeriodMs": source["accelerationRefreshPeriodMs"],
                         "gracePeriodMs": source["accelerationGracePeriodMs"], "method": "FULL",
                         "neverExpire": source["accelerationNeverExpire"],
                         "neverRefresh": source["accelerationNeverRefresh"]}
            public["accelerationRefreshPolicy"] = public.pop("refreshSettings", None) or inherited
            public["fields"] = []
        else:
            public["children"] = []
        return _drop_nulls(public)

    # ---- grants (Enterprise, docs only) -----------------------------------------------------------------

    def _available(self, found: dict) -> set[str]:
        return SPACE_PRIVILEGES if found["entityType"] in ("space", "folder") else SOURCE_PRIVILEGES

    def _get_grants(self, body: Any, query: dict, id: str) -> tuple[int, Any]:
        found = self._existing_entity(id)
        grants = []
        for grant in self.grants.get(found["id"], []):
            if grant["granteeType"] == "ROLE":
                grants.append({**grant, "name": self.roles[grant["id"]]["name"]})
            else:
                user = self.users[grant["id"]]
                grants.append(_drop_nulls({**grant, "name": user["name"], "firstName": user.get("firstName"),
                                           "lastName": user.get("lastName"), "email": user.get("email")}))
        return 200, {"id": found["id"], "availablePrivileges": sorted(self._available(found)), "grants": grants}

    def _put_grants(self, body: Any, query: dict, id: str) -> tuple[int, Any]:
        found = self._existing_entity(id)
        _only(body, {"grants"}, "grants")
        stored = []
        for grant in body["grants"]:
            _only(grant, {"granteeType", "id", "privileges", "name", "firstName", "lastName", "email"}, "grant")
            store = self.roles if grant.get("granteeType") == "ROLE" else self.users
            if grant.get("granteeType") not in ("ROLE", "USER") or grant.get("id") not in store:
                raise ApiFailureError(400, f"Unknown grantee [{grant.get('id')}]")
            bad = sorted(set(grant.get("privileges", [])) - self._available(found))
            if bad:
                raise ApiFailureError(400, f"Privilege [{bad[0]}] is not available on this object")
            stored.append({"granteeType": grant["granteeType"], "id": grant["id"],
                           "privileges": list(grant["privileges"])})
        self.grants[found["id"]] = stored
        return 200, None

    # ---- SQL jobs (SQLResource, JobResource): recorded, never run -----------------------------------------

    def _submit_sql(self, body: Any, query: dict) -> tuple[int, Any]:
        # CreateFromSQL (explore/model/CreateFromSQL.java): sql, context, references, engineName.
        _only(body, {"sql", "context", "references", "engineName"}, "CreateFromSQL")
        if not isinstance(body.get("sql"), str) or not body["sql"].strip():
            raise ApiFailureError(400, "sql is required")
        self.queries.append(body["sql"])
        rows = next((found for answer in self.sql_answers for found in [answer(body["sql"])] if found is not None),
                    [])
        job_id = str(uuid.uuid4())
        self.jobs[job_id] = {"sql": body["sql"], "rows": rows, "user": self.caller}
        return 200, {"id": job_id}  # QueryDetails

    def _existing_job(self, job_id: str) -> dict:
        job = self.jobs.get(job_id)
        if job is None or job["user"] != self.caller:
            raise ApiFailureError(404, f"Could not find a job with id [{job_id}]")
        return job

    def _job_status(self, body: Any, query: dict, id: str) -> tuple[int, Any]:
        job = self._existing_job(id)
        now = int(time.time() * 1000)
        return 200, {"jobState": "COMPLETED", "rowCount": len(job["rows"]), "queryType": "REST",
                     "startedAt": now, "endedAt": now}

    def _job_results(self, body: Any, query: dict, id: str) -> tuple[int, Any]:
        job = self._existing_job(id)
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
        if limit > 500:
            raise ApiFailureError(400, "limit can not exceed 500 rows")
        rows = job["rows"][offset:offset + limit]
        names = list(job["rows"][0]) if job["rows"] else []
        schema = [{"name": name, "type": {"name": "BIGINT" if all(isinstance(row.get(name), int)
                                                                   for row in job["rows"]) else "VARCHAR"}}
                  for name in names]
        return 200, {"rowCount": len(job["rows"]), "schema": schema, "rows": rows}

    def _cancel_job(self, body: Any, query: dict, id: str) -> tuple[int, Any]:
        self._existing_job(id)
        return 204, None


def _only(body: Any, allowed: set[str], what: str) -> None:
    if not isinstance(body, dict):
        raise ApiFailureError(400, f"{what} must be an object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiFailureError(400, f"Unrecognized field \"{unknown[0]}\" (class {what}), not marked as ignorable")


def _drop_nulls(value: Any) -> Any:
    """Jackson's `Include.NON_NULL`: null properties are left out (at every level)."""
    if isinstance(value, dict):
        return {key: _drop_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_drop_nulls(item) for item in value]
    return value


def _path_of(entity: dict) -> list[str]:
    return list(entity["path"]) if "path" in entity else [entity["name"]]


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
