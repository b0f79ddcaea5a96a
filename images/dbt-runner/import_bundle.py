"""Import the platform's Superset asset bundle: the dbt runner's last step, once `dbt build` has succeeded.

Superset refuses a dataset whose table does not exist, so this runs after the marts are built (the runner's pod
runs dbt as an init container and this as its container). Standard library only; the calls are Superset's REST
API: log in (`POST /api/v1/security/login`, provider `db`), fetch the CSRF token with the session
(`GET /api/v1/security/csrf_token/`), then `POST /api/v1/assets/import/` with the zip as `bundle`,
`overwrite=true` and the database's password in `passwords`.

Environment:
    SUPERSET_URL                https://superset.dp-presentation.svc.cluster.local:8088 (https only)
    SUPERSET_CA_FILE            the CA Superset's certificate must chain to (hostname checked too)
    SUPERSET_USERNAME           the importer's login, and SUPERSET_PASSWORD its password
    BUNDLE_FILE                 the zipped bundle
    BUNDLE_DATABASE_FILE        the database file inside the bundle (default databases/dremio.yaml)
    BUNDLE_DATABASE_PASSWORD    that database's password (optional: without it Superset keeps the stored one)

Exit codes: 0 imported (one summary line on stdout), or skipped because the presentation layer is not deployed
(neither the bundle nor the importer's login is there; the pod mounts both as optional), 1 Superset refused or
could not be reached (the message says which call and what came back), 2 the environment is incomplete. A redirect
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
