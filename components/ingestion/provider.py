"""Airbyte objects as Pulumi resources, over Airbyte's public API (`/api/public/v1`): the workspace, sources,
destinations and connections.

Objects are addressed by name (`<workspace>/<name>`); Airbyte's ids are looked up on every call, so a source
that is recreated under the same name is found again and a connection follows it. Payloads are built by the
pure functions below from the catalog and are shaped like the official `airbyte-api` client's models (the tests
validate every payload against them). The transport is hand-written because the client's typed source
configuration is a closed union: it cannot carry a connector outside it (the REST API source is a declarative
connector), and a dict that happens to fit an unrelated member is silently re-shaped.

Authentication is Airbyte's application flow (`POST /applications/token` with a client id and secret, then a
bearer token), over https verified against the CA given as PEM. Secret parts of a configuration (passwords,
keys) travel in `secret_configuration`, are merged into the body on write, never stored, and Airbyte returns
them masked (`**********`), which `fetch` drops so refresh compares like with like.

    connection = {"url": "https://airbyte.dp-ingestion.svc.cluster.local:8001", "client_id": ...,
                  "client_secret": ..., "ca_pem": ...}
    Workspace("ingestion-workspace", connection, "platform", notifications={...})
"""

from __future__ import annotations

import copy
import ssl
from typing import Any

import httpx
import pulumi

from components.kit.rest import NotFound, ProviderResource, RestProvider
from infra.model.catalog import Source, Stream

API_PATH = "/api/public/v1"
MASK = "**********"
TRANSIENT_STATUSES = {429, 500, 502, 503, 504}
DEFAULT_TIMEOUT_SECONDS = 30.0
PAGE = 100
# Where the S3 destination writes inside its bucket path (the source's folder): the bronze layout of
# infra/model/lake.py, `<source>/<stream>/date=YYYY-MM-DD/`. Airbyte expands the ${...} variables per file.
BRONZE_PATH_FORMAT = "${STREAM_NAME}/date=${YEAR}-${MONTH}-${DAY}/"


class AirbyteError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


# ---- pure payload builders -------------------------------------------------------------------------


def sync_mode(stream: Stream) -> str:
    """Airbyte's combined sync mode for a catalog stream (`incremental` + `append` -> `incremental_append`)."""
    if stream.destination_sync_mode == "append_dedup":
        raise ValueError(f"stream '{stream.name}': the S3 destination cannot deduplicate; use append")
    return f"{stream.sync_mode}_{stream.destination_sync_mode}"


def stream_configurations(source: Source) -> dict[str, Any]:
    """The connection's `configurations`: every catalog stream with its sync mode, cursor and primary key."""
    streams = []
    for stream in source.streams:
        entry: dict[str, Any] = {"name": stream.name, "syncMode": sync_mode(stream),
                                 "primaryKey": [[column] for column in stream.primary_key]}
        if stream.cursor_field:
            entry["cursorField"] = [stream.cursor_field]
        streams.append(entry)
    return {"streams": streams}


def destination_path(destination_configuration: dict[str, Any], stream: str) -> str:
    """The object prefix a stream lands under, as the S3 destination renders it (before the date)."""
    rendered = destination_configuration["s3_path_format"].replace("${STREAM_NAME}", stream)
    return f"{destination_configuration['s3_bucket_path']}/{rendered.split('date=')[0]}"


def s3_destination(source: str, bucket: str, region: str, endpoint: str | None, access_key_id: str,
                   codec: str) -> dict[str, Any]:
    """The bronze destination of one source: Parquet with the bronze layer's codec (the catalog's, lower-case),
    date partitions under `<source>/<stream>/`.

    Airbyte prefixes every key with `s3_bucket_path`, so each source gets its own destination whose bucket
    path is the source's folder; `endpoint` is MinIO's https URL in dev and None on AWS.
    """
    if endpoint is not None and not endpoint.startswith("https://"):
        raise ValueError(f"S3 endpoint {endpoint!r} is not https; the destination must use TLS")
    return {
        "destinationType": "s3",
        "s3_bucket_name": bucket,
        "s3_bucket_path": source,
        "s3_bucket_region": region,
        "s3_endpoint": endpoint or "",
        "s3_path_format": BRONZE_PATH_FORMAT,
        "format": {"format_type": "Parquet", "compression_codec": codec.upper()},
        "access_key_id": access_key_id,
    }


def source_configuration(source: Source, endpoint: dict[str, Any], ca_pem: str) -> dict[str, Any]:
    """The connector configuration of a catalog source, with certificate-verifying TLS (no secrets)."""
    host, port, database, username = (endpoint.get(key) for key in ("host", "port", "database", "username"))
    if source.kind == "postgres":
        return {"sourceType": "postgres", "host": host, "port": port or 5432, "database": database,
                "username": username, "schemas": [endpoint.get("schema") or "public"],
                "ssl_mode": {"mode": "verify-full", "ca_certificate": ca_pem},
                "replication_method": {"method": "CDC", "replication_slot": f"airbyte_{source.name}",
                                       "publication": f"airbyte_{source.name}"}}
    if source.kind == "mysql":
        return {"sourceType": "mysql", "host": host, "port": port or 3306, "database": database,
                "username": username, "ssl_mode": {"mode": "verify_identity", "ca_certificate": ca_pem},
                "replication_method": {"method": "CDC"}}
    if source.kind == "mongodb":
        # The connector has no CA field: it verifies against the JVM trust store, and `tls=true` with none of
        # tlsInsecure / tlsAllowInvalidCertificates keeps verification on.
        return {"sourceType": "mongodb-v2",
                "database_config": {"cluster_type": "SELF_MANAGED_REPLICA_SET",
                                    "connection_string": f"mongodb://{host}:{port or 27017}/?tls=true",
                                    "databases": [database], "username": username, "auth_source": "admin"}}
    if source.kind == "csv_files":
        url = endpoint.get("url") or ""
        if url and not url.startswith("https://"):
            raise ValueError(f"source '{source.name}': S3 endpoint {url!r} is not https")
        return {"sourceType": "s3", "bucket": endpoint["bucket"], "region_name": endpoint.get("region"),
                "endpoint": url, "aws_access_key_id": username,
                "streams": [{"name": stream.name, "globs": [f"{stream.name}/*.csv"],
                             "format": {"filetype": "csv"}} for stream in source.streams]}
    url = endpoint["url"]
    if not url.startswith("https://"):
        raise ValueError(f"source '{source.name}': API URL {url!r} is not https")
    return {"api_url": url}


def source_secrets(source: Source, secret: Any) -> dict[str, Any]:
    """Where a source's one secret goes in its configuration."""
    if source.kind == "mongodb":
        return {"database_config": {"password": secret}}
    if source.kind == "csv_files":
        return {"aws_secret_access_key": secret}
    if source.kind == "rest_api":
        return {"api_key": secret}
    return {"password": secret}


# ---- transport -------------------------------------------------------------------------------------


class AirbyteClient:
    """Calls of the public API used here; raises AirbyteError with the status, NotFound on 404."""

    def __init__(self, connection: dict[str, Any]) -> None:
        url = connection["url"].rstrip("/")
        if not url.startswith("https://"):
            raise ValueError(f"Airbyte connection {url!r} is not https; TLS is required")
        context = ssl.create_default_context(cadata=connection["ca_pem"])
        self.base = url + API_PATH
        self.http = httpx.Client(verify=context, timeout=float(connection.get("timeout") or DEFAULT_TIMEOUT_SECONDS))
        self.credentials = (connection["client_id"], connection["client_secret"])
        self.token: str | None = None

    def _login(self) -> str:
        if self.token is None:
            client_id, client_secret = self.credentials
            answer = self.http.post(f"{self.base}/applications/token", data={
                "grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret})
            if answer.status_code != 200:
                raise AirbyteError(answer.status_code, f"token request refused: {answer.text[:200]}")
            self.token = answer.json()["access_token"]
        return self.token

    def call(self, method: str, path: str, body: dict | None = None, params: dict | None = None) -> Any:
        answer = self.http.request(method, f"{self.base}{path}", json=body, params=params,
                                   headers={"Authorization": f"Bearer {self._login()}"})
        if answer.status_code == 404:
            raise NotFound(path)
        if answer.status_code >= 400:
            raise AirbyteError(answer.status_code, answer.text[:500])
        return answer.json() if answer.content else None

    def list(self, kind: str, params: dict | None = None) -> list[dict[str, Any]]:
        items, offset = [], 0
        while True:
            page = self.call("GET", f"/{kind}", params={**(params or {}), "limit": PAGE, "offset": offset})
            items.extend(page["data"])
            if len(page["data"]) < PAGE:
                return items
            offset += PAGE

    def workspace_id(self, name: str) -> str | None:
        return next((w["workspaceId"] for w in self.list("workspaces") if w["name"] == name), None)

    def find(self, kind: str, workspace: str, name: str) -> dict[str, Any] | None:
        """A source, destination or connection by name in a workspace (None when absent)."""
        workspace_id = self.workspace_id(workspace)
        if workspace_id is None:
            return None
        return next((item for item in self.list(kind, {"workspaceIds": workspace_id}) if item["name"] == name),
                    None)


def _split(key: str) -> tuple[str, str]:
    workspace, _, name = key.partition("/")
    return workspace, name


def _unmasked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unmasked(v) for k, v in value.items() if v != MASK}
    if isinstance(value, list):
        return [_unmasked(item) for item in value]
    return value


def _empty_secrets(secrets: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys of secret values that are missing (a source whose secret the stack does not set)."""
    empty = []
    for key, value in secrets.items():
        if isinstance(value, dict):
            empty += _empty_secrets(value, f"{prefix}{key}.")
        elif value in (None, ""):
            empty.append(f"{prefix}{key}")
    return empty


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        merged[key] = _deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(
            merged.get(key), dict) else value
    return merged


class _AirbyteProvider(RestProvider):
    def connect(self, props: dict[str, Any]) -> AirbyteClient:
        return AirbyteClient(props["connection"])

    def is_transient(self, error: Exception) -> bool:
        if isinstance(error, httpx.ConnectError) and "CERTIFICATE" in str(error).upper():
            return False  # a certificate problem does not heal by waiting
        if isinstance(error, (httpx.TransportError,)):
            return True
        return isinstance(error, AirbyteError) and error.status in TRANSIENT_STATUSES


class WorkspaceProvider(_AirbyteProvider):
    kind = "airbyte workspace"

    def key(self, props: dict[str, Any]) -> str:
        return props["name"]

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"name": props["name"], "notifications": props["notifications"]}

    def fetch(self, client: AirbyteClient, key: str) -> dict[str, Any] | None:
        workspace_id = client.workspace_id(key)
        if workspace_id is None:
            return None
        live = client.call("GET", f"/workspaces/{workspace_id}")
        return {"name": live["name"], "notifications": live.get("notifications") or {}}

    def put(self, client: AirbyteClient, key: str, body: dict[str, Any]) -> None:
        workspace_id = client.workspace_id(key)
        if workspace_id is None:
            client.call("POST", "/workspaces", body)
        else:
            client.call("PATCH", f"/workspaces/{workspace_id}", body)

    def remove(self, client: AirbyteClient, key: str) -> None:
        workspace_id = client.workspace_id(key)
        if workspace_id is None:
            raise NotFound(key)
        client.call("DELETE", f"/workspaces/{workspace_id}")


class _ActorProvider(_AirbyteProvider):
    """Sources and destinations: `configuration` plus `secret_configuration` merged in on write."""

    collection: str
    id_field: str

    def key(self, props: dict[str, Any]) -> str:
        return f"{props['workspace']}/{props['name']}"

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        spec = {"name": props["name"], "configuration": props["configuration"]}
        if props.get("definition_id"):
            spec["definitionId"] = props["definition_id"]
        return spec

    def secrets(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"secret_configuration": props.get("secret_configuration") or {}}

    def fetch(self, client: AirbyteClient, key: str) -> dict[str, Any] | None:
        workspace, name = _split(key)
        found = client.find(self.collection, workspace, name)
        if found is None:
            return None
        live = client.call("GET", f"/{self.collection}/{found[self.id_field]}")
        spec = {"name": live["name"], "configuration": _unmasked(live["configuration"])}
        if live.get("definitionId") and live["configuration"].get(self.type_field) is None:
            spec["definitionId"] = live["definitionId"]
        return spec

    type_field = "sourceType"

    def put(self, client: AirbyteClient, key: str, body: dict[str, Any]) -> None:
        workspace, name = _split(key)
        missing = _empty_secrets(body.get("secret_configuration") or {})
        if missing:
            raise ValueError(f"{self.kind} '{name}' has no value for {', '.join(missing)}; set it in the stack's "
                             "config as a secret")
        configuration = _deep_merge(body["configuration"], body.get("secret_configuration") or {})
        found = client.find(self.collection, workspace, name)
        if found is None:
            workspace_id = client.workspace_id(workspace)
            if workspace_id is None:
                raise AirbyteError(404, f"workspace '{workspace}' does not exist")
            request = {"name": name, "workspaceId": workspace_id, "configuration": configuration}
            if body.get("definitionId"):
                request["definitionId"] = body["definitionId"]
            client.call("POST", f"/{self.collection}", request)
        else:
            client.call("PUT", f"/{self.collection}/{found[self.id_field]}",
                        {"name": name, "configuration": configuration})

    def remove(self, client: AirbyteClient, key: str) -> None:
        workspace, name = _split(key)
        found = client.find(self.collection, workspace, name)
        if found is None:
            raise NotFound(key)
        client.call("DELETE", f"/{self.collection}/{found[self.id_field]}")


class SourceProvider(_ActorProvider):
    kind = "airbyte source"
    collection, id_field, type_field = "sources", "sourceId", "sourceType"


class DestinationProvider(_ActorProvider):
    kind = "airbyte destination"
    collection, id_field, type_field = "destinations", "destinationId", "destinationType"


class ConnectionProvider(_AirbyteProvider):
    """A connection between a source and a destination named in the same workspace."""

    kind = "airbyte connection"

    def key(self, props: dict[str, Any]) -> str:
        return f"{props['workspace']}/{props['name']}"

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"name": props["name"], "source": props["source"], "destination": props["destination"],
                "schedule": {"scheduleType": "cron", "cronExpression": props["cron"]},
                "configurations": props["configurations"], "namespaceDefinition": "destination",
                "nonBreakingSchemaUpdatesBehavior": "propagate_columns", "status": props.get("status", "active")}

    def _names(self, client: AirbyteClient, workspace: str, kind: str, id_field: str) -> dict[str, str]:
        workspace_id = client.workspace_id(workspace)
        return {item[id_field]: item["name"] for item in client.list(kind, {"workspaceIds": workspace_id})}

    def fetch(self, client: AirbyteClient, key: str) -> dict[str, Any] | None:
        workspace, name = _split(key)
        found = client.find("connections", workspace, name)
        if found is None:
            return None
        live = client.call("GET", f"/connections/{found['connectionId']}")
        sources = self._names(client, workspace, "sources", "sourceId")
        destinations = self._names(client, workspace, "destinations", "destinationId")
        schedule = live["schedule"]
        return {"name": live["name"], "source": sources.get(live["sourceId"]),
                "destination": destinations.get(live["destinationId"]),
                "schedule": {"scheduleType": schedule["scheduleType"],
                             "cronExpression": schedule.get("cronExpression")},
                "configurations": {"streams": [{k: v for k, v in stream.items() if k in
                                                ("name", "syncMode", "cursorField", "primaryKey")}
                                               for stream in live["configurations"]["streams"]]},
                "namespaceDefinition": live.get("namespaceDefinition"),
                "nonBreakingSchemaUpdatesBehavior": live.get("nonBreakingSchemaUpdatesBehavior"),
                "status": live["status"]}

    def put(self, client: AirbyteClient, key: str, body: dict[str, Any]) -> None:
        workspace, name = _split(key)
        source = client.find("sources", workspace, body["source"])
        destination = client.find("destinations", workspace, body["destination"])
        if source is None or destination is None:
            missing = body["source"] if source is None else body["destination"]
            raise AirbyteError(404, f"connection '{name}': '{missing}' does not exist in workspace '{workspace}'")
        settings = {k: body[k] for k in ("name", "schedule", "configurations", "namespaceDefinition",
                                         "nonBreakingSchemaUpdatesBehavior", "status")}
        found = client.find("connections", workspace, name)
        if found is not None and (found["sourceId"], found["destinationId"]) != (
                source["sourceId"], destination["destinationId"]):
            client.call("DELETE", f"/connections/{found['connectionId']}")  # endpoints cannot be changed
            found = None
        if found is None:
            client.call("POST", "/connections", {**settings, "sourceId": source["sourceId"],
                                                 "destinationId": destination["destinationId"]})
        else:
            client.call("PATCH", f"/connections/{found['connectionId']}", settings)

    def remove(self, client: AirbyteClient, key: str) -> None:
        workspace, name = _split(key)
        found = client.find("connections", workspace, name)
        if found is None:
            raise NotFound(key)
        client.call("DELETE", f"/connections/{found['connectionId']}")


# ---- resources -------------------------------------------------------------------------------------


class Workspace(ProviderResource, module="airbyte", name="Workspace"):
    """A workspace with its notification settings (`notifications.failure` for failed syncs)."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], name: str,
                 notifications: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(WorkspaceProvider(), resource_name,
                         {"connection": connection, "name": name, "notifications": notifications}, opts)


class AirbyteSource(ProviderResource, module="airbyte", name="Source"):
    """A source; `secret_configuration` is merged into `configuration` on write and never stored."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], workspace: pulumi.Input[str],
                 name: str, configuration: dict[str, Any], secret_configuration: pulumi.Input[dict],
                 definition_id: str | None = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(SourceProvider(), resource_name,
                         {"connection": connection, "workspace": workspace, "name": name,
                          "configuration": configuration, "definition_id": definition_id,
                          "secret_configuration": pulumi.Output.secret(secret_configuration)}, opts)


class AirbyteDestination(ProviderResource, module="airbyte", name="Destination"):
    """A destination; `secret_configuration` is merged into `configuration` on write and never stored."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], workspace: pulumi.Input[str],
                 name: str, configuration: pulumi.Input[dict], secret_configuration: pulumi.Input[dict],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(DestinationProvider(), resource_name,
                         {"connection": connection, "workspace": workspace, "name": name,
                          "configuration": configuration,
                          "secret_configuration": pulumi.Output.secret(secret_configuration)}, opts)


class AirbyteConnection(ProviderResource, module="airbyte", name="Connection"):
    """A connection from a named source to a named destination with per-stream sync modes and a Quartz cron."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], workspace: pulumi.Input[str],
                 name: str, source: pulumi.Input[str], destination: pulumi.Input[str], cron: str,
                 configurations: dict[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ConnectionProvider(), resource_name,
                         {"connection": connection, "workspace": workspace, "name": name, "source": source,
                          "destination": destination, "cron": cron, "configurations": configurations}, opts)
