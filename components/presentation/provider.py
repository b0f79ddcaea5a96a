"""Superset objects as Pulumi resources, over Superset's REST API (`/api/v1`): database connections, roles and
service users.

Superset has no official Python client; the calls are the documented REST API. Login is
`POST /api/v1/security/login` (a bearer token), writes carry the CSRF token from
`GET /api/v1/security/csrf_token/` (CSRF protection stays on in the platform's configuration).

    connection = {"url": "https://superset.dp-presentation.svc.cluster.local:8088", "username": ...,
                  "password": ..., "ca_pem": ...}
    Database("presentation-dremio", connection, "dremio", dremio_uri(...), password=...)

A database connection's password travels outside the URI (`secret_uri` holds the whole URI with it) and is
never stored; Superset masks it on read, so `fetch` compares the URI without it. Superset tests a connection
when it is created (it must be reachable). The Dremio connection uses the Arrow Flight dialect with TLS and
certificate verification on; DML, CTAS/CVAS and file upload are off.
"""

from __future__ import annotations

import json
import ssl
from typing import Any
from urllib.parse import quote

import httpx
import pulumi

from components.kit.rest import NotFound, ProviderResource, RestProvider

TRANSIENT_STATUSES = {429, 500, 502, 503, 504}
PAGE = 100
MASKED_PASSWORD = "XXXXXXXXXX"
# Permissions on data (a database, catalog, schema or dataset) that Superset registers lazily, named by its
# security manager as `[database].[schema]` and the like; the role provider registers them ahead of the data.
DATA_ACCESS = frozenset({"database_access", "catalog_access", "schema_access", "datasource_access"})
# What a reporting connection may never do (the pack checks the same keys).
LOCKED_DOWN = {"allow_dml": False, "allow_ctas": False, "allow_cvas": False, "allow_file_upload": False}


class SupersetError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def dremio_uri(host: str, port: int, username: str) -> str:
    """Dremio over Arrow Flight with TLS, verifying the server certificate (no password: it goes apart)."""
    return (f"dremio+flight://{quote(username)}@{host}:{port}/dremio"
            "?UseEncryption=true&disableCertificateVerification=false")


def database_spec(name: str, uri: str, uuid: str | None = None) -> dict[str, Any]:
    """The connection's settings: exposed to SQL Lab read-only, async off, everything that writes off. A `uuid`
    pins the connection's identity, so an asset bundle that names it by that uuid finds it on import."""
    spec = {"database_name": name, "sqlalchemy_uri": uri, "expose_in_sqllab": True, "allow_run_async": False,
            **LOCKED_DOWN}
    if uuid:
        spec["uuid"] = uuid
    return spec


def _with_password(uri: str, password: str) -> str:
    scheme, _, rest = uri.partition("://")
    user, _, host = rest.partition("@")
    return f"{scheme}://{user}:{quote(password, safe='')}@{host}"


def _without_password(uri: str) -> str:
    scheme, _, rest = uri.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}://{credentials.split(':')[0]}{at}{host}" if at else uri


class SupersetClient:
    def __init__(self, connection: dict[str, Any]) -> None:
        url = connection["url"].rstrip("/")
        verify: Any = True
        if url.startswith("https://"):
            verify = ssl.create_default_context(cadata=connection["ca_pem"])
        elif not connection.get("insecure_loopback"):
            raise ValueError(f"Superset connection {url!r} is not https; TLS is required")
        self.base = f"{url}/api/v1"
        self.http = httpx.Client(verify=verify, timeout=float(connection.get("timeout") or 30))
        self.login = (connection["username"], connection["password"])
        self.headers: dict[str, str] | None = None

    def _auth(self) -> dict[str, str]:
        if self.headers is None:
            answer = self.http.post(f"{self.base}/security/login", json={
                "username": self.login[0], "password": self.login[1], "provider": "db", "refresh": False})
            if answer.status_code != 200:
                raise SupersetError(answer.status_code, f"login refused: {answer.text[:200]}")
            headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            csrf = self.http.get(f"{self.base}/security/csrf_token/", headers=headers)
            if csrf.status_code != 200:
                raise SupersetError(csrf.status_code, f"no CSRF token: {csrf.text[:200]}")
            self.headers = {**headers, "X-CSRFToken": csrf.json()["result"], "Referer": self.base}
        return self.headers

    def call(self, method: str, path: str, body: Any = None, params: dict | None = None) -> Any:
        answer = self.http.request(method, f"{self.base}{path}", json=body, params=params, headers=self._auth())
        if answer.status_code == 404:
            raise NotFound(path)
        if answer.status_code >= 400:
            raise SupersetError(answer.status_code, answer.text[:500])
        return answer.json() if answer.content else None

    def list(self, path: str) -> list[dict[str, Any]]:
        items, page = [], 0
        while True:
            answer = self.call("GET", path, params={"q": f"(page:{page},page_size:{PAGE})"})
            items.extend(answer["result"])
            if len(answer["result"]) < PAGE:
                return items
            page += 1


class _SupersetProvider(RestProvider):
    def connect(self, props: dict[str, Any]) -> SupersetClient:
        return SupersetClient(props["connection"])

    def key(self, props: dict[str, Any]) -> str:
        return props["name"]

    def is_transient(self, error: Exception) -> bool:
        if isinstance(error, httpx.ConnectError) and "CERTIFICATE" in str(error).upper():
            return False
        if isinstance(error, httpx.TransportError):
            return True
        return isinstance(error, SupersetError) and error.status in TRANSIENT_STATUSES


class DatabaseProvider(_SupersetProvider):
    kind = "superset database"

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return database_spec(props["name"], props["uri"], props.get("uuid"))

    def identifiers(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"uuid": props["uuid"]} if props.get("uuid") else {}

    def read(self, id_: str, props: dict[str, Any]) -> Any:
        self._pinned_uuid = bool(props.get("uuid"))  # whether the live uuid is part of the compared spec
        return super().read(id_, props)

    def secrets(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"password": props.get("password") or ""}

    def _find(self, client: SupersetClient, key: str) -> int | None:
        return next((d["id"] for d in client.list("/database/") if d["database_name"] == key), None)

    def fetch(self, client: SupersetClient, key: str) -> dict[str, Any] | None:
        found = self._find(client, key)
        if found is None:
            return None
        live = client.call("GET", f"/database/{found}/connection")["result"]
        spec = {field: live.get(field) for field in database_spec(key, "")}
        spec["sqlalchemy_uri"] = _without_password(live["sqlalchemy_uri"])
        if getattr(self, "_pinned_uuid", False):
            spec["uuid"] = live.get("uuid")
        return spec

    def put(self, client: SupersetClient, key: str, body: dict[str, Any]) -> None:
        password = body.pop("password", "")
        if password:
            body["sqlalchemy_uri"] = _with_password(body["sqlalchemy_uri"], password)
        found = self._find(client, key)
        if found is None:
            client.call("POST", "/database/", body)
        else:
            client.call("PUT", f"/database/{found}", body)

    def remove(self, client: SupersetClient, key: str) -> None:
        found = self._find(client, key)
        if found is None:
            raise NotFound(key)
        client.call("DELETE", f"/database/{found}")


class RoleProvider(_SupersetProvider):
    """A role holding exactly the listed permissions, each `[permission, view_menu]`. A data-access permission
    Superset has not registered yet (the gold schema before the first build) is registered by its Superset name."""

    kind = "superset role"

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"name": props["name"], "permissions": sorted([list(p) for p in props["permissions"]])}

    def _find(self, client: SupersetClient, key: str) -> int | None:
        return next((r["id"] for r in client.list("/security/roles/") if r["name"] == key), None)

    def fetch(self, client: SupersetClient, key: str) -> dict[str, Any] | None:
        found = self._find(client, key)
        if found is None:
            return None
        granted = client.call("GET", f"/security/roles/{found}/permissions/")["result"]
        return {"name": key, "permissions": sorted([p["permission_name"], p["view_menu_name"]] for p in granted)}

    def put(self, client: SupersetClient, key: str, body: dict[str, Any]) -> None:
        found = self._find(client, key)
        if found is None:
            found = client.call("POST", "/security/roles/", {"name": key})["id"]
        catalogue = {(p["permission"]["name"], p["view_menu"]["name"]): p["id"]
                     for p in client.list("/security/permissions-resources/")}
        missing = [pair for pair in body["permissions"] if tuple(pair) not in catalogue]
        unknown = [pair for pair in missing if pair[0] not in DATA_ACCESS]
        if unknown:
            raise SupersetError(400, f"role '{key}': unknown permissions {json.dumps(unknown)}")
        for pair in missing:
            catalogue[tuple(pair)] = self._data_access(client, *pair)
        client.call("POST", f"/security/roles/{found}/permissions", {
            "permission_view_menu_ids": [catalogue[tuple(pair)] for pair in body["permissions"]]})

    def _data_access(self, client: SupersetClient, permission: str, view_menu: str) -> int:
        """Create a data-access permission Superset names but has not registered yet, and return its id.

        Superset registers `schema_access` on `[database].[schema]` only for the schemas a database has when the
        connection is saved (and `datasource_access` when a dataset is added): a role granting the gold schema
        before the first build has created it would otherwise wait for a manual "sync permissions". The names
        are Superset's own, so the permission Superset registers later is this one."""
        permissions = {p["name"]: p["id"] for p in client.list("/security/permissions/")}
        if permission not in permissions:
            raise SupersetError(400, f"Superset has not registered the permission '{permission}' yet (it does when "
                                     "the first database is saved): the role must wait for its database")
        menus = {v["name"]: v["id"] for v in client.list("/security/resources/")}
        menu = menus.get(view_menu)
        if menu is None:
            menu = client.call("POST", "/security/resources/", {"name": view_menu})["id"]
        return client.call("POST", "/security/permissions-resources/",
                           {"permission_id": permissions[permission], "view_menu_id": menu})["id"]

    def remove(self, client: SupersetClient, key: str) -> None:
        found = self._find(client, key)
        if found is None:
            raise NotFound(key)
        client.call("DELETE", f"/security/roles/{found}")


class UserProvider(_SupersetProvider):
    """A database-authenticated user holding exactly the listed roles; the password is written, never read back."""

    kind = "superset user"

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"username": props["name"], "first_name": props["first_name"], "last_name": props["last_name"],
                "email": props["email"], "active": True, "roles": sorted(props["roles"])}

    def secrets(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"password": props.get("password") or ""}

    def _find(self, client: SupersetClient, key: str) -> dict[str, Any] | None:
        return next((u for u in client.list("/security/users/") if u["username"] == key), None)

    def fetch(self, client: SupersetClient, key: str) -> dict[str, Any] | None:
        found = self._find(client, key)
        if found is None:
            return None
        return {"username": key, "first_name": found.get("first_name"), "last_name": found.get("last_name"),
                "email": found.get("email"), "active": bool(found.get("active")),
                "roles": sorted(role["name"] for role in found.get("roles") or [])}

    def put(self, client: SupersetClient, key: str, body: dict[str, Any]) -> None:
        roles = {r["name"]: r["id"] for r in client.list("/security/roles/")}
        missing = sorted(set(body["roles"]) - set(roles))
        if missing:
            raise SupersetError(400, f"user '{key}': unknown roles {json.dumps(missing)}")
        body = {**body, "roles": [roles[name] for name in body["roles"]]}
        found = self._find(client, key)
        if found is None:
            client.call("POST", "/security/users/", body)
        else:
            client.call("PUT", f"/security/users/{found['id']}", body)

    def remove(self, client: SupersetClient, key: str) -> None:
        found = self._find(client, key)
        if found is None:
            raise NotFound(key)
        client.call("DELETE", f"/security/users/{found['id']}")


class Database(ProviderResource, module="superset", name="Database"):
    """A database connection; the password is merged into the URI on write and never stored."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], name: str, uri: pulumi.Input[str],
                 password: pulumi.Input[str], uuid: str | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(DatabaseProvider(), resource_name,
                         {"connection": connection, "name": name, "uri": uri, "uuid": uuid,
                          "password": pulumi.Output.secret(password), **LOCKED_DOWN}, opts)


class Role(ProviderResource, module="superset", name="Role"):
    """A role with exactly these `[permission, view_menu]` pairs."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], name: str,
                 permissions: list[list[str]], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(RoleProvider(), resource_name,
                         {"connection": connection, "name": name, "permissions": permissions}, opts)


class User(ProviderResource, module="superset", name="User"):
    """A service user with exactly these roles; its password is written on every change and never stored."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], name: str, password: pulumi.Input[str],
                 roles: list[str], email: str, first_name: str, last_name: str,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(UserProvider(), resource_name,
                         {"connection": connection, "name": name, "password": pulumi.Output.secret(password),
                          "roles": roles, "email": email, "first_name": first_name, "last_name": last_name}, opts)
