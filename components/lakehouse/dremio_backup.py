"""Asks Dremio's coordinator for a backup of its KV store, as `dremio-admin backup` does, and reports the result.

The `dremio-backup` CronJob runs this file (mounted from a ConfigMap, standard library only) in the lakehouse
namespace; tests/components/providers/test_dremio_backup.py runs it against the Dremio fake over TLS.

    DREMIO_URL=https://dremio-client.dp-lakehouse.svc.cluster.local:9047 DREMIO_USERNAME=platform-admin \\
    DREMIO_PASSWORD=... DREMIO_CA_FILE=/etc/dataplatform/ca/ca.crt \\
    BACKUP_DIR=dremioS3:///dataplatform-prod-backups/dremio python dremio_backup.py

The calls are those of dremio-admin's `backup` command (dac/daemon/.../cmd/Backup.java and cmd/WebClient.java at
Dremio OSS 25.2.0): `POST /apiv2/login` `{userName, password}` for a token, then `POST /apiv2/backup` with
`Authorization: _dremio<token>` and the six fields of BackupOptions (dac/backend/.../util/BackupRestoreUtil.java):
`backupDir`, `binary` (true: the CLI's default), `includeProfiles` (false: job profiles are not the catalog),
`compression` ("": none, the CLI's default), `table` and `key` ("": everything; the server reads both without a
null check). The coordinator itself writes the backup into `BACKUP_DIR` + `/dremio_backup_<yyyy-MM-dd_HH.mm>`
(UTC) through the Hadoop file system of the URI's scheme, here its distributed store's S3 file system, and answers
BackupStats `{backupPath, tables, files}` once every table is written. The resource is `@RolesAllowed("admin")`:
the login must be an administrator. The token is given back (`DELETE /apiv2/login`) at the end.

TLS is always verified against `DREMIO_CA_FILE` (the stack's CA), hostname included.

Exit status: 0 the backup is written (one line names it); 1 the backup failed (Dremio's message, or the network
error, on stderr); 2 the job is misconfigured (a variable missing or malformed; nothing was sent).
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

REQUIRED = ("DREMIO_URL", "DREMIO_USERNAME", "DREMIO_PASSWORD", "DREMIO_CA_FILE", "BACKUP_DIR")
DEFAULT_TIMEOUT_SECONDS = 1800.0
# Schemes the coordinator can write a backup to in this platform: its distributed store's S3 file system
# (core-site.xml `fs.dremioS3.impl`). A local path would land on the coordinator's own volume, lost with it.
BACKUP_SCHEMES = ("dremioS3",)


class ConfigurationError(Exception):
    """The job's environment is incomplete or malformed (exit 2)."""


class BackupError(Exception):
    """Dremio refused or failed the backup, or could not be reached (exit 1)."""


@dataclass(frozen=True)
class Settings:
    url: str
    username: str
    password: str
    ca_file: str
    backup_dir: str
    timeout: float

    @classmethod
    def from_environment(cls, environ: dict[str, str]) -> Settings:
        missing = [name for name in REQUIRED if not environ.get(name)]
        if missing:
            raise ConfigurationError(f"missing environment variable(s): {', '.join(missing)}")
        url = environ["DREMIO_URL"].rstrip("/")
        if urllib.parse.urlsplit(url).scheme != "https":
            raise ConfigurationError(f"DREMIO_URL must be an https:// URL (TLS is always verified), got {url!r}")
        backup_dir = environ["BACKUP_DIR"].rstrip("/")
        scheme = backup_dir.split(":", 1)[0] if ":" in backup_dir else ""  # urlsplit lower-cases it
        path = urllib.parse.urlsplit(backup_dir).path.strip("/")
        if scheme not in BACKUP_SCHEMES or "/" not in path:
            raise ConfigurationError(
                f"BACKUP_DIR must be {' or '.join(s + ':///<bucket>/<prefix>' for s in BACKUP_SCHEMES)} (the "
                f"coordinator's distributed store file system, a prefix inside a bucket), got {backup_dir!r}")
        if not os.path.isfile(environ["DREMIO_CA_FILE"]):
            raise ConfigurationError(f"DREMIO_CA_FILE {environ['DREMIO_CA_FILE']!r} is not a readable file")
        raw_timeout = environ.get("REQUEST_TIMEOUT_SECONDS", str(DEFAULT_TIMEOUT_SECONDS))
        try:
            timeout = float(raw_timeout)
        except ValueError:
            timeout = 0.0
        if timeout <= 0:
            raise ConfigurationError(f"REQUEST_TIMEOUT_SECONDS must be a positive number, got {raw_timeout!r}")
        return cls(url, environ["DREMIO_USERNAME"], environ["DREMIO_PASSWORD"], environ["DREMIO_CA_FILE"],
                   backup_dir, timeout)


def backup_options(backup_dir: str) -> dict[str, Any]:
    """The body of `POST /apiv2/backup`: BackupOptions as dremio-admin's defaults send it."""
    return {"backupDir": backup_dir, "binary": True, "includeProfiles": False, "compression": "", "table": "",
            "key": ""}


class Client:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._context = ssl.create_default_context(cafile=settings.ca_file)
        self._token: str | None = None

    def call(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self._settings.url}{path}", data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self._token is not None:
            request.add_header("Authorization", f"_dremio{self._token}")
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=timeout) as response:
                text = response.read().decode() or "null"
        except urllib.error.HTTPError as error:
            raise BackupError(f"{method} {path}: HTTP {error.code}: {_message(error.read())}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise BackupError(f"{method} {path}: {reason}") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise BackupError(f"{method} {path}: the answer is not JSON: {text[:200]!r}") from None

    def login(self) -> None:
        answer = self.call("POST", "/apiv2/login", {"userName": self._settings.username,
                                                    "password": self._settings.password})
        token = answer.get("token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise BackupError("POST /apiv2/login: the answer carries no token")
        self._token = token

    def logout(self) -> None:
        if self._token is None:
            return
        try:
            self.call("DELETE", "/apiv2/login")
        except BackupError as error:  # the token expires on its own; the backup's outcome stands
            print(f"dremio-backup: warning: logout failed: {error}", file=sys.stderr)
        self._token = None


def _message(raw: bytes) -> str:
    """Dremio's GenericErrorMessage `{errorMessage, moreInfo}`, else the text."""
    text = raw.decode(errors="replace")
    try:
        found = json.loads(text)
    except json.JSONDecodeError:
        return text[:500] or "(no body)"
    if isinstance(found, dict) and found.get("errorMessage"):
        more = found.get("moreInfo")
        return f"{found['errorMessage']}" + (f" ({more})" if more else "")
    return text[:500]


def run(settings: Settings) -> dict[str, Any]:
    """Logs in, asks for the backup, checks the answer; returns BackupStats."""
    client = Client(settings)
    client.login()
    try:
        stats = client.call("POST", "/apiv2/backup", backup_options(settings.backup_dir), timeout=settings.timeout)
    finally:
        client.logout()
    if not isinstance(stats, dict) or not isinstance(stats.get("backupPath"), str):
        raise BackupError(f"POST /apiv2/backup: the answer is not BackupStats: {stats!r}")
    expected = "/" + urllib.parse.urlsplit(settings.backup_dir).path.strip("/") + "/"
    if not stats["backupPath"].startswith(expected):
        raise BackupError(f"Dremio wrote the backup to {stats['backupPath']!r}, not under {expected!r}")
    if not isinstance(stats.get("tables"), int) or stats["tables"] < 1:
        raise BackupError(f"Dremio wrote no KV store table into {stats['backupPath']!r}: {stats!r}")
    return stats


def main(environ: dict[str, str] | None = None) -> int:
    try:
        settings = Settings.from_environment(dict(os.environ if environ is None else environ))
    except ConfigurationError as error:
        print(f"dremio-backup: configuration error: {error}", file=sys.stderr)
        return 2
    try:
        stats = run(settings)
    except BackupError as error:
        print(f"dremio-backup: backup failed: {error}", file=sys.stderr)
        return 1
    bucket_path = stats["backupPath"]
    scheme = settings.backup_dir.split(":", 1)[0]
    print(f"dremio-backup: wrote {scheme}://{bucket_path}: {stats['tables']} KV store tables, "
          f"{stats.get('files', 0)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
