"""Search the platform's logs in the lake's `logs` layer, with DuckDB reading the shipper's gzip JSON lines in place.

    make logs-search STACK=dev SERVICE=dbt FROM=2026-12-01 TO=2026-12-03 [MATCH=text] [JSON=1] [ARGS="..."]
    python -m infra.ops.logs_search --stack dev --service dbt --from 2026-12-01 --to 2026-12-03 [--match TEXT]
        [--json] [--limit N] [--endpoint-url URL] [--ca-bundle FILE] [--reader-policy]

The log shipper writes `s3://<bucket>/shipper/service=<service>/dt=YYYY-MM-DD/HHMMSS-<random>.json.gz`
(components/logs/lake.py), `dt` being the UTC day of an object's first record. An object holds what arrived within
the output's upload timeout (minutes), so a record of the first minutes of a day may lie under the day before: the
search lists the objects of every day from the day before FROM to TO (DuckDB's `glob` over httpfs, one listing per
day, under the prefix only), reads them with `read_ndjson_objects` (gzip from the `.gz` name; `service` and `dt`
from the key by hive partitioning), and keeps the records whose `timestamp` lies in [FROM, TO]. FROM and TO are days
(TO inclusive: up to its end) or ISO 8601 times with a zone. MATCH keeps records whose JSON contains the text,
ignoring case.

Output: one line per record (`<timestamp> <service> <message, else the record>`), oldest first, then a summary line;
with `--json`, the records as JSON lines (each with its `service`) and the summary on stderr. At most `--limit`
records are printed (default 500); the summary counts them all.

Credentials: read-only on the prefix. The tool reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, for an
assumed role, `AWS_SESSION_TOKEN`; `--reader-policy` prints the policy to grant (list and read under the prefix,
nothing else: components/storage/access.py `prefix_reader_document`), the same document on AWS IAM and MinIO. In dev
MinIO is inside the cluster: `kubectl -n dp-storage port-forward svc/minio 9000` and `--endpoint-url
https://localhost:9000 --ca-bundle <the stack CA>`.

It runs in its own virtualenv (.venv-logs: DuckDB and its httpfs extension from PyPI, infra/ops/logs-requirements.txt):
with `--stack` it reads the stack file here and starts itself there with the bucket, region and endpoint resolved.

Exit status: 0 (records or none), 1 when the store refused or failed, 2 for bad input (dates, credentials, stack).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from infra.ops.inputs import InputError

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
PREFIX = "shipper"  # components/logs/lake.py PREFIX (that module imports Pulumi; this one runs without it)
DEFAULT_LIMIT = 500
LOGS_VENV = Path(__file__).resolve().parents[2] / ".venv-logs"
# The upload timeout of the shipper's s3 output is minutes; one day before FROM covers it with room.
LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class Query:
    bucket: str
    service: str | None
    start: datetime
    end: datetime
    match: str | None = None
    prefix: str = PREFIX

    def days(self) -> list[date]:
        first, last = (self.start - LOOKBACK).date(), self.end.date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def globs(self) -> list[str]:
        service = self.service or "*"
        return [f"s3://{self.bucket}/{self.prefix}/service={service}/dt={day.isoformat()}/*.json.gz"
                for day in self.days()]


def parse_bound(text: str, option: str, end: bool) -> datetime:
    """A day (YYYY-MM-DD: its start, or with `end` its last microsecond) or an ISO 8601 time with a zone."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None and len(text) == 10:
        moment = datetime.combine(day, time.max if end else time.min, tzinfo=UTC)
        return moment
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r}: give a day (2026-12-01) or an ISO 8601 time with a zone "
                         "(2026-12-01T09:30:00Z)") from None
    if moment.tzinfo is None:
        raise InputError(f"{option} {text!r} has no time zone: add Z for UTC or an offset such as +01:00")
    return moment.astimezone(UTC)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(endpoint_url: str | None, region: str, ca_bundle: str | None, environ: dict[str, str]):
    """A DuckDB connection with httpfs loaded from the extension's wheel and an S3 secret from the environment."""
    import duckdb
    import duckdb_extension_httpfs

    key_id, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        raise InputError("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for "
                         "an assumed role) to an identity that may read the prefix; --reader-policy prints its policy")
    extension = next(Path(duckdb_extension_httpfs.__file__).parent.glob(
        f"extensions/v{duckdb.__version__}/httpfs.duckdb_extension"), None)
    if extension is None:
        raise InputError(f"no httpfs extension for DuckDB {duckdb.__version__} in {LOGS_VENV}; rerun `make logs-setup`")
    connection = duckdb.connect()
    connection.execute(f"LOAD {_literal(str(extension))}")
    options = [f"KEY_ID {_literal(key_id)}", f"SECRET {_literal(secret)}", f"REGION {_literal(region)}"]
    if environ.get("AWS_SESSION_TOKEN"):
        options.append(f"SESSION_TOKEN {_literal(environ['AWS_SESSION_TOKEN'])}")
    if endpoint_url:
        scheme, _, host = endpoint_url.partition("://")
        if scheme not in ("http", "https") or not host:
            raise InputError(f"--endpoint-url {endpoint_url!r}: give http(s)://host:port")
        options += [f"ENDPOINT {_literal(host.rstrip('/'))}", "URL_STYLE 'path'",
                    f"USE_SSL {'true' if scheme == 'https' else 'false'}"]
    if ca_bundle:
        connection.execute(f"SET ca_cert_file = {_literal(ca_bundle)}")
    connection.execute(f"CREATE SECRET lake_logs (TYPE s3, {', '.join(options)})")
    return connection


def objects(connection, query: Query) -> list[str]:
    """The objects of the days in range (one listing per day, under the prefix)."""
    found: list[str] = []
    for pattern in query.globs():
        found += [row[0] for row in connection.execute("SELECT file FROM glob(?) ORDER BY file", [pattern]).fetchall()]
    return found


def search(connection, query: Query, limit: int) -> tuple[list[dict], int, int]:
    """(records oldest first, at most `limit`; how many matched; how many objects were read)."""
    files = objects(connection, query)
    if not files:
        return [], 0, 0
    where = ["CAST(json ->> 'timestamp' AS TIMESTAMPTZ) BETWEEN ? AND ?"]
    parameters: list[object] = [query.start, query.end]
    if query.match:
        where.append("contains(lower(CAST(json AS VARCHAR)), lower(?))")
        parameters.append(query.match)
    selection = (f"FROM read_ndjson_objects(?, hive_partitioning = true, hive_types = {{'dt': DATE}}) "
                 f"WHERE {' AND '.join(where)}")
    total = connection.execute(f"SELECT count(*) {selection}", [files, *parameters]).fetchone()[0]
    rows = connection.execute(
        f"SELECT service, CAST(json AS VARCHAR) {selection} ORDER BY json ->> 'timestamp', service LIMIT ?",
        [files, *parameters, limit]).fetchall()
    records = [{**json.loads(text), "service": service} for service, text in rows]
    return records, total, len(files)


def human(record: dict) -> str:
    rest = {key: value for key, value in record.items() if key not in ("timestamp", "service")}
    text = rest.get("message") if isinstance(rest.get("message"), str) else json.dumps(rest, sort_keys=True)
    return f"{record.get('timestamp', '-')} {record['service']} {text}"


def summary(query: Query, shown: int, total: int, files: int) -> str:
    scope = f"service {query.service}" if query.service else "every service"
    matching = f" matching {query.match!r}" if query.match else ""
    more = f" (first {shown} shown; raise --limit)" if shown < total else ""
    return (f"logs-search: {total} records of {scope}{matching} between {query.start.isoformat()} and "
            f"{query.end.isoformat()}, from {files} objects under s3://{query.bucket}/{query.prefix}/{more}")


def run(arguments: argparse.Namespace, environ: dict[str, str], out=sys.stdout, err=sys.stderr) -> int:
    try:
        query = Query(arguments.bucket, arguments.service, parse_bound(arguments.start, "--from", False),
                      parse_bound(arguments.end, "--to", True), arguments.match or None, arguments.prefix)
        if query.end < query.start:
            raise InputError("--to is before --from")
        if arguments.limit < 1:
            raise InputError("--limit must be at least 1")
        connection = connect(arguments.endpoint_url, arguments.region, arguments.ca_bundle, environ)
    except InputError as error:
        print(f"logs-search: {error}", file=err)
        return EXIT_INPUT
    if arguments.retention_days and query.start < datetime.now(UTC) - timedelta(days=arguments.retention_days):
        print(f"logs-search: warning: the logs layer keeps objects {arguments.retention_days} days; older records "
              "are gone", file=err)
    try:
        records, total, files = search(connection, query, arguments.limit)
    except Exception as error:  # DuckDB's IO and HTTP errors: the store refused or could not be reached
        print(f"logs-search: the object store failed: {error}", file=err)
        return EXIT_FAILED
    for record in records:
        print(json.dumps(record, sort_keys=True) if arguments.json else human(record), file=out)
    print(summary(query, len(records), total, files), file=err if arguments.json else out)
    return EXIT_OK


def resolve(stack: str) -> dict[str, str]:
    """The stack's logs bucket, region, MinIO endpoint and the logs layer's retention, from its stack file."""
    from components.logs import lake
    from infra.model.config import PROJECT, project_values
    from infra.model.errors import ConfigError
    from infra.model.inputs import validate_inputs
    from infra.model.stackfiles import load_stack

    try:
        settings = load_stack(stack)
        inputs = validate_inputs(project_values(settings.config, PROJECT), stack, secret_keys=settings.secret_keys)
    except ConfigError as error:
        raise InputError(f"stack {stack}: {error}") from None
    config = inputs.config
    target = lake.target(config.identity.name_prefix, config.identity.stack, config.object_store.region,
                         config.object_store.server)
    return {"bucket": target.bucket, "prefix": target.prefix, "region": target.region,
            "endpoint_url": target.endpoint or "",
            "retention_days": str(inputs.catalog.lake.layer(lake.BUCKET_ROLE).retention_days)}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="logs-search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", help="read the bucket, region and endpoint from Pulumi.<stack>.yaml")
    parser.add_argument("--bucket", help="the logs bucket (instead of --stack)")
    parser.add_argument("--prefix", default=PREFIX)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--service", help="one service (the first part of its log tag: dbt, airbyte, minio, ...)")
    parser.add_argument("--from", dest="start", help="a day (YYYY-MM-DD) or an ISO 8601 time with a zone")
    parser.add_argument("--to", dest="end", help="a day (inclusive) or an ISO 8601 time with a zone")
    parser.add_argument("--match", help="keep records whose JSON contains this text (ignoring case)")
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout, the summary on stderr")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT)
    parser.add_argument("--endpoint-url", help="an S3-compatible endpoint, e.g. MinIO through a port-forward")
    parser.add_argument("--ca-bundle", help="a CA file that verifies the endpoint")
    parser.add_argument("--retention-days", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--reader-policy", action="store_true",
                        help="print the read-only policy for the prefix and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    forwarded = list(argv if argv is not None else sys.argv[1:])
    if arguments.stack:
        try:
            resolved = resolve(arguments.stack)
        except InputError as error:
            print(f"logs-search: {error}", file=sys.stderr)
            return EXIT_INPUT
        if arguments.reader_policy:
            from components.storage.access import prefix_reader_document

            print(json.dumps(json.loads(prefix_reader_document(resolved["bucket"], resolved["prefix"])), indent=2))
            return EXIT_OK
        index = forwarded.index("--stack")
        del forwarded[index:index + 2]
        given = {argument.split("=", 1)[0] for argument in forwarded if argument.startswith("--")}
        for name, value in resolved.items():
            option = "--" + name.replace("_", "-")
            if value and option not in given:
                forwarded += [option, value]
        python = LOGS_VENV / "bin" / "python"
        if not python.exists():
            print(f"logs-search: {python} is missing; run `make logs-setup`", file=sys.stderr)
            return EXIT_INPUT
        os.execv(str(python), [str(python), "-m", "infra.ops.logs_search", *forwarded])
    if arguments.reader_policy:
        print("logs-search: --reader-policy needs --stack", file=sys.stderr)
        return EXIT_INPUT
    missing = [option for option, value in (("--bucket", arguments.bucket), ("--from", arguments.start),
                                            ("--to", arguments.end)) if not value]
    if missing:
        print(f"logs-search: {', '.join(missing)} required (or --stack for the bucket)", file=sys.stderr)
        return EXIT_INPUT
    return run(arguments, dict(os.environ))


if __name__ == "__main__":
    sys.exit(main())
