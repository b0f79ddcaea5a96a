"""Dremio objects as Pulumi resources, over Dremio Software's REST API (v3, plus the v2 login, bootstrap and,
on the Community edition, user deletion).

Dremio has no official Python client, so the calls are written here by hand on the shared base
(components/kit/rest.py): the first administrator, service users, catalog objects (sources, spaces, folders)
addressed by path, and, on the Enterprise edition, roles and grants.

    connection = {"url": "https://dremio-client.dp-lakehouse.svc.cluster.local:9047",
                  "username": "platform-admin", "password": ..., "ca_pem": ...}
    admin = FirstAdmin("lakehouse-admin", connection, email="dremio-admin@platform.invalid")
    Source("lakehouse-source-lake", connection, s3_source("lake", ...), secret_config={"accessSecret": ...},
           opts=ResourceOptions(depends_on=[admin]))

Every call follows Dremio's OSS source at `SOURCE_COMMIT` (dremio/dremio-oss "Release 25.2.0", the newest
source Dremio has published; 26.x is released as images only) or, for what only Enterprise has, the vendor's
documentation (docs/decisions/0028-dremio-editions-and-the-logs-source.md lists each endpoint with its class):
- `POST /apiv2/login` `{userName, password}` answers `{token, ...}`; later calls send `Authorization:
  _dremio<token>` (dac/backend/.../resource/LogInLogOutResource.java).
- `PUT /apiv2/bootstrap/firstuser` creates the first administrator of an empty server, and is refused (400) once
  any user exists (resource/BootstrapResource.java `createUser`).
- `/api/v3/catalog` (api/CatalogResource.java): POST creates sources, spaces and folders; `GET by-path/<a>/<b>`
  finds them; `PUT /{id}` replaces one and must carry the current `tag` (a stale tag is a 409); `DELETE
  /{id}?tag=` removes it. Secret config fields read back as `$DREMIO_EXISTING_VALUE$` (ConnectionConf
  `clearSecrets`), and null fields are left out of every answer (JSONUtil: `Include.NON_NULL`).
- `/api/v3/user` (api/UserResource.java): POST, `GET by-name/{name}`, `PUT /{id}` with the tag. The OSS class has
  no DELETE: Community deletes through `DELETE /apiv2/user/{name}?version=<tag>` (resource/UserResource.java
  `deleteUser`); Enterprise documents `DELETE /api/v3/user/{id}` (docs.dremio.com/current/reference/api/user/).
  Which one applies is the stack's `lakehouse.edition`, recorded in each user's state.
- Enterprise only, documented, absent from the OSS source: `/api/v3/role` (docs.dremio.com/current/reference/api/
  roles/) and `GET/PUT /api/v3/catalog/{id}/grants` with `{grants: [{granteeType, id, privileges}]}`
  (docs.dremio.com/current/reference/api/catalog/grants/).

Secrets never enter `spec` (what state hashes and drift compares): source credentials travel in
`secret_config`, merged into the body only on the wire, and `fetch` leaves the masked answer out, so a refresh
compares what the server keeps in the clear and the secrets by the hash of what was last applied.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

from components.kit.rest import NotFound, ProviderError, ProviderResource, RestProvider

TRANSIENT_STATUSES = {409, 429, 500, 502, 503, 504}
DEFAULT_TIMEOUT_SECONDS = 30.0
SECRET_CONFIG = "secret_config"
EXISTING_VALUE = "$DREMIO_EXISTING_VALUE$"
VERIFY_FULL = "CERTIFICATE_AND_HOSTNAME_VALIDATION"

# The Dremio OSS source the calls follow (github.com/dremio/dremio-oss, "Release 25.2.0").
SOURCE_COMMIT = "c7fee0bcd44c928c0ff57481dd6a484c4caeae33"
EDITIONS = ("community", "enterprise")

# The non-secret config fields this module sets per source type, exactly the keys of `s3_source` and
# `postgres_source` (fetch projects live objects onto them), and the fields that hold secrets. S3: the fields of
# plugins/s3/.../AbstractS3PluginConfig.java and S3PluginConfig.java at SOURCE_COMMIT. POSTGRES: Dremio's
# source configuration reference (the connector's source is not published).
SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "S3": ("credentialType", "accessKey", "secure", "compatibilityMode", "rootPath", "whitelistedBuckets",
           "propertyList", "defaultCtasFormat", "isPartitionInferenceEnabled", "enableAsync", "requesterPays"),
    "POSTGRES": ("hostname", "port", "databaseName", "username", "authenticationType", "useSsl",
                 "encryptionValidationMode", "fetchSize"),
}
SECRET_FIELDS: dict[str, tuple[str, ...]] = {"S3": ("accessSecret",), "POSTGRES": ("password",)}
METADATA_POLICY_FIELDS = ("authTTLMs", "namesRefreshMs", "datasetRefreshAfterMs", "datasetExpireAfterMs",
                          "datasetUpdateMode", "deleteUnavailableDatasets", "autoPromoteDatasets")
# A source's reflection refresh policy (api/Source.java at Dremio OSS 25.2.0: the `acceleration*` properties): how
# often reflections on its datasets refresh and how long a refreshed one serves. Every source declares it, Dremio's
# own defaults (an hour, three) unless a stack sets another, so a refresh compares it like the rest.
ACCELERATION_FIELDS = ("accelerationRefreshPeriodMs", "accelerationGracePeriodMs", "accelerationActivePolicyType",
                       "accelerationNeverRefresh", "accelerationNeverExpire")
DEFAULT_REFRESH_MS = 3_600_000
GRACE_FACTOR = 3
USER_FIELDS = ("name", "firstName", "lastName", "email")
EDITION = "edition"


def edition_of(props: dict[str, Any]) -> str:
    """The Dremio edition a resource's inputs name (`community` or `enterprise`)."""
    edition = props.get(EDITION)
    if edition not in EDITIONS:
        raise ValueError(f"Dremio edition {edition!r} is not one of {', '.join(EDITIONS)}")
    return edition


# ---- request bodies (pure) ------------------------------------------------------------------------------


def metadata_policy(auto_promote: bool) -> dict[str, Any]:
    """Hourly names/dataset refresh; `auto_promote` turns Parquet folders into datasets on first query."""
    hour = 3_600_000
    return {"authTTLMs": 24 * hour, "namesRefreshMs": hour, "datasetRefreshAfterMs": hour,
            "datasetExpireAfterMs": 3 * hour, "datasetUpdateMode": "PREFETCH_QUERIED",
            "deleteUnavailableDatasets": True, "autoPromoteDatasets": auto_promote}


def reflection_refresh(period_ms: int = DEFAULT_REFRESH_MS) -> dict[str, Any]:
    """A source's reflection refresh policy: every `period_ms`, expiring after three periods."""
    return {"accelerationRefreshPeriodMs": period_ms, "accelerationGracePeriodMs": GRACE_FACTOR * period_ms,
            "accelerationActivePolicyType": "PERIOD", "accelerationNeverRefresh": False,
            "accelerationNeverExpire": False}


def s3_source(name: str, access_key: str, buckets: list[str], endpoint: str | None = None,
              region: str | None = None, refresh_ms: int = DEFAULT_REFRESH_MS) -> dict[str, Any]:
    """An S3 source over TLS limited to `buckets`; `endpoint` (`host:port`, no scheme: `secure` makes it https)
    switches on MinIO compatibility with path-style requests; its datasets' reflections refresh every
    `refresh_ms` unless a dataset has a policy of its own."""
    properties = []
    if endpoint is not None:
        properties += [{"name": "fs.s3a.endpoint", "value": endpoint},
                       {"name": "fs.s3a.path.style.access", "value": "true"}]
        if region:
            properties.append({"name": "dremio.s3.region", "value": region})
    return {
        "entityType": "source", "type": "S3", "name": name,
        "config": {
            "credentialType": "ACCESS_KEY", "accessKey": access_key, "secure": True,
            "compatibilityMode": endpoint is not None, "rootPath": "/", "whitelistedBuckets": sorted(buckets),
            "propertyList": properties, "defaultCtasFormat": "PARQUET", "isPartitionInferenceEnabled": True,
            "enableAsync": True, "requesterPays": False,
        },
        "metadataPolicy": metadata_policy(auto_promote=True),
        **reflection_refresh(refresh_ms),
    }


def postgres_source(name: str, host: str, port: int, database: str, username: str) -> dict[str, Any]:
    """A PostgreSQL source with SSL and full certificate validation (verify-full). External queries stay at the
    connector's default (off): the field is not sent, so a refresh never depends on whether the server echoes it."""
    return {
        "entityType": "source", "type": "POSTGRES", "name": name,
        "config": {
            "hostname": host, "port": str(port), "databaseName": database, "username": username,
            "authenticationType": "MASTER", "useSsl": True, "encryptionValidationMode": VERIFY_FULL,
            "fetchSize": 200,
        },
        "metadataPolicy": metadata_policy(auto_promote=False),
        **reflection_refresh(),
    }


def space(name: str) -> dict[str, Any]:
    return {"entityType": "space", "name": name}


def folder(path: list[str]) -> dict[str, Any]:
    return {"entityType": "folder", "path": list(path)}


def entity_path(entity: dict[str, Any]) -> list[str]:
    return list(entity["path"]) if "path" in entity else [entity["name"]]


# ---- the client -----------------------------------------------------------------------------------------


class DremioApiError(Exception):
    """Dremio answered with an error status; `message` is its `errorMessage`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.message = status, message


@dataclass
class DremioClient:
    """JSON over https, verified against the CA given as PEM; logs in on first use and again after a 401."""

    url: str
    username: str
    password: str
    ca_pem: str
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    token: str | None = None

    @classmethod
    def from_connection(cls, connection: dict[str, Any]) -> DremioClient:
        url = connection["url"].rstrip("/")
        if not url.startswith("https://"):
            raise ValueError(f"Dremio connection {url!r} is not https; TLS is required")
        return cls(url, connection["username"], connection["password"], connection["ca_pem"],
                   float(connection.get("timeout") or DEFAULT_TIMEOUT_SECONDS))

    def _send(self, method: str, path: str, body: Any, authorization: str | None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if authorization is not None:
            request.add_header("Authorization", authorization)
        context = ssl.create_default_context(cadata=self.ca_pem)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=context) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                message = json.loads(raw).get("errorMessage") or raw.decode()
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace")
            raise DremioApiError(error.code, message) from None
        return json.loads(raw) if raw else None

    def login(self) -> str:
        answer = self._send("POST", "/apiv2/login", {"userName": self.username, "password": self.password}, None)
        self.token = answer["token"]
        return self.token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        if self.token is None:
            self.login()
        try:
            return self._send(method, path, body, f"_dremio{self.token}")
        except DremioApiError as error:
            if error.status != 401:
                raise
            self.login()
            return self._send(method, path, body, f"_dremio{self.token}")

    def get(self, path: str) -> Any | None:
        """GET, with None for a 404."""
        try:
            return self.call("GET", path)
        except DremioApiError as error:
            if error.status == 404:
                return None
            raise

    def bootstrap(self, body: dict[str, Any]) -> None:
        self._send("PUT", "/apiv2/bootstrap/firstuser", body, "_dremionull")

    def by_path(self, path: list[str]) -> dict[str, Any] | None:
        return self.get("/api/v3/catalog/by-path/" + "/".join(urllib.parse.quote(part, safe="") for part in path))


def is_transient(error: Exception) -> bool:
    """5xx, 429 and 409 (a stale tag or a concurrent create: the retry re-reads), timeouts, dropped connections.
    A certificate that does not verify never heals by waiting."""
    if isinstance(error, DremioApiError):
        return error.status in TRANSIENT_STATUSES
    if isinstance(error, urllib.error.URLError):
        return not isinstance(error.reason, ssl.SSLError)
    return isinstance(error, (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException))


def _project(live: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {key: live.get(key) for key in fields}


# ---- the kinds ------------------------------------------------------------------------------------------


class _DremioProvider(RestProvider):
    def connect(self, props: dict[str, Any]) -> DremioClient:
        return DremioClient.from_connection(props["connection"])

    def is_transient(self, error: Exception) -> bool:
        return is_transient(error)


class FirstAdminProvider(_DremioProvider):
    """The administrator of an empty Dremio, created through the bootstrap endpoint; the connection's user.

    Idempotent: if the connection's credentials already log in, there is nothing to do. A server that already has
    users but refuses these credentials is an error that names the fix. Deleting the resource keeps the user
    (Dremio must keep an administrator)."""

    kind = "dremio first administrator"

    def key(self, props: dict[str, Any]) -> str:
        return props["connection"]["username"]

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"userName": props["connection"]["username"], "firstName": props["first_name"],
                "lastName": props["last_name"], "email": props["email"]}

    def secrets(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"password": props["connection"]["password"]}

    def _logs_in(self, client: DremioClient) -> bool:
        try:
            client.login()
            return True
        except DremioApiError as error:
            if error.status in (401, 403):
                return False
            raise

    def fetch(self, client: DremioClient, key: str) -> dict[str, Any] | None:
        if not self._logs_in(client):
            return None
        user = client.get(f"/api/v3/user/by-name/{urllib.parse.quote(key, safe='')}") or {}
        return {"userName": key, "firstName": user.get("firstName"), "lastName": user.get("lastName"),
                "email": user.get("email")}

    def put(self, client: DremioClient, key: str, body: dict[str, Any]) -> None:
        if self._logs_in(client):
            self._restore_profile(client, key, body)
            return
        try:
            client.bootstrap(body)
        except DremioApiError as error:
            if error.status in (400, 403, 409):
                raise ProviderError(
                    f"Dremio already has users and '{key}' cannot log in with the configured password "
                    f"({error.message}); restore that password or reset the server's users"
                ) from None
            raise

    def _restore_profile(self, client: DremioClient, key: str, body: dict[str, Any]) -> None:
        """An administrator that exists and logs in keeps its password; a name or e-mail changed on the server is
        put back through the user API both editions serve (`PUT /api/v3/user/{id}` with the live tag, no
        password, so it stays as it is)."""
        live = client.get(f"/api/v3/user/by-name/{urllib.parse.quote(key, safe='')}")
        if live is None:
            return
        wanted = {field: body[field] for field in ("firstName", "lastName", "email")}
        if all(live.get(field) == value for field, value in wanted.items()):
            return
        client.call("PUT", f"/api/v3/user/{live['id']}", {"name": key, **wanted, "id": live["id"], "tag": live["tag"]})

    def remove(self, client: DremioClient, key: str) -> None:
        pulumi.log.info(f"the Dremio administrator '{key}' is kept: Dremio needs one")


class UserProvider(_DremioProvider):
    """A local (service) user; its password is written, never read back or stored, only hashed into state.

    Created and updated through `/api/v3/user` on both editions. Deleted by the edition's own endpoint: the OSS
    `UserResource` (api/) has no DELETE, so Community deletes by name through apiv2 with the user's tag as
    `version`; Enterprise deletes by id through v3 (docs only). The edition comes from the stack config
    (`lakehouse.edition`) and is kept in the outputs, the only thing the engine hands `delete`."""

    kind = "dremio user"

    def key(self, props: dict[str, Any]) -> str:
        return props["name"]

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"name": props["name"], "firstName": props["first_name"], "lastName": props["last_name"],
                "email": props["email"]}

    def secrets(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"password": props["password"]}

    def identifiers(self, props: dict[str, Any]) -> dict[str, Any]:
        return {EDITION: edition_of(props)}

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        edition_of(props)  # refuse before any call, not after the user exists
        return super()._apply(props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        result = super().diff(_id, olds, news)
        if result.changes is False and olds.get(EDITION) != news.get(EDITION):
            # State written before the edition was recorded (or the stack changed edition): an update records it,
            # so that a later delete takes the edition's endpoint.
            return dynamic.DiffResult(changes=True, replaces=[], delete_before_replace=False)
        return result

    def _find(self, client: DremioClient, key: str) -> dict[str, Any] | None:
        return client.get(f"/api/v3/user/by-name/{urllib.parse.quote(key, safe='')}")

    def fetch(self, client: DremioClient, key: str) -> dict[str, Any] | None:
        live = self._find(client, key)
        return None if live is None else _project(live, USER_FIELDS)

    def put(self, client: DremioClient, key: str, body: dict[str, Any]) -> None:
        live = self._find(client, key)
        if live is None:
            client.call("POST", "/api/v3/user", body)
        else:
            client.call("PUT", f"/api/v3/user/{live['id']}", {**body, "id": live["id"], "tag": live["tag"]})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        edition = props.get(EDITION)
        if edition not in EDITIONS:
            raise ProviderError(
                f"{self.kind} '{id_}': the state does not record the Dremio edition, so the delete endpoint is "
                "unknown (Community and Enterprise differ); run `pulumi up` once with this version first")
        client = self.connect(props)
        try:
            self._call(f"'{id_}' delete", lambda: self.remove_from(client, id_, edition))
        except NotFound:
            pulumi.log.debug(f"{self.kind} '{id_}' was already gone")

    def remove_from(self, client: DremioClient, key: str, edition: str) -> None:
        """Delete the user through `edition`'s endpoint, with its live tag as `version`."""
        live = self._find(client, key)
        if live is None:
            raise NotFound()
        version = urllib.parse.quote(live["tag"], safe="")
        if edition == "enterprise":
            client.call("DELETE", f"/api/v3/user/{urllib.parse.quote(live['id'], safe='')}?version={version}")
        else:
            client.call("DELETE", f"/apiv2/user/{urllib.parse.quote(key, safe='')}?version={version}")


class CatalogProvider(_DremioProvider):
    """A source, space or folder, found by path; updates carry the live `tag` (optimistic concurrency)."""

    kind = "dremio catalog object"

    def key(self, props: dict[str, Any]) -> str:
        return "/".join(entity_path(props["entity"]))

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return props["entity"]

    def secrets(self, props: dict[str, Any]) -> dict[str, Any]:
        return {SECRET_CONFIG: props[SECRET_CONFIG]} if props.get(SECRET_CONFIG) else {}

    def fetch(self, client: DremioClient, key: str) -> dict[str, Any] | None:
        live = client.by_path(key.split("/"))
        if live is None:
            return None
        entity_type = live.get("entityType")
        if entity_type == "source":
            kind = live.get("type")
            return {
                "entityType": "source", "type": kind, "name": live.get("name"),
                "config": _project(live.get("config") or {}, SOURCE_FIELDS.get(kind, ())),
                "metadataPolicy": _project(live.get("metadataPolicy") or {}, METADATA_POLICY_FIELDS),
                **_project(live, ACCELERATION_FIELDS),
            }
        if entity_type == "space":
            return {"entityType": "space", "name": live.get("name")}
        return {"entityType": entity_type, "path": live.get("path")}

    def put(self, client: DremioClient, key: str, body: dict[str, Any]) -> None:
        body = dict(body)
        secret = body.pop(SECRET_CONFIG, None)
        if secret:
            body["config"] = {**body["config"], **secret}
        live = client.by_path(key.split("/"))
        if live is None:
            client.call("POST", "/api/v3/catalog", body)
        elif body["entityType"] == "source":
            client.call("PUT", f"/api/v3/catalog/{live['id']}", {**body, "id": live["id"], "tag": live["tag"]})
        # A space or folder has nothing but its path: once it exists it is as declared.

    def remove(self, client: DremioClient, key: str) -> None:
        live = client.by_path(key.split("/"))
        if live is None:
            raise NotFound()
        client.call("DELETE", f"/api/v3/catalog/{live['id']}?tag={urllib.parse.quote(live['tag'])}")


class RoleProvider(_DremioProvider):
    """A local role (Enterprise edition)."""

    kind = "dremio role"

    def key(self, props: dict[str, Any]) -> str:
        return props["name"]

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"name": props["name"], "description": props.get("description") or ""}

    def fetch(self, client: DremioClient, key: str) -> dict[str, Any] | None:
        live = client.get(f"/api/v3/role/by-name/{urllib.parse.quote(key, safe='')}")
        return None if live is None else {"name": live["name"], "description": live.get("description") or ""}

    def put(self, client: DremioClient, key: str, body: dict[str, Any]) -> None:
        live = client.get(f"/api/v3/role/by-name/{urllib.parse.quote(key, safe='')}")
        if live is None:
            client.call("POST", "/api/v3/role", {**body, "roles": []})
        else:
            client.call("PUT", f"/api/v3/role/{live['id']}", {**body, "roles": live.get("roles", [])})

    def remove(self, client: DremioClient, key: str) -> None:
        live = client.get(f"/api/v3/role/by-name/{urllib.parse.quote(key, safe='')}")
        if live is None:
            raise NotFound()
        client.call("DELETE", f"/api/v3/role/{live['id']}")


def _grant_order(grant: dict[str, Any]) -> tuple[str, str]:
    return grant["granteeType"], grant["name"]


class GrantsProvider(_DremioProvider):
    """Every explicit grant on one catalog object (Enterprise edition); the object's whole grant list is owned
    here, so a grant added by hand shows as drift and the next apply removes it."""

    kind = "dremio grants"

    def key(self, props: dict[str, Any]) -> str:
        return "/".join(props["path"])

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        grants = [{"granteeType": grant["granteeType"], "name": grant["name"],
                   "privileges": sorted(grant["privileges"])} for grant in props["grants"]]
        return {"grants": sorted(grants, key=_grant_order)}

    def _grantee_id(self, client: DremioClient, grant: dict[str, Any]) -> str:
        collection = "role" if grant["granteeType"] == "ROLE" else "user"
        found = client.get(f"/api/v3/{collection}/by-name/{urllib.parse.quote(grant['name'])}")
        if found is None:
            raise ProviderError(f"{collection} '{grant['name']}' does not exist; declare it before its grants")
        return found["id"]

    def fetch(self, client: DremioClient, key: str) -> dict[str, Any] | None:
        live = client.by_path(key.split("/"))
        if live is None:
            return None
        answer = client.call("GET", f"/api/v3/catalog/{live['id']}/grants")
        grants = [{"granteeType": grant["granteeType"], "name": grant["name"],
                   "privileges": sorted(grant["privileges"])} for grant in answer.get("grants", [])]
        return {"grants": sorted(grants, key=_grant_order)}

    def put(self, client: DremioClient, key: str, body: dict[str, Any]) -> None:
        live = client.by_path(key.split("/"))
        if live is None:
            raise ProviderError(f"catalog object '{key}' does not exist; its grants wait for it")
        grants = [{"granteeType": grant["granteeType"], "id": self._grantee_id(client, grant),
                   "privileges": grant["privileges"]} for grant in body["grants"]]
        client.call("PUT", f"/api/v3/catalog/{live['id']}/grants", {"grants": grants})

    def remove(self, client: DremioClient, key: str) -> None:
        live = client.by_path(key.split("/"))
        if live is None:
            raise NotFound()
        client.call("PUT", f"/api/v3/catalog/{live['id']}/grants", {"grants": []})


# ---- resources ------------------------------------------------------------------------------------------


class FirstAdmin(ProviderResource, module="dremio", name="FirstAdmin"):
    """The first administrator (`PUT /apiv2/bootstrap/firstuser`), whose credentials are the connection's."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], email: str,
                 first_name: str = "Platform", last_name: str = "Administrator",
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(FirstAdminProvider(), resource_name,
                         {"connection": connection, "first_name": first_name, "last_name": last_name,
                          "email": email}, opts)


class User(ProviderResource, module="dremio", name="User"):
    """A local user (`/api/v3/user`) with a generated password; `edition` picks the delete endpoint."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], name: str, password: pulumi.Input[str],
                 email: str, first_name: str, edition: str, last_name: str = "Service",
                 opts: pulumi.ResourceOptions | None = None) -> None:
        edition_of({EDITION: edition})
        super().__init__(UserProvider(), resource_name,
                         {"connection": connection, "name": name, "password": pulumi.Output.secret(password),
                          "email": email, "first_name": first_name, "last_name": last_name, EDITION: edition},
                         opts)


class Source(ProviderResource, module="dremio", name="Source"):
    """A catalog source; `entity` is the body without secrets, `secret_config` its secret config fields."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], entity: pulumi.Input[dict],
                 secret_config: pulumi.Input[dict] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {"connection": connection, "entity": entity}
        if secret_config is not None:
            props[SECRET_CONFIG] = pulumi.Output.secret(secret_config)
        super().__init__(CatalogProvider(), resource_name, props, opts)


class Space(ProviderResource, module="dremio", name="Space"):
    """A space (top-level container of views)."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], name: str,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(CatalogProvider(), resource_name, {"connection": connection, "entity": space(name)}, opts)


class Folder(ProviderResource, module="dremio", name="Folder"):
    """A folder inside a space, by path."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], path: list[str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(CatalogProvider(), resource_name, {"connection": connection, "entity": folder(path)}, opts)


class Role(ProviderResource, module="dremio", name="Role"):
    """A local role (Enterprise)."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], name: str, description: str = "",
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(RoleProvider(), resource_name,
                         {"connection": connection, "name": name, "description": description}, opts)


class Grants(ProviderResource, module="dremio", name="Grants"):
    """The explicit grants on one catalog object (Enterprise): `[{granteeType, name, privileges}]`."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], path: list[str],
                 grants: list[dict[str, Any]], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(GrantsProvider(), resource_name,
                         {"connection": connection, "path": list(path), "grants": grants}, opts)
