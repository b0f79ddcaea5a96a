"""The batch's first step: starts the Airbyte syncs the marts are built from, waits for every one, and fails naming
each connection whose sync did not succeed.

The `batch` CronJob runs this file as its `syncs` init container (mounted from a ConfigMap, standard library only);
tests/components/providers/test_batch_syncs.py runs it against the Airbyte fake, which holds every request and answer to
Airbyte 2.1's OpenAPI document.

    AIRBYTE_URL=https://airbyte-api.dp-ingestion.svc.cluster.local:8443 AIRBYTE_CA_FILE=/etc/dataplatform/ca/ca.crt \\
    AIRBYTE_CLIENT_ID=... AIRBYTE_CLIENT_SECRET=... AIRBYTE_WORKSPACE=platform \\
    BATCH_CONNECTIONS=postgres-to-bronze python batch_syncs.py

The calls are Airbyte's public API (`/api/public/v1`, airbyte/2.1.0/public-api.yaml of the shared vendor specs): an
application token (`POST /applications/token`, JSON body), the workspace and its connections by name
(`GET /workspaces`, `GET /connections?workspaceIds=`), one sync per connection (`POST /jobs` `{connectionId,
jobType: sync}`), then `GET /jobs/{jobId}` until the job is `succeeded`, `failed` or `cancelled` (`pending`,
`running` and `incomplete`, an attempt that failed and will be retried, are not over). A job still running at the
deadline is cancelled (`DELETE /jobs/{jobId}`) and counts as failed. Every sync is started before the first is
waited for, so they run side by side as Airbyte schedules them.

One JSON line per connection on stdout, which the log shipper turns into the per-connection series the
`BatchSyncFailed` alert reads: `{"batch_step": "syncs", "sync": "succeeded"|"failed", "connection": <name>,
"connection_id", "job_id", "status", "at": <epoch seconds>, ...}`. With BATCH_RESULTS_FILE set, the same records are
written there as one JSON document, for the dbt step to keep with the run.

Exit status: 0 every sync succeeded; 1 at least one did not (each named on stderr); 2 the step is misconfigured (a
variable missing or malformed; nothing was sent).
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

API_PATH = "/api/public/v1"
REQUIRED = ("AIRBYTE_URL", "AIRBYTE_CA_FILE", "AIRBYTE_CLIENT_ID", "AIRBYTE_CLIENT_SECRET", "AIRBYTE_WORKSPACE",
            "BATCH_CONNECTIONS")
TERMINAL = ("succeeded", "failed", "cancelled")
PAGE = 100
DEFAULT_POLL_SECONDS = 15.0
DEFAULT_TIMEOUT_SECONDS = 4 * 3600.0


class ConfigurationError(Exception):
    """The step's environment is incomplete or malformed (exit 2)."""


class AirbyteError(Exception):
    """Airbyte refused a call or could not be reached."""


@dataclass(frozen=True)
class Settings:
    url: str
    ca_file: str
    client_id: str
    client_secret: str
    workspace: str
    connections: tuple[str, ...]
    poll_seconds: float
    timeout_seconds: float
    results_file: str | None

    @classmethod
    def from_environment(cls, environ: dict[str, str]) -> Settings:
        missing = [name for name in REQUIRED if not environ.get(name)]
        if missing:
            raise ConfigurationError(f"missing environment variable(s): {', '.join(missing)}")
        url = environ["AIRBYTE_URL"].rstrip("/")
        if urllib.parse.urlsplit(url).scheme != "https":
            raise ConfigurationError(f"AIRBYTE_URL must be an https:// URL (TLS is always verified), got {url!r}")
        if not os.path.isfile(environ["AIRBYTE_CA_FILE"]):
            raise ConfigurationError(f"AIRBYTE_CA_FILE {environ['AIRBYTE_CA_FILE']!r} is not a readable file")
        connections = tuple(name.strip() for name in environ["BATCH_CONNECTIONS"].split(",") if name.strip())
        if not connections or len(set(connections)) != len(connections):
            raise ConfigurationError("BATCH_CONNECTIONS must name each connection once, comma-separated, got "
                                     f"{environ['BATCH_CONNECTIONS']!r}")
        return cls(url, environ["AIRBYTE_CA_FILE"], environ["AIRBYTE_CLIENT_ID"], environ["AIRBYTE_CLIENT_SECRET"],
                   environ["AIRBYTE_WORKSPACE"], connections,
                   _positive(environ, "POLL_SECONDS", DEFAULT_POLL_SECONDS),
                   _positive(environ, "TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS),
                   environ.get("BATCH_RESULTS_FILE") or None)


def _positive(environ: dict[str, str], name: str, default: float) -> float:
    raw = environ.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


class Client:
    """The public API over verified TLS with an application token, taken again when it expires (401)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._context = ssl.create_default_context(cafile=settings.ca_file)
        self._token: str | None = None

    def _request(self, method: str, path: str, body: Any = None, token: bool = True) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self._settings.url}{API_PATH}{path}", data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {self._login()}")
        with urllib.request.urlopen(request, context=self._context, timeout=60) as response:
            text = response.read().decode()
        return json.loads(text) if text else None

    def _login(self) -> str:
        if self._token is None:
            answer = self._request("POST", "/applications/token", {
                "grant_type": "client_credentials", "client_id": self._settings.client_id,
                "client_secret": self._settings.client_secret}, token=False)
            self._token = answer["access_token"]
        return self._token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        for attempt in (1, 2):
            try:
                return self._request(method, path, body)
            except urllib.error.HTTPError as error:
                if error.code == 401 and attempt == 1:
                    self._token = None  # the token expired: take a new one once
                    continue
                raise AirbyteError(f"{method} {path}: HTTP {error.code}: {_message(error.read())}") from None
            except (urllib.error.URLError, OSError) as error:
                raise AirbyteError(f"{method} {path}: {getattr(error, 'reason', error)}") from None
        raise AssertionError("unreachable")

    def all(self, path: str, query: dict[str, str] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            params = urllib.parse.urlencode({**(query or {}), "limit": PAGE, "offset": len(items)})
            page = self.call("GET", f"{path}?{params}")["data"]
            items.extend(page)
            if len(page) < PAGE:
                return items


def _message(raw: bytes) -> str:
    text = raw.decode(errors="replace")
    try:
        found = json.loads(text)
    except json.JSONDecodeError:
        return text[:300] or "(no body)"
    if isinstance(found, dict):
        return str(found.get("message") or found.get("detail") or found.get("title") or text[:300])
    return text[:300]


@dataclass
class Sync:
    connection: str
    connection_id: str | None = None
    job_id: int | None = None
    status: str = "not started"
    error: str | None = None
    job: dict[str, Any] | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def record(self, at: float) -> dict[str, Any]:
        """The connection's outcome as one log record, in the job-log index's field names where it has them."""
        outcome = "succeeded" if self.succeeded else "failed"
        found: dict[str, Any] = {"batch_step": "syncs", "sync": outcome, "connection": self.connection,
                                 "connection_id": self.connection_id, "job_id": self.job_id, "status": self.status,
                                 "at": round(at, 3), "level": "INFO" if self.succeeded else "ERROR"}
        for key, field in (("rowsSynced", "records_synced"), ("bytesSynced", "bytes_synced"), ("duration", "duration")):
            if self.job and self.job.get(key) is not None:
                found[field] = self.job[key]
        if self.error:
            found["error"] = self.error
        found["message"] = (f"sync of connection {self.connection} {outcome}"
                            + (f" (job {self.job_id}, {self.status})" if self.job_id is not None else "")
                            + (f": {self.error}" if self.error else ""))
        return found


def start(client: Client, settings: Settings) -> list[Sync]:
    """Finds the connections by name and starts a sync of each that exists."""
    workspaces = [w for w in client.all("/workspaces") if w["name"] == settings.workspace]
    if not workspaces:
        raise AirbyteError(f"Airbyte has no workspace named {settings.workspace!r}")
    listed = client.all("/connections", {"workspaceIds": workspaces[0]["workspaceId"]})
    by_name = {connection["name"]: connection for connection in listed}
    syncs = []
    for name in settings.connections:
        sync = Sync(name)
        syncs.append(sync)
        found = by_name.get(name)
        if found is None:
            sync.error = f"no connection named {name!r} in workspace {settings.workspace!r}"
            continue
        sync.connection_id = found["connectionId"]
        try:
            job = client.call("POST", "/jobs", {"connectionId": sync.connection_id, "jobType": "sync"})
        except AirbyteError as error:
            job = running_sync(client, sync.connection_id)
            if job is None:
                sync.error = f"the sync was not started: {error}"
                continue
        sync.job_id, sync.status, sync.job = job["jobId"], job["status"], job
    return syncs


def running_sync(client: Client, connection_id: str) -> dict[str, Any] | None:
    """The sync of this connection already under way, if any: Airbyte refuses a second one while a sync runs
    (TemporalClient.startNewManualSync, "A sync is already running for: <id>"), and its data is what the batch
    waits for."""
    try:
        found = client.call("GET", "/jobs?" + urllib.parse.urlencode(
            {"connectionId": connection_id, "jobType": "sync", "status": "running", "limit": 1}))
    except AirbyteError:
        return None
    return found["data"][0] if found["data"] else None


def wait(client: Client, settings: Settings, syncs: list[Sync], clock=time.monotonic, sleep=time.sleep) -> None:
    """Polls every started job until it is over; cancels those still running at the deadline."""
    deadline = clock() + settings.timeout_seconds
    while True:
        running = [sync for sync in syncs if sync.job_id is not None and sync.status not in TERMINAL]
        for sync in running:
            try:
                job = client.call("GET", f"/jobs/{sync.job_id}")
            except AirbyteError as error:
                sync.error = str(error)  # kept until a later poll answers
                continue
            sync.status, sync.job, sync.error = job["status"], job, None
        running = [sync for sync in syncs if sync.job_id is not None and sync.status not in TERMINAL]
        if not running:
            return
        if clock() >= deadline:
            for sync in running:
                try:
                    client.call("DELETE", f"/jobs/{sync.job_id}")
                except AirbyteError as error:
                    print(f"batch-syncs: warning: could not cancel job {sync.job_id}: {error}", file=sys.stderr)
                sync.status = "timed out"
                sync.error = f"still {sync.job['status'] if sync.job else 'running'} after " \
                             f"{settings.timeout_seconds:g} s; cancelled"
            return
        sleep(settings.poll_seconds)


def run(settings: Settings, clock=time.monotonic, sleep=time.sleep, now=time.time) -> list[dict[str, Any]]:
    client = Client(settings)
    try:
        syncs = start(client, settings)
    except AirbyteError as error:  # no connection could be looked up: each is named as failed
        syncs = [Sync(name, error=f"the sync was not started: {error}") for name in settings.connections]
    wait(client, settings, syncs, clock, sleep)
    records = [sync.record(now()) for sync in syncs]
    for record in records:
        print(json.dumps(record, sort_keys=True), flush=True)
    if settings.results_file:
        with open(settings.results_file, "w") as handle:
            json.dump({"syncs": records}, handle, sort_keys=True)
    return records


def main(environ: dict[str, str] | None = None) -> int:
    try:
        settings = Settings.from_environment(dict(os.environ if environ is None else environ))
    except ConfigurationError as error:
        print(f"batch-syncs: configuration error: {error}", file=sys.stderr)
        return 2
    records = run(settings)
    failed = [record for record in records if record["sync"] == "failed"]
    if failed:
        named = ", ".join(f"{record['connection']} ({record['status']}"
                          + (f", job {record['job_id']}" if record["job_id"] is not None else "")
                          + (f": {record['error']}" if record.get("error") else "") + ")" for record in failed)
        print(f"batch-syncs: {len(failed)} of {len(records)} syncs failed: {named}", file=sys.stderr)
        return 1
    print(f"batch-syncs: {len(records)} syncs succeeded: {', '.join(r['connection'] for r in records)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
