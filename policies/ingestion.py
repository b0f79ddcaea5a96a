"""Airbyte: TLS with certificate verification on every source, destination, API and database connection, no
plaintext credential in a payload, a cursor for every incremental stream, and auth on the release.

The Airbyte resources are the dynamic ones of components/ingestion/provider.py: a `Source` or `Destination` carries
its connector configuration as `configuration` (secrets travel apart, in `secret_configuration`), a `Connection`
carries `configurations.streams` (`[{name, syncMode, cursorField, primaryKey}]`), and every one of them carries the
API `connection` (`url`, `ca_pem`). The release is the `airbyte` chart's `helm.v3.Release`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from .common import UNKNOWN, items, known, resource_policy

AIRBYTE_PREFIX = "pulumi-python:dynamic/airbyte:"
SOURCE = f"{AIRBYTE_PREFIX}Source"
DESTINATION = f"{AIRBYTE_PREFIX}Destination"
CONNECTION = f"{AIRBYTE_PREFIX}Connection"
RELEASE = "kubernetes:helm.sh/v3:Release"
# Modes of each database connector that verify the server's certificate (and, where offered, its name).
VERIFYING_MODES = {"postgres": {"verify-ca", "verify-full"}, "mysql": {"verify_ca", "verify_identity"}}
INSECURE_MONGO_OPTIONS = ("tlsinsecure=true", "tlsallowinvalidcertificates=true", "tlsallowinvalidhostnames=true",
                          "ssl=false", "tls=false")
# Airbyte's definition ids of the connectors above (the public API creates sources and destinations by id, and
# Airbyte strips a configuration's `sourceType`/`destinationType`); any other connector is judged by its URLs.
CONNECTOR_TYPES = {"decd338e-5647-4c0b-adf4-da0e75f5a750": "postgres", "435bb9a5-7887-4809-aa58-28c27df0d7ad": "mysql",
                   "b2e713cd-cc36-4c0a-b5bd-b47cb8a0561e": "mongodb-v2", "69589781-7828-43c5-9f63-8925b1c1ccc2": "s3",
                   "4816b78f-1489-44c1-9060-4b19d5fa9362": "s3"}
SECRET_FIELD = re.compile(r"(password|secret|api_key|apikey|token|private_key|credentials_json)", re.IGNORECASE)


def _label(args: Any) -> str:
    kind = args.resource_type.removeprefix(AIRBYTE_PREFIX).lower()
    name = known(args.props, "name")
    return f"Airbyte {kind} '{name if isinstance(name, str) else args.name}'"


# ---- TLS on every source and destination -----------------------------------------------------------------

CONNECTOR_TLS = "airbyte-connector-require-tls-verification"


def _url_problem(field: str, url: Any) -> list[str]:
    if url is UNKNOWN or url in (None, ""):
        return []
    return [] if isinstance(url, str) and url.startswith("https://") else [f"`{field}` {url!r} is not https"]


def _connector_tls_problems(kind: Any, configuration: Any) -> list[str]:
    if kind in VERIFYING_MODES:
        mode = known(configuration, "ssl_mode", "mode")
        if mode is UNKNOWN or mode in VERIFYING_MODES[kind]:
            return []
        return [f"`ssl_mode.mode` is {mode!r}, not one of {', '.join(sorted(VERIFYING_MODES[kind]))}"]
    if kind == "mongodb-v2":
        uri = known(configuration, "database_config", "connection_string")
        if uri is UNKNOWN:
            return []
        text = uri.lower() if isinstance(uri, str) else ""
        if "tls=true" not in text and "ssl=true" not in text:
            return ["`connection_string` does not set tls=true"]
        return [f"`connection_string` sets {option}" for option in INSECURE_MONGO_OPTIONS if option in text]
    if kind == "s3":
        return [*_url_problem("endpoint", known(configuration, "endpoint")),
                *_url_problem("s3_endpoint", known(configuration, "s3_endpoint"))]
    if kind is None:
        # A declarative (REST) connector: every URL it is given must be https.
        return [problem for field in ("api_url", "url", "base_url")
                for problem in _url_problem(field, known(configuration, field))]
    if kind is UNKNOWN:
        return []
    return [f"type {kind!r} has no recorded TLS settings"]


def _validate_connector_tls(args, report_violation) -> None:
    if args.resource_type not in (SOURCE, DESTINATION):
        return
    configuration = known(args.props, "configuration")
    if configuration is UNKNOWN:
        return
    type_field = "sourceType" if args.resource_type == SOURCE else "destinationType"
    definition = known(args.props, "definition_id")
    kind = UNKNOWN if definition is UNKNOWN else CONNECTOR_TYPES.get(str(definition)) if definition else None
    problems = _connector_tls_problems(known(configuration, type_field) if kind is None else kind, configuration)
    if problems:
        report_violation(f"{_label(args)} does not verify TLS ({'; '.join(problems)}); connect over TLS with "
                         "certificate verification.")


require_connector_tls = resource_policy(
    CONNECTOR_TLS,
    "DP-AB-001",
    "Airbyte sources and destinations connect over TLS with certificate verification",
    "Every Airbyte source and destination: PostgreSQL `ssl_mode` verify-ca/verify-full, MySQL verify_ca/"
    "verify_identity, MongoDB `tls=true` without tlsInsecure or allow-invalid options, S3 endpoints and REST URLs "
    "https; a connector type without recorded TLS settings is a violation.",
    Severity.HIGH,
    ["transport"],
    "Use the connector's certificate-verifying TLS mode and https endpoints.",
    _validate_connector_tls,
)


# ---- TLS to Airbyte's API ---------------------------------------------------------------------------------

API_TLS = "airbyte-api-require-tls-verification"


def _validate_api_tls(args, report_violation) -> None:
    if not args.resource_type.startswith(AIRBYTE_PREFIX):
        return
    connection = known(args.props, "connection")
    url, ca_pem = known(connection, "url"), known(connection, "ca_pem")
    if UNKNOWN in (connection, url, ca_pem):
        return
    problems = _url_problem("url", url) if url else ["`url` is missing"]
    if not (isinstance(ca_pem, str) and ca_pem.strip()):
        problems.append("`ca_pem` is empty")
    if problems:
        report_violation(f"{_label(args)} reaches Airbyte's API without verified TLS ({'; '.join(problems)}); give "
                         "its connection an https URL and the CA that signs Airbyte's certificate.")


require_api_tls = resource_policy(
    API_TLS,
    "DP-AB-002",
    "Airbyte's API is called over TLS verified against the stack's CA",
    "Every Airbyte resource's `connection` has an https `url` and a non-empty `ca_pem`.",
    Severity.HIGH,
    ["transport"],
    "Give the resource's connection an https URL and the CA bundle that verifies it.",
    _validate_api_tls,
)


# ---- no plaintext credential ------------------------------------------------------------------------------

PLAINTEXT = "airbyte-payload-disallow-plaintext-credentials"


def _secret_fields(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, Mapping):
        found = []
        for key in list(iter(value)):
            item, path = known(value, key), f"{prefix}{key}"
            if SECRET_FIELD.search(str(key)) and isinstance(item, str) and item:
                found.append(path)
            else:
                found += _secret_fields(item, f"{path}.")
        return found
    return [field for index, item in enumerate(items(value)) for field in _secret_fields(item, f"{prefix}{index}.")]


def _validate_plaintext(args, report_violation) -> None:
    if args.resource_type not in (SOURCE, DESTINATION):
        return
    configuration = known(args.props, "configuration")
    if configuration is UNKNOWN:
        return
    leaked = _secret_fields(configuration)
    if leaked:
        report_violation(f"{_label(args)} carries {', '.join(leaked)} in its payload; pass credentials through "
                         "`secret_configuration` so they stay secret and out of state.")


disallow_plaintext = resource_policy(
    PLAINTEXT,
    "DP-AB-003",
    "Airbyte payloads carry no plaintext credential",
    "No Airbyte source or destination has a credential field (password, secret, API key, token, private key) "
    "with a value in the `configuration` it declares; credentials travel in the secret `secret_configuration` "
    "input, merged into the request only on the wire and never stored.",
    Severity.CRITICAL,
    ["access", "encryption"],
    "Move the credential into the resource's secret_configuration input.",
    _validate_plaintext,
)


# ---- incremental streams need a cursor --------------------------------------------------------------------

CURSOR = "airbyte-stream-require-cursor"


def _validate_cursor(args, report_violation) -> None:
    if args.resource_type != CONNECTION:
        return
    missing = []
    # A CDC source defines its streams' cursor (its log position) and Airbyte refuses another one.
    source_defined = known(args.props, "source_defined_cursors")
    defined = [] if source_defined is UNKNOWN else [str(known(name)) for name in items(source_defined)]
    for stream in items(known(args.props, "configurations", "streams")):
        mode, cursor = known(stream, "syncMode"), known(stream, "cursorField")
        if UNKNOWN in (stream, mode, cursor) or str(known(stream, "name")) in defined:
            continue
        if isinstance(mode, str) and mode.startswith("incremental") and not items(cursor):
            missing.append(str(known(stream, "name")))
    if missing:
        report_violation(f"{_label(args)} reads {', '.join(missing)} incrementally without a cursor field; give "
                         "each incremental stream a `cursor_field` in the catalog.")


require_cursor = resource_policy(
    CURSOR,
    "DP-AB-004",
    "Incremental Airbyte streams name their cursor field",
    "Every stream of an Airbyte connection whose `syncMode` is incremental has a non-empty `cursorField`, unless "
    "its source defines the cursor (CDC: the connection's `source_defined_cursors`).",
    Severity.MEDIUM,
    ["audit"],
    "Set the stream's cursor_field in infra/dataflow.yaml.",
    _validate_cursor,
)


# ---- auth on the release ----------------------------------------------------------------------------------

AUTH = "airbyte-release-enable-auth"


def _is_airbyte(props: Any) -> bool:
    chart = known(props, "chart")
    return isinstance(chart, str) and chart.rstrip("/").rsplit("/", 1)[-1] == "airbyte"


def _validate_auth(args, report_violation) -> None:
    if args.resource_type != RELEASE or not _is_airbyte(args.props):
        return
    enabled = known(args.props, "values", "global", "auth", "enabled")
    if enabled is UNKNOWN or enabled is True:
        return
    name = known(args.props, "name")
    report_violation(f"Release '{name if isinstance(name, str) else args.name}' runs Airbyte without "
                     "authentication; set global.auth.enabled: true.")


enable_auth = resource_policy(
    AUTH,
    "DP-AB-005",
    "Airbyte runs with authentication on",
    "The `airbyte` chart's release sets `global.auth.enabled: true`, so its UI and API require a login or an "
    "application token.",
    Severity.CRITICAL,
    ["access"],
    "Set global.auth.enabled: true in the Airbyte release's values.",
    _validate_auth,
)


# ---- Airbyte's own database connection --------------------------------------------------------------------

DATABASE_TLS = "airbyte-database-require-verify-full"


def _validate_database_tls(args, report_violation) -> None:
    if args.resource_type != RELEASE or not _is_airbyte(args.props):
        return
    database = known(args.props, "values", "global", "database")
    kind, name = known(database, "type"), known(database, "name")
    if UNKNOWN in (database, kind, name) or kind != "external":
        return
    # Chart V2 joins `jdbc:postgresql://<host>:<port>/<global.database.name>` (`templates/config/_database.tpl`), so
    # the parameters sit there.
    _, _, query = name.partition("?") if isinstance(name, str) else ("", "", "")
    parameters = dict(part.partition("=")[::2] for part in query.split("&") if part)
    problems = []
    if parameters.get("sslmode") != "verify-full":
        problems.append(f"sslmode is {parameters.get('sslmode', 'unset')!r}")
    if not parameters.get("sslrootcert"):
        problems.append("no sslrootcert")
    if problems:
        release = known(args.props, "name")
        report_violation(f"Release '{release if isinstance(release, str) else args.name}' connects Airbyte to its "
                         f"database without verifying the server ({'; '.join(problems)}); append "
                         "`?sslmode=verify-full&sslrootcert=<CA file>` to global.database.name.")


require_database_tls = resource_policy(
    DATABASE_TLS,
    "DP-AB-006",
    "Airbyte's own database connection verifies the server's certificate and name",
    "The `airbyte` chart's release with an external database carries `sslmode=verify-full` and an `sslrootcert` "
    "in the JDBC parameters the chart appends to the database name (`global.database.name`), so Airbyte's "
    "connection to PostgreSQL is encrypted and checked against the CA and the server's name.",
    Severity.HIGH,
    ["transport"],
    "Set global.database.name to `<name>?sslmode=verify-full&sslrootcert=<CA file mounted in the pods>`.",
    _validate_database_tls,
)


POLICIES = [require_connector_tls, require_api_tls, disallow_plaintext, require_cursor, enable_auth,
            require_database_tls]
