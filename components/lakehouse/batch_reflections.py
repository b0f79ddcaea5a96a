"""The batch's third step: after `dbt build`, sets each mart's reflection refresh policy where Dremio keeps it and
refreshes the mart's reflections, so dashboards read the data the build just wrote.

The `batch` CronJob runs this file as its `reflections` init container (mounted from a ConfigMap, standard library
only); tests/components/providers/test_batch_reflections.py runs it against the Dremio fake over TLS.

    DREMIO_URL=https://dremio-client.dp-lakehouse.svc.cluster.local:9047 DREMIO_CA_FILE=/etc/dataplatform/ca/ca.crt \\
    DREMIO_USERNAME=dbt DREMIO_PASSWORD=... REFLECTION_ANCHORS='{"customers": {"refreshPeriodMs": 3600000,
    "datasets": [["lake_write", "dataplatform-dev-silver", "stg_postgres__customers"], ...]}}' \\
    python batch_reflections.py

A mart is a view (dbt-dremio's view in the marts space); Dremio keeps a reflection's refresh policy on the physical
datasets under it, or their source, not on a view. So for each mart the step takes the physical datasets the mart
reads (REFLECTION_ANCHORS, generated from dbt's lineage), and for each, by Dremio OSS 25.2.0's REST v3
(dac/backend/.../api/CatalogResource.java, Dataset.java and service/catalog/CatalogServiceHelper.java at commit
c7fee0bcd44c928c0ff57481dd6a484c4caeae33):
1. `GET /api/v3/catalog/by-path/{path}`: the dataset, its `tag` and its `accelerationRefreshPolicy`;
2. where the policy differs from the mart's (`refreshPeriodMs`; `gracePeriodMs` three times that; method FULL;
   policy type PERIOD), `PUT /api/v3/catalog/{id}` with the fields Dataset's @JsonCreator binds (`entityType`,
   `id`, `type`, `path`, `tag`, `format`, `approximateStatisticsAllowed`, `accelerationRefreshPolicy`):
   updateDataset stores the policy as the dataset's reflection settings. A dataset several marts read takes the
   shortest of their periods;
3. `POST /api/v3/catalog/{id}/refresh` (refreshCatalogItem -> refreshReflectionsForDataset): Dremio queues a
   refresh of every reflection that depends on the dataset, the marts' among them; the call returns once queued.
Login is `POST /apiv2/login` as the dbt user (it owns what dbt built), the token returned at the end.

One JSON line per mart on stdout (`{"batch_step": "reflections", "mart", "datasets", "refreshed": true|false}`).
Exit status: 0 every refresh was queued; 1 a dataset is missing or Dremio refused (each named on stderr); 2 the
step is misconfigured.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

REQUIRED = ("DREMIO_URL", "DREMIO_CA_FILE", "DREMIO_USERNAME", "DREMIO_PASSWORD", "REFLECTION_ANCHORS")
GRACE_FACTOR = 3  # Dremio's own default: refresh every hour, expire after three
# The fields Dataset's @JsonCreator binds, besides the policy (api/Dataset.java); nothing else may be sent back.
DATASET_FIELDS = ("id", "type", "path", "tag", "format", "approximateStatisticsAllowed")


class ConfigurationError(Exception):
    """The step's environment is incomplete or malformed (exit 2)."""


class DremioError(Exception):
    """Dremio refused a call or could not be reached."""


@dataclass(frozen=True)
class Settings:
    url: str
    ca_file: str
    username: str
    password: str
    anchors: dict[str, dict[str, Any]]

    @classmethod
    def from_environment(cls, environ: dict[str, str]) -> Settings:
        missing = [name for name in REQUIRED if not environ.get(name)]
        if missing:
            raise ConfigurationError(f"missing environment variable(s): {', '.join(missing)}")
        url = environ["DREMIO_URL"].rstrip("/")
        if urllib.parse.urlsplit(url).scheme != "https":
            raise ConfigurationError(f"DREMIO_URL must be an https:// URL (TLS is always verified), got {url!r}")
        if not os.path.isfile(environ["DREMIO_CA_FILE"]):
            raise ConfigurationError(f"DREMIO_CA_FILE {environ['DREMIO_CA_FILE']!r} is not a readable file")
        try:
            anchors = json.loads(environ["REFLECTION_ANCHORS"])
        except json.JSONDecodeError as error:
            raise ConfigurationError(f"REFLECTION_ANCHORS is not JSON: {error}") from None
        if not isinstance(anchors, dict) or not all(
                isinstance(mart, dict) and isinstance(mart.get("refreshPeriodMs"), int) and mart["refreshPeriodMs"] > 0
                and isinstance(mart.get("datasets"), list) and mart["datasets"]
                and all(isinstance(path, list) and len(path) >= 2 for path in mart["datasets"])
                for mart in anchors.values()):
            raise ConfigurationError("REFLECTION_ANCHORS must map each mart to {refreshPeriodMs: <ms>, datasets: "
                                     "[[<source>, ..., <table>], ...]}")
        return cls(url, environ["DREMIO_CA_FILE"], environ["DREMIO_USERNAME"], environ["DREMIO_PASSWORD"], anchors)


class Client:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._context = ssl.create_default_context(cafile=settings.ca_file)
        self._token: str | None = None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self._settings.url}{path}", data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self._token is not None:
            request.add_header("Authorization", f"_dremio{self._token}")
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=120) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            raise DremioError(f"{method} {path}: HTTP {error.code}: {_message(error.read())}") from None
        except (urllib.error.URLError, OSError) as error:
            raise DremioError(f"{method} {path}: {getattr(error, 'reason', error)}") from None
        return json.loads(text) if text.strip() else None

    def login(self) -> None:
        answer = self.call("POST", "/apiv2/login", {"userName": self._settings.username,
                                                    "password": self._settings.password})
        token = answer.get("token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise DremioError("POST /apiv2/login: the answer carries no token")
        self._token = token

    def logout(self) -> None:
        if self._token is not None:
            try:
                self.call("DELETE", "/apiv2/login")
            except DremioError as error:
                print(f"batch-reflections: warning: logout failed: {error}", file=sys.stderr)
            self._token = None


def _message(raw: bytes) -> str:
    text = raw.decode(errors="replace")
    try:
        found = json.loads(text)
    except json.JSONDecodeError:
        return text[:300] or "(no body)"
    if isinstance(found, dict) and found.get("errorMessage"):
        return str(found["errorMessage"])
    return text[:300]


def refresh_policy(period_ms: int) -> dict[str, Any]:
    """RefreshSettings (api/Dataset.java) for a refresh every `period_ms`."""
    return {"activePolicyType": "PERIOD", "refreshPeriodMs": period_ms, "gracePeriodMs": GRACE_FACTOR * period_ms,
            "method": "FULL", "neverExpire": False, "neverRefresh": False}


def _differs(live: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    return any((live or {}).get(key) != value for key, value in wanted.items())


def periods(anchors: dict[str, dict[str, Any]]) -> dict[tuple[str, ...], int]:
    """Each dataset under a mart, with the shortest refresh period of the marts that read it."""
    found: dict[tuple[str, ...], int] = {}
    for mart in anchors.values():
        for path in mart["datasets"]:
            key = tuple(path)
            found[key] = min(found.get(key, mart["refreshPeriodMs"]), mart["refreshPeriodMs"])
    return found


def refresh(client: Client, path: tuple[str, ...], period_ms: int) -> None:
    quoted = "/".join(urllib.parse.quote(segment, safe="") for segment in path)
    live = client.call("GET", f"/api/v3/catalog/by-path/{quoted}")
    if not isinstance(live, dict) or live.get("entityType") != "dataset" or live.get("type") != "PHYSICAL_DATASET":
        raise DremioError(f"{'.'.join(path)} is not a physical dataset (answered {live.get('entityType')} "
                          f"{live.get('type') or ''}); a reflection's refresh policy belongs on one")
    wanted = refresh_policy(period_ms)
    if _differs(live.get("accelerationRefreshPolicy"), wanted):
        body = {"entityType": "dataset", **{key: live[key] for key in DATASET_FIELDS if key in live},
                "accelerationRefreshPolicy": wanted}
        client.call("PUT", f"/api/v3/catalog/{urllib.parse.quote(live['id'], safe='')}", body)
    client.call("POST", f"/api/v3/catalog/{urllib.parse.quote(live['id'], safe='')}/refresh")


def run(settings: Settings) -> list[str]:
    """Sets the policies and queues the refreshes; returns the problems, one per dataset that failed."""
    client = Client(settings)
    client.login()
    problems: dict[tuple[str, ...], str] = {}
    try:
        for path, period in periods(settings.anchors).items():
            try:
                refresh(client, path, period)
            except DremioError as error:
                problems[path] = str(error)
    finally:
        client.logout()
    for mart, anchor in sorted(settings.anchors.items()):
        failed = [".".join(path) for path in map(tuple, anchor["datasets"]) if path in problems]
        print(json.dumps({"batch_step": "reflections", "mart": mart, "refreshed": not failed,
                          "refreshPeriodMs": anchor["refreshPeriodMs"],
                          "datasets": [".".join(path) for path in anchor["datasets"]], "failed": failed},
                         sort_keys=True), flush=True)
    return [f"{'.'.join(path)}: {message}" for path, message in problems.items()]


def main(environ: dict[str, str] | None = None) -> int:
    try:
        settings = Settings.from_environment(dict(os.environ if environ is None else environ))
    except ConfigurationError as error:
        print(f"batch-reflections: configuration error: {error}", file=sys.stderr)
        return 2
    try:
        problems = run(settings)
    except DremioError as error:
        print(f"batch-reflections: {error}", file=sys.stderr)
        return 1
    if problems:
        print(f"batch-reflections: {len(problems)} refreshes failed: {'; '.join(problems)}", file=sys.stderr)
        return 1
    print(f"batch-reflections: refreshes queued for {', '.join(sorted(settings.anchors))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
