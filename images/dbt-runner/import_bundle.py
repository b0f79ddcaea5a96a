"""Import the platform's Superset asset bundle, then warm its charts' cache: the batch's last step, once `dbt build`
has succeeded and the reflections are refreshing.

Superset refuses a dataset whose table does not exist, so this runs after the marts are built (the batch's pod
runs the earlier steps as init containers and this as its container; components/lakehouse/batch.py). Standard
library only; the calls are Superset's REST API: log in (`POST /api/v1/security/login`, provider `db`), fetch the
CSRF token with the session (`GET /api/v1/security/csrf_token/`), then `POST /api/v1/assets/import/` with the zip as
`bundle`, `overwrite=true` and the database's password in `passwords`. Then, for each table of WARM_UP_TABLES,
`PUT /api/v1/dataset/warm_up_cache` with `{db_name, table_name}` (DatasetCacheWarmUpRequestSchema in Superset's
superset/datasets/schemas.py): Superset runs every chart built on the table and answers each chart's
`{chart_id, viz_error, viz_status}`; a chart whose query failed fails the step, by id and error.

Environment:
    SUPERSET_URL                https://superset.dp-presentation.svc.cluster.local:8088 (https only)
    SUPERSET_CA_FILE            the CA Superset's certificate must chain to (hostname checked too)
    SUPERSET_USERNAME           the importer's login, and SUPERSET_PASSWORD its password
    BUNDLE_FILE                 the zipped bundle
    BUNDLE_DATABASE_FILE        the database file inside the bundle (default databases/dremio.yaml)
    BUNDLE_DATABASE_PASSWORD    that database's password (optional: without it Superset keeps the stored one)
    WARM_UP_DATABASE            the database's name in Superset, and WARM_UP_TABLES the tables (comma-separated)
                                whose charts are warmed after the import (optional: none, no warm-up)

Exit codes: 0 imported and warmed (one summary line each on stdout), or skipped because the presentation layer is
not deployed (neither the bundle nor the importer's login is there; the pod mounts both as optional), 1 Superset
refused or could not be reached, or a chart's warm-up failed (the message says which call or chart and what came
back), 2 the environment is incomplete. A redirect
is a failure: the importer's token and CSRF header go to the configured https address and nowhere else.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections import Counter
from pathlib import Path

TIMEOUT = 60
ATTEMPTS = 3
RETRY_STATUSES = {502, 503, 504}
REQUIRED = ("SUPERSET_URL", "SUPERSET_CA_FILE", "SUPERSET_USERNAME", "SUPERSET_PASSWORD", "BUNDLE_FILE")


class ImportFailed(Exception):  # noqa: N818 (the message is what the operator reads)
    pass


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise ImportFailed(f"{req.get_method()} {req.full_url} was redirected (HTTP {code}) to {newurl}; "
                           "set SUPERSET_URL to the address that answers")


class Superset:
    """A session against Superset's API that verifies the server against one CA and keeps the session cookie."""

    def __init__(self, url: str, ca_file: str) -> None:
        if not url.startswith("https://"):
            raise ImportFailed(f"SUPERSET_URL {url!r} is not https; the import only talks TLS")
        self.base = url.rstrip("/")
        context = ssl.create_default_context(cafile=ca_file)
        self.opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                                  urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  _RefuseRedirects())
        self.headers: dict[str, str] = {}

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> dict:
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        for attempt in range(1, ATTEMPTS + 1):
            request = urllib.request.Request(f"{self.base}{path}", data=body, method=method, headers=headers)
            try:
                with self.opener.open(request, timeout=TIMEOUT) as answer:
                    text = answer.read().decode("utf-8", "replace")
                    return json.loads(text) if text.strip() else {}
            except urllib.error.HTTPError as error:
                detail = error.read().decode("utf-8", "replace")[:1000]
                if error.code in RETRY_STATUSES and attempt < ATTEMPTS:
                    time.sleep(5 * attempt)
                    continue
                raise ImportFailed(f"{method} {path} answered HTTP {error.code}: {detail}") from error
            except urllib.error.URLError as error:
                reason = error.reason
                if isinstance(reason, ssl.SSLError):
                    raise ImportFailed(f"{method} {path}: TLS verification against SUPERSET_CA_FILE failed: "
                                       f"{reason}") from error
                if attempt < ATTEMPTS:
                    time.sleep(5 * attempt)
                    continue
                raise ImportFailed(f"{method} {path}: cannot reach {self.base}: {reason}") from error
            except json.JSONDecodeError as error:
                raise ImportFailed(f"{method} {path} answered something that is not JSON: {error}") from error
        raise AssertionError("unreachable")

    def login(self, username: str, password: str) -> None:
        body = json.dumps({"username": username, "password": password, "provider": "db", "refresh": False})
        token = self.call("POST", "/api/v1/security/login", body.encode(), "application/json").get("access_token")
        if not token:
            raise ImportFailed("POST /api/v1/security/login answered without an access_token")
        self.headers = {"Authorization": f"Bearer {token}"}
        csrf = self.call("GET", "/api/v1/security/csrf_token/").get("result")
        if not csrf:
            raise ImportFailed("GET /api/v1/security/csrf_token/ answered without a token")
        # Flask-WTF checks the Referer of https requests against the server's host.
        self.headers.update({"X-CSRFToken": csrf, "Referer": f"{self.base}/"})

    def import_bundle(self, name: str, bundle: bytes, passwords: dict[str, str]) -> dict:
        boundary = uuid.uuid4().hex
        parts = [_field(boundary, "passwords", json.dumps(passwords)), _field(boundary, "overwrite", "true"),
                 (f'--{boundary}\r\nContent-Disposition: form-data; name="bundle"; filename="{name}"\r\n'
                  "Content-Type: application/zip\r\n\r\n").encode() + bundle + b"\r\n",
                 f"--{boundary}--\r\n".encode()]
        return self.call("POST", "/api/v1/assets/import/", b"".join(parts),
                         f"multipart/form-data; boundary={boundary}")


    def warm_up(self, database: str, table: str) -> list[dict]:
        """Runs every chart built on `table` once; returns each chart's status."""
        body = json.dumps({"db_name": database, "table_name": table}).encode()
        answer = self.call("PUT", "/api/v1/dataset/warm_up_cache", body, "application/json")
        result = answer.get("result")
        if not isinstance(result, list):
            raise ImportFailed(f"PUT /api/v1/dataset/warm_up_cache ({table}) answered without a result list: "
                               f"{str(answer)[:300]}")
        return result


def warm_up(superset: Superset, database: str, tables: list[str]) -> tuple[int, list[str]]:
    """The number of charts warmed, and one problem per chart whose query failed."""
    warmed, problems = 0, []
    for table in tables:
        for chart in superset.warm_up(database, table):
            if chart.get("viz_error"):
                problems.append(f"chart {chart.get('chart_id')} on {table}: {chart['viz_error']}")
            else:
                warmed += 1
    return warmed, problems


def _field(boundary: str, name: str, value: str) -> bytes:
    return f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()


def contents(bundle: Path) -> Counter:
    """What the bundle holds, by kind (the folder under the bundle's top-level folder)."""
    try:
        with zipfile.ZipFile(bundle) as archive:
            names = [name.split("/") for name in archive.namelist() if name.endswith(".yaml")]
    except (OSError, zipfile.BadZipFile) as error:
        raise ImportFailed(f"BUNDLE_FILE {bundle}: not a readable zip ({error})") from error
    return Counter(parts[1] for parts in names if len(parts) == 3)


def main(environ: dict[str, str] | None = None) -> int:
    environ = dict(os.environ if environ is None else environ)
    if not environ.get("SUPERSET_USERNAME") and not Path(environ.get("BUNDLE_FILE") or "").is_file():
        print("superset import: skipped, the presentation layer has not written the asset bundle and the "
              "importer's login into this namespace yet", flush=True)
        return 0
    missing = [name for name in REQUIRED if not environ.get(name)]
    if missing:
        print(f"superset import: missing environment {', '.join(missing)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    bundle = Path(environ["BUNDLE_FILE"])
    passwords = {}
    if environ.get("BUNDLE_DATABASE_PASSWORD"):
        passwords[environ.get("BUNDLE_DATABASE_FILE") or "databases/dremio.yaml"] = environ["BUNDLE_DATABASE_PASSWORD"]
    try:
        kinds = contents(bundle)
        superset = Superset(environ["SUPERSET_URL"], environ["SUPERSET_CA_FILE"])
        superset.login(environ["SUPERSET_USERNAME"], environ["SUPERSET_PASSWORD"])
        answer = superset.import_bundle(bundle.name, bundle.read_bytes(), passwords)
    except (ImportFailed, OSError, ssl.SSLError) as error:
        print(f"superset import failed: {error}", file=sys.stderr)
        return 1
    held = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    print(f"superset import: {bundle.name} ({held}) into {superset.base} as {environ['SUPERSET_USERNAME']}: "
          f"{answer.get('message', 'OK')} in {time.monotonic() - started:.1f} s", flush=True)
    tables = [table.strip() for table in (environ.get("WARM_UP_TABLES") or "").split(",") if table.strip()]
    if not tables:
        return 0
    started = time.monotonic()
    try:
        warmed, problems = warm_up(superset, environ.get("WARM_UP_DATABASE") or "dremio", tables)
    except (ImportFailed, OSError, ssl.SSLError) as error:
        print(f"superset warm-up failed: {error}", file=sys.stderr)
        return 1
    if problems:
        print(f"superset warm-up failed for {len(problems)} charts: {'; '.join(problems)}", file=sys.stderr)
        return 1
    print(f"superset warm-up: {warmed} charts of {', '.join(tables)} warmed in {time.monotonic() - started:.1f} s",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
