"""Airbyte objects as Pulumi resources, over Airbyte 2.1's public API (`/api/public/v1`): the workspace, sources,
destinations and connections.

Objects are addressed by name (`<workspace>/<name>`); Airbyte's ids are looked up on every call, so a source
that is recreated under the same name is found again and a connection follows it. Payloads are built by the
pure functions below from the catalog; the tests judge each against Airbyte's OpenAPI document and the connector's
spec. Every source and destination is created with its connector's `definitionId` (components/ingestion/
connectors.py), never a type name: Airbyte strips the type name before storing, and a connector outside the
typed list has none.

Authentication is Airbyte's application flow (`POST /applications/token` with a JSON body: OSS refuses a form
with 401), then a bearer token, over https verified against the CA given as PEM.

Refresh compares what Airbyte answers with what was applied, so each kind splits its body the way Airbyte answers
it: everything Airbyte answers masked (`**********`: exactly what the connector's spec marks `airbyte_secret`;
decision 0036) travels in `secret_configuration`, merged into the body on write, never stored, and compared by hash;
the rest is compared as answered. Airbyte's additions are normalised
back: the workspace's notification types it fills in, the zone it appends to a cron (" UTC"), the cursor a CDC
source defines for its streams (which the request must not name).

A source's or destination's configuration is judged against the spec the server reports for its connector, in the
engine's `check` (a warning, not a failure, when the server cannot be asked) and again before every write.

    connection = {"url": "https://airbyte-api.dp-ingestion.svc.cluster.local:8443", "client_id": ...,
                  "client_secret": ..., "ca_pem": ...}
    Workspace("ingestion-workspace", connection, "platform", notifications={...})
"""

from __future__ import annotations

import copy
import ssl
from dataclasses import dataclass
from typing import Any

import httpx
import pulumi
import pulumi.dynamic as dynamic

from components.ingestion.connectors import S3_DESTINATION, check_configuration, leaves, merge, nest
from components.kit.rest import NotFound, ProviderResource, RestProvider, has_unknowns
from infra.model.catalog import Source, Stream

API_PATH = "/api/public/v1"
# Airbyte's configuration API on the same server: the one place that answers a connector's spec (the public API's
# definition answers carry name, image and tag only). Defined in airbyte-platform release/2.1.0,
# airbyte-api/server-api/src/main/openapi/config.yaml (`getSourceDefinitionSpecification`,
# `getDestinationDefinitionSpecification`); any authenticated caller may ask (airbyte-server's
# SourceDefinitionSpecificationApiController.kt: `AuthRoleConstants.AUTHENTICATED_USER`, which RoleResolver.kt gives
# every authenticated token), so the application token of the public API serves.
CONFIG_API_PATH = "/api/v1"
# A check at preview asks once, briefly: a preview must not wait on an Airbyte it cannot reach (a CI runner).
CHECK_TIMEOUT_SECONDS = 10.0
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


def source_defined_cursor(source: Source) -> bool:
    """Whether the source defines its streams' cursor: log-based CDC reads changes in log order (PostgreSQL's LSN,
    MySQL's binlog position, MongoDB's resume token), and Airbyte refuses a `cursorField` for such a stream
    ("Cursor Field ... is already defined by source")."""
    return source.replication == "cdc"


def stream_configurations(source: Source) -> dict[str, Any]:
    """The connection's `configurations`: every catalog stream with its sync mode, primary key and, where the
    source does not define it, its cursor."""
    streams = []
    for stream in source.streams:
        entry: dict[str, Any] = {"name": stream.name, "syncMode": sync_mode(stream),
                                 "primaryKey": [[column] for column in stream.primary_key]}
        if stream.cursor_field and not source_defined_cursor(source):
            entry["cursorField"] = [stream.cursor_field]
        streams.append(entry)
    return {"streams": streams}


def destination_path(destination_configuration: dict[str, Any], stream: str) -> str:
    """The object prefix a stream lands under, as the S3 destination renders it (before the date)."""
    rendered = destination_configuration["s3_path_format"].replace("${STREAM_NAME}", stream)
    return f"{destination_configuration['s3_bucket_path']}/{rendered.split('date=')[0]}"


def s3_destination(source: str, bucket: str, region: str, endpoint: str | None, codec: str) -> dict[str, Any]:
    """The bronze destination of one source (without its keys, `s3_destination_secrets`): Parquet with the bronze
    layer's codec (the catalog's, upper-case as the connector names it), date partitions under `<source>/<stream>/`.

    Airbyte prefixes every key with `s3_bucket_path`, so each source gets its own destination whose bucket
    path is the source's folder; `endpoint` is MinIO's https URL in dev and None on AWS.
    """
    if endpoint is not None and not endpoint.startswith("https://"):
        raise ValueError(f"S3 endpoint {endpoint!r} is not https; the destination must use TLS")
    return {
        "s3_bucket_name": bucket,
        "s3_bucket_path": source,
        "s3_bucket_region": region,
        "s3_endpoint": endpoint or "",
        "s3_path_format": BRONZE_PATH_FORMAT,
        "format": {"format_type": "Parquet", "compression_codec": codec.upper()},
    }


def s3_destination_secrets(access_key_id: Any, secret_access_key: Any) -> dict[str, Any]:
    """The destination's keys: both are answered masked by Airbyte (the connector marks them `airbyte_secret`)."""
    return {"access_key_id": access_key_id, "secret_access_key": secret_access_key}


def source_configuration(source: Source, endpoint: dict[str, Any]) -> dict[str, Any]:
    """The connector configuration of a catalog source without the fields Airbyte answers masked
    (`source_secrets`): certificate-verifying TLS, CDC where the catalog says so.

    For a connector named by definition id it is the stack config's `configuration` as given."""
    host, port, database = (endpoint.get(key) for key in ("host", "port", "database"))
    if source.kind == "postgres":
        return {"host": host, "port": port or 5432, "database": database, "username": endpoint.get("username"),
                "schemas": [endpoint.get("schema") or "public"], "ssl_mode": {"mode": "verify-full"},
                "replication_method": {"method": "CDC", "replication_slot": f"airbyte_{source.name}",
                                       "publication": f"airbyte_{source.name}"}}
    if source.kind == "mysql":
        return {"host": host, "port": port or 3306, "database": database, "username": endpoint.get("username"),
                "ssl_mode": {"mode": "verify_identity"},
                "replication_method": {"method": "CDC"}}
    if source.kind == "mongodb":
        # The connector has no CA field: it verifies against the JVM trust store, and `tls=true` with none of
        # tlsInsecure / tlsAllowInvalidCertificates keeps verification on.
        return {"database_config": {"cluster_type": "SELF_MANAGED_REPLICA_SET",
                                    "connection_string": f"mongodb://{host}:{port or 27017}/?tls=true",
                                    "databases": [database], "auth_source": "admin",
                                    "username": endpoint.get("username")}}
    if source.kind == "csv_files":
        url = endpoint.get("url") or ""
        if url and not url.startswith("https://"):
            raise ValueError(f"source '{source.name}': S3 endpoint {url!r} is not https")
        return {"bucket": endpoint["bucket"], "region_name": endpoint.get("region"), "endpoint": url,
                "streams": [{"name": stream.name, "globs": [f"{stream.name}/*.csv"],
                             "format": {"filetype": "csv"}} for stream in source.streams]}
    url = endpoint.get("url") or ""
    if not url.startswith("https://"):
        raise ValueError(f"source '{source.name}': API URL {url!r} is not https")
    return copy.deepcopy(endpoint.get("configuration") or {})


def source_secrets(source: Source, endpoint: dict[str, Any], secret: Any, ca_pem: str | None = None) -> dict[str, Any]:
    """The parts of a source's configuration Airbyte answers masked: exactly what the connector's spec marks
    `airbyte_secret` (passwords, keys, the CA certificate; a login name is answered in plain). They are merged into
    the configuration on write and compared by hash only.

    `secret` is the stack's one secret of a built-in kind; a connector named by definition id takes its secrets
    by dotted path (`endpoint["secrets"]`)."""
    if source.kind == "postgres" or source.kind == "mysql":
        return {"password": secret, "ssl_mode": {"ca_certificate": ca_pem}}
    if source.kind == "mongodb":
        return {"database_config": {"password": secret}}
    if source.kind == "csv_files":
        # The S3 source's key id is marked `airbyte_secret` by its connector, unlike a database login name.
        return {"aws_access_key_id": endpoint.get("username"), "aws_secret_access_key": secret}
    return nest(endpoint.get("secrets") or {})


# ---- transport -------------------------------------------------------------------------------------


class AirbyteClient:
    """Calls of the public API used here; raises AirbyteError with the status, NotFound on 404."""

    def __init__(self, connection: dict[str, Any], timeout: float | None = None) -> None:
        url = connection["url"].rstrip("/")
        if not url.startswith("https://"):
            raise ValueError(f"Airbyte connection {url!r} is not https; TLS is required")
        context = ssl.create_default_context(cadata=connection["ca_pem"])
        self.url = url
        self.base = url + API_PATH
        seconds = float(connection.get("timeout") or DEFAULT_TIMEOUT_SECONDS)
        self.http = httpx.Client(verify=context, timeout=min(seconds, timeout) if timeout else seconds)
        self.credentials = (connection["client_id"], connection["client_secret"])
        self.token: str | None = None

    def _login(self) -> str:
        if self.token is None:
            client_id, client_secret = self.credentials
            # JSON, not a form: Airbyte OSS answers a form-encoded token request 401 (docs/ingestion.md).
            answer = self.http.post(f"{self.base}/applications/token", json={
                "grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret})
            if answer.status_code != 200:
                raise AirbyteError(answer.status_code, f"token request refused: {answer.text[:200]}")
            self.token = answer.json()["access_token"]
        return self.token

    def call(self, method: str, path: str, body: dict | None = None, params: dict | None = None,
             api: str = API_PATH) -> Any:
        answer = self.http.request(method, f"{self.url}{api}{path}", json=body, params=params,
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

    def connector(self, collection: str, workspace: str, definition: str) -> Connector:
        """The connector `definition` as this Airbyte runs it for `workspace`: its image and the spec of its
        configuration. A workspace not created yet is stood in for by the first one the server lists (a connector's
        version is the instance's unless a workspace pins another). NotFound when the server has no such connector."""
        workspace_id = self.workspace_id(workspace)
        if workspace_id is None:
            listed = self.list("workspaces")
            if not listed:
                raise Unjudged("Airbyte has no workspace yet to ask for the connector's spec")
            workspace_id = listed[0]["workspaceId"]
        found = self.call("GET", f"/workspaces/{workspace_id}/definitions/{collection}/{definition}")
        singular = collection.removesuffix("s")
        answer = self.call("POST", f"/{singular}_definition_specifications/get",
                           {f"{singular}DefinitionId": definition, "workspaceId": workspace_id}, api=CONFIG_API_PATH)
        return Connector(definition, f"{found['dockerRepository']}:{found['dockerImageTag']}",
                         answer.get("connectionSpecification") or {})


@dataclass(frozen=True)
class Connector:
    """A connector definition as the server reports it: id, image (`airbyte/source-postgres:3.7.0`), spec."""

    definition: str
    image: str
    spec: dict[str, Any]


class Unjudged(Exception):  # noqa: N818 (a condition, not a failure)
    """A configuration could not be judged against its connector's spec now (the reason is the message)."""


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


class _AirbyteProvider(RestProvider):
    def connect(self, props: dict[str, Any]) -> AirbyteClient:
        return AirbyteClient(props["connection"])

    def is_transient(self, error: Exception) -> bool:
        if isinstance(error, httpx.ConnectError) and "CERTIFICATE" in str(error).upper():
            return False  # a certificate problem does not heal by waiting
        if isinstance(error, (httpx.TransportError,)):
            return True
        return isinstance(error, AirbyteError) and error.status in TRANSIENT_STATUSES


# Every notification type a workspace has (the public API's `NotificationsConfig`); Airbyte answers each of them,
# with the channels not set off, so the provider sends and compares all of them.
NOTIFICATION_TYPES = ("failure", "success", "connectionUpdate", "connectionUpdateActionRequired", "syncDisabled",
                      "syncDisabledWarning")
CRON_ZONE = "UTC"


def notification_settings(given: dict[str, Any]) -> dict[str, Any]:
    """Every notification type with both channels: what is given, the rest off (as Airbyte answers it)."""
    settings = {}
    for kind in NOTIFICATION_TYPES:
        channels = given.get(kind) or {}
        email = {"enabled": bool((channels.get("email") or {}).get("enabled"))}
        webhook = dict(channels.get("webhook") or {})
        webhook["enabled"] = bool(webhook.get("enabled"))
        if not webhook.get("url"):
            webhook.pop("url", None)
        settings[kind] = {"email": email, "webhook": webhook}
    return settings


def schedule(cron: str | None) -> dict[str, Any]:
    """A connection's `schedule`: Quartz cron, or `manual` where something else starts its syncs (the batch)."""
    return {"scheduleType": "cron", "cronExpression": cron} if cron else {"scheduleType": "manual"}


def without_zone(expression: str | None) -> str | None:
    """A cron as sent: Airbyte answers it with its time zone appended (`0 0 * * * ? UTC`); the platform's are UTC."""
    if expression and expression.endswith(f" {CRON_ZONE}"):
        return expression[: -len(CRON_ZONE) - 1]
    return expression


class WorkspaceProvider(_AirbyteProvider):
    kind = "airbyte workspace"

    def key(self, props: dict[str, Any]) -> str:
        return props["name"]

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"name": props["name"], "notifications": notification_settings(props["notifications"])}

    def fetch(self, client: AirbyteClient, key: str) -> dict[str, Any] | None:
        workspace_id = client.workspace_id(key)
        if workspace_id is None:
            return None
        live = client.call("GET", f"/workspaces/{workspace_id}")
        return {"name": live["name"], "notifications": notification_settings(live.get("notifications") or {})}

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


# Airbyte addresses that a check found unreachable in this process: the other resources' checks of the same preview
# warn at once instead of waiting on the same address again (the engine runs one provider process per operation).
_UNREACHABLE: dict[str, str] = {}


def _warn(message: str) -> None:
    """A warning the engine shows: the dynamic provider host has no engine connection, so `pulumi.log.warn`
    writes `warning: ...` to the host's stderr, which the CLI shows among the diagnostics."""
    pulumi.log.warn(message)


class _ActorProvider(_AirbyteProvider):
    """Sources and destinations: a connector by definition id, `configuration` plus `secret_configuration` (the
    fields Airbyte answers masked) merged in on write; the secrets are compared by hash, never by the answer.

    The configuration is judged against the spec the server reports for the connector (`AirbyteClient.connector`):
    in `check`, which the engine calls at preview and at `pulumi up`, a problem is a check failure naming the
    resource's subject and the field; an Airbyte that cannot be asked (not reachable from where the preview runs,
    inputs not known yet) is a warning, never a failure. `put` judges again before it writes, and refuses, so
    nothing the spec refuses is ever written (`pulumi up` judges even when the preview could not)."""

    collection: str
    id_field: str

    def subject(self, name: str) -> str:
        raise NotImplementedError

    def key(self, props: dict[str, Any]) -> str:
        return f"{props['workspace']}/{props['name']}"

    def problems(self, connector: Connector, props: dict[str, Any]) -> list[str]:
        """What is wrong with the configuration for the connector, each naming the subject and the field."""
        plain = props.get("configuration") or {}
        given = {path for path, value in leaves(props.get("secret_configuration") or {}) if value not in (None, "")}
        where = f"{self.subject(props['name'])} (connector {connector.image}, definition {connector.definition})"
        return [f"{where}: field `{field}`: {message}{self.secret_hint(props['name'], field, message)}"
                for field, message in check_configuration(connector.spec, plain, given)]

    def secret_hint(self, name: str, field: str, message: str) -> str:
        return ""

    def judge(self, client: AirbyteClient, props: dict[str, Any]) -> list[str]:
        try:
            connector = client.connector(self.collection, props["workspace"], props["definition_id"])
        except NotFound:
            return [f"{self.subject(props['name'])}: connector definition {props['definition_id']} is not one this "
                    f"Airbyte has ({self.collection} definitions of workspace '{props['workspace']}')"]
        return self.problems(connector, props)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        inputs = {key: value for key, value in news.items() if key != "__provider"}
        name = news.get("name", "?")
        unjudged = f"{self.kind} '{name}': configuration not checked against the connector's spec"
        if has_unknowns(inputs):
            _warn(f"{unjudged}: some inputs are known only when `pulumi up` runs, which checks it before writing")
            return dynamic.CheckResult(news, [])
        url = str(news["connection"].get("url", ""))
        if url in _UNREACHABLE:
            _warn(f"{unjudged}: {_UNREACHABLE[url]}")
            return dynamic.CheckResult(news, [])
        try:
            problems = self.judge(AirbyteClient(news["connection"], timeout=CHECK_TIMEOUT_SECONDS), news)
        except (httpx.TransportError, ssl.SSLError) as error:
            _UNREACHABLE[url] = (f"Airbyte at {url} cannot be reached from here ({type(error).__name__}: "
                                 f"{str(error)[:160]}); `pulumi up` checks it before writing")
            _warn(f"{unjudged}: {_UNREACHABLE[url]}")
            return dynamic.CheckResult(news, [])
        except (AirbyteError, Unjudged, NotFound) as error:
            _warn(f"{unjudged}: {error}; `pulumi up` checks it before writing")
            return dynamic.CheckResult(news, [])
        return dynamic.CheckResult(news, [dynamic.CheckFailure("", problem) for problem in problems])

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        if not props.get("definition_id"):
            raise ValueError(f"{self.kind} '{props['name']}' names no connector definition id")
        return {"name": props["name"], "definitionId": props["definition_id"],
                "configuration": props["configuration"]}

    def secrets(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"secret_configuration": props.get("secret_configuration") or {}}

    def fetch(self, client: AirbyteClient, key: str) -> dict[str, Any] | None:
        workspace, name = _split(key)
        found = client.find(self.collection, workspace, name)
        if found is None:
            return None
        live = client.call("GET", f"/{self.collection}/{found[self.id_field]}")
        return {"name": live["name"], "definitionId": live["definitionId"],
                "configuration": _unmasked(live["configuration"])}

    def put(self, client: AirbyteClient, key: str, body: dict[str, Any]) -> None:
        workspace, name = _split(key)
        missing = _empty_secrets(body.get("secret_configuration") or {})
        if missing:
            raise ValueError(f"{self.kind} '{name}' has no value for {', '.join(missing)}; set it in the stack's "
                             "config as a secret")
        found = client.find(self.collection, workspace, name)
        if found is not None and found["definitionId"] != body["definitionId"]:
            # A source's connector cannot be changed in place: Airbyte keeps the definition it was created with.
            raise AirbyteError(409, f"{self.kind} '{name}' uses connector {found['definitionId']}, not "
                                    f"{body['definitionId']}; delete it (or rename the catalog source) to change it")
        problems = self.judge(client, {**body, "name": name, "workspace": workspace,
                                       "definition_id": body["definitionId"]})
        if problems:
            raise ValueError("; ".join(problems))
        configuration = merge(body["configuration"], body.get("secret_configuration") or {})
        if found is None:
            workspace_id = client.workspace_id(workspace)
            if workspace_id is None:
                raise AirbyteError(404, f"workspace '{workspace}' does not exist")
            client.call("POST", f"/{self.collection}", {"name": name, "workspaceId": workspace_id,
                                                        "definitionId": body["definitionId"],
                                                        "configuration": configuration})
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
    collection, id_field = "sources", "sourceId"

    def subject(self, name: str) -> str:
        return f"catalog source `{name}`"

    def secret_hint(self, name: str, field: str, message: str) -> str:
        if "airbyte_secret" not in message:
            return ""
        return (f"; set it with `pulumi config set --secret --path "
                f"'dataplatform:ingestion.sources.{name}.secrets.{field}'` and remove it from `configuration`")


class DestinationProvider(_ActorProvider):
    kind = "airbyte destination"
    collection, id_field = "destinations", "destinationId"

    def subject(self, name: str) -> str:
        return f"destination `{name}`" + (f" of catalog source `{name.removeprefix('bronze-')}`"
                                         if name.startswith("bronze-") else "")


class ConnectionProvider(_AirbyteProvider):
    """A connection between a source and a destination named in the same workspace.

    Streams whose cursor the source defines (`source_defined_cursors`, kept in state) are sent no `cursorField`;
    Airbyte answers them with the source's cursor, which refresh leaves out like the request did."""

    kind = "airbyte connection"

    def key(self, props: dict[str, Any]) -> str:
        return f"{props['workspace']}/{props['name']}"

    def identifiers(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"source_defined_cursors": sorted(props.get("source_defined_cursors") or [])}

    def spec(self, props: dict[str, Any]) -> dict[str, Any]:
        return {"name": props["name"], "source": props["source"], "destination": props["destination"],
                "schedule": schedule(props.get("cron")),
                "configurations": props["configurations"], "namespaceDefinition": "destination",
                "nonBreakingSchemaUpdatesBehavior": "propagate_columns", "status": props.get("status", "active")}

    def _names(self, client: AirbyteClient, workspace: str, kind: str, id_field: str) -> dict[str, str]:
        workspace_id = client.workspace_id(workspace)
        return {item[id_field]: item["name"] for item in client.list(kind, {"workspaceIds": workspace_id})}

    def read(self, id_: str, props: dict[str, Any]) -> Any:
        self._source_defined = set(props.get("source_defined_cursors") or [])
        return super().read(id_, props)

    def fetch(self, client: AirbyteClient, key: str) -> dict[str, Any] | None:
        workspace, name = _split(key)
        found = client.find("connections", workspace, name)
        if found is None:
            return None
        live = client.call("GET", f"/connections/{found['connectionId']}")
        sources = self._names(client, workspace, "sources", "sourceId")
        destinations = self._names(client, workspace, "destinations", "destinationId")
        schedule = live["schedule"]
        source_defined = getattr(self, "_source_defined", set())
        streams = []
        for stream in live["configurations"].get("streams") or []:
            kept = ("name", "syncMode", "primaryKey") if stream["name"] in source_defined else (
                "name", "syncMode", "cursorField", "primaryKey")
            streams.append({k: v for k, v in stream.items() if k in kept})
        return {"name": live["name"], "source": sources.get(live["sourceId"]),
                "destination": destinations.get(live["destinationId"]),
                "schedule": ({"scheduleType": "cron", "cronExpression": without_zone(schedule.get("cronExpression"))}
                             if schedule["scheduleType"] == "cron" else {"scheduleType": schedule["scheduleType"]}),
                "configurations": {"streams": streams},
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
    """A source of the connector `definition_id`; `secret_configuration` is merged into `configuration` on write and
    never stored."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], workspace: pulumi.Input[str],
                 name: str, configuration: pulumi.Input[dict], secret_configuration: pulumi.Input[dict],
                 definition_id: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(SourceProvider(), resource_name,
                         {"connection": connection, "workspace": workspace, "name": name,
                          "configuration": configuration, "definition_id": definition_id,
                          "secret_configuration": pulumi.Output.secret(secret_configuration)}, opts)


class AirbyteDestination(ProviderResource, module="airbyte", name="Destination"):
    """A destination (by default the S3 connector); `secret_configuration` is merged into `configuration` on write
    and never stored."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], workspace: pulumi.Input[str],
                 name: str, configuration: pulumi.Input[dict], secret_configuration: pulumi.Input[dict],
                 definition_id: str = S3_DESTINATION, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(DestinationProvider(), resource_name,
                         {"connection": connection, "workspace": workspace, "name": name,
                          "configuration": configuration, "definition_id": definition_id,
                          "secret_configuration": pulumi.Output.secret(secret_configuration)}, opts)


class AirbyteConnection(ProviderResource, module="airbyte", name="Connection"):
    """A connection from a named source to a named destination with per-stream sync modes and a Quartz cron, or
    none (`cron=None`: a manual schedule, its syncs started by the batch)."""

    def __init__(self, resource_name: str, connection: pulumi.Input[dict], workspace: pulumi.Input[str],
                 name: str, source: pulumi.Input[str], destination: pulumi.Input[str], cron: str | None,
                 configurations: dict[str, Any], source_defined_cursors: list[str] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ConnectionProvider(), resource_name,
                         {"connection": connection, "workspace": workspace, "name": name, "source": source,
                          "destination": destination, "cron": cron, "configurations": configurations,
                          "source_defined_cursors": sorted(source_defined_cursors or [])}, opts)
