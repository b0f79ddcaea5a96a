"""Dremio: TLS with verification on every source and on web and Flight, no plaintext credential in a payload,
least-privilege grants that follow the flow, the Community edition's missing access control, and the scheduled
backup of its KV store.

The Dremio resources are the dynamic ones of components/lakehouse/provider.py: a `Source` carries its request body as
`entity` (secrets travel apart, in `secret_config`), a `Grants` carries `path` and `grants`
(`[{granteeType, name, privileges}]`). Dremio's own TLS settings sit in its `dremio.conf`, in the ConfigMap labelled
`app.kubernetes.io/name: dremio`.
"""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import Severity
from pyhocon import ConfigFactory, ConfigParser, ConfigTree
from pyhocon.exceptions import ConfigException
from pyparsing import ParseBaseException

from .common import UNKNOWN, items, known, of_type, resource_policy, setting, stack_policy

SOURCE = "pulumi-python:dynamic/dremio:Source"
GRANTS = "pulumi-python:dynamic/dremio:Grants"
DREMIO_PREFIX = "pulumi-python:dynamic/dremio:"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
VERIFY_FULL = "CERTIFICATE_AND_HOSTNAME_VALIDATION"
FLOW = ("bronze", "silver", "gold")
READ_PRIVILEGES = {"SELECT", "VIEW_REFLECTION"}
SECRET_FIELDS = ("accessSecret", "password", "secretKey", "token")


def _entity(props: Any) -> Any:
    return known(props, "entity")


def _source_label(args: Any) -> str:
    name = known(_entity(args.props), "name")
    return f"Dremio source '{name if isinstance(name, str) else args.name}'"


# ---- TLS on every source ---------------------------------------------------------------------------------

SOURCE_TLS = "dremio-source-require-tls-verification"


def _source_tls_problems(entity: Any) -> list[str]:
    kind = known(entity, "type")
    config = known(entity, "config")
    problems = []
    if kind == "S3":
        if known(config, "secure") is not True:
            problems.append("`secure` is not true")
    elif kind in ("POSTGRES", "ELASTIC"):
        switch = "useSsl" if kind == "POSTGRES" else "sslEnabled"
        if known(config, switch) is not True:
            problems.append(f"`{switch}` is not true")
        mode = known(config, "encryptionValidationMode")
        if mode is not UNKNOWN and mode != VERIFY_FULL:
            problems.append(f"`encryptionValidationMode` is {mode!r}, not {VERIFY_FULL}")
    elif kind is not UNKNOWN:
        problems.append(f"type {kind!r} has no recorded TLS settings")
    return problems


def _validate_source_tls(args, report_violation) -> None:
    if args.resource_type != SOURCE:
        return
    entity = _entity(args.props)
    if entity is UNKNOWN:
        return
    problems = _source_tls_problems(entity)
    if problems:
        report_violation(f"{_source_label(args)} does not verify TLS ({'; '.join(problems)}); connect over TLS "
                         "with certificate and hostname validation.")


require_source_tls = resource_policy(
    SOURCE_TLS,
    "DP-DRM-001",
    "Dremio sources connect over TLS with certificate and hostname validation",
    "Every Dremio source: S3 with `secure: true`; PostgreSQL with `useSsl: true` and Elasticsearch with "
    f"`sslEnabled: true`, both with `encryptionValidationMode: {VERIFY_FULL}`; a source type without recorded "
    "TLS settings is a violation.",
    Severity.HIGH,
    ["transport"],
    "Build the source with components/lakehouse/provider.py's builders, which turn TLS and full validation on.",
    _validate_source_tls,
)


# ---- TLS on web and Flight -------------------------------------------------------------------------------

SERVER_TLS = "dremio-server-require-tls"


def _is_dremio_config(props: Any) -> bool:
    return known(props, "metadata", "labels", "app.kubernetes.io/name") == "dremio"


# The TLS switch of each surface Dremio serves, as dremio.conf names it.
TLS_SWITCHES = (("web", "services.coordinator.web.ssl.enabled"), ("Flight", "services.flight.ssl.enabled"))


def effective_dremio_conf(text: str) -> ConfigTree:
    """dremio.conf as Dremio reads it: HOCON, where a later assignment wins, `a.b: x` and `a { b: x }` are the same
    key, `=` and `:` are the same, and `${?VAR}` is dropped when the variable is unset. Raises on text Dremio could
    not read either."""
    return ConfigFactory.parse_string(text, resolve=True)


def _validate_server_tls(args, report_violation) -> None:
    if args.resource_type != CONFIG_MAP or not _is_dremio_config(args.props):
        return
    conf = known(args.props, "data", "dremio.conf")
    if conf is UNKNOWN:
        return
    name = known(args.props, "metadata", "name")
    try:
        effective = effective_dremio_conf(conf if isinstance(conf, str) else "")
    except (ConfigException, ParseBaseException) as error:
        report_violation(f"ConfigMap '{name}' holds a dremio.conf that cannot be read as HOCON "
                         f"({str(error).splitlines()[0]}); Dremio would not start with it, so fix its syntax.")
        return
    off = [(surface, key) for surface, key in TLS_SWITCHES if effective.get(key, None) is not True]
    if off:
        report_violation(f"ConfigMap '{name}' leaves Dremio's {' and '.join(surface for surface, _ in off)} without "
                         f"TLS; set {' and '.join(f'{key}: true' for _, key in off)} (the last assignment in "
                         "dremio.conf wins) with a keystore.")


require_server_tls = resource_policy(
    SERVER_TLS,
    "DP-DRM-002",
    "Dremio serves web/REST and Arrow Flight over TLS",
    "The `dremio.conf` of the ConfigMap labelled `app.kubernetes.io/name: dremio` sets "
    "`services.coordinator.web.ssl.enabled: true` and `services.flight.ssl.enabled: true`.",
    Severity.HIGH,
    ["transport"],
    "Render dremio.conf with components/lakehouse/spec.py, which serves both from the cert-manager keystore.",
    _validate_server_tls,
)


# ---- no plaintext credential ------------------------------------------------------------------------------

PLAINTEXT = "dremio-payload-disallow-plaintext-credentials"


# A dremio.conf key that holds a credential (`keyStorePassword`, `trustStorePassword`, a secret key, a token).
CONF_SECRET_KEY = re.compile(r"(password|secret|token|credential)s?$", re.IGNORECASE)


class _WithoutEnvironment(ConfigParser):
    """pyhocon's resolver, reading no environment variable: what dremio.conf holds when the variables its `${?VAR}`
    substitutions name are unset, so the value is the literal the file itself gives, whatever the process running
    the pack has in its environment."""

    @classmethod
    def _resolve_variable(cls, config, substitution):
        try:
            return True, config.get(substitution.variable)
        except Exception:
            if substitution.optional:
                return False, None
            raise


def _leaves(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for key in list(tree):
        value = tree[key]
        path = f"{prefix}{key}"
        if isinstance(value, ConfigTree):
            found += _leaves(value, f"{path}.")
        else:
            found.append((path, value))
    return found


def dremio_conf_literal_secrets(text: str) -> list[str]:
    """The credential keys of dremio.conf whose effective value is a literal of the file (the last assignment wins;
    a `${?VAR}` whose variable is unset keeps the value before it, so a literal written before it still counts);
    a value that only comes from the environment (`${?DREMIO_KEYSTORE_PASSWORD}`) is none."""
    config = ConfigFactory.parse_string(text, resolve=False)
    try:
        _WithoutEnvironment.resolve_substitutions(config, True)
    except Exception:
        return []
    return sorted(path for path, value in _leaves(config)
                  if CONF_SECRET_KEY.search(path.rsplit(".", 1)[-1]) and isinstance(value, (str, int, float))
                  and not isinstance(value, bool) and str(value) != "")


def _validate_conf_plaintext(args, report_violation) -> None:
    conf = known(args.props, "data", "dremio.conf")
    if not isinstance(conf, str):
        return
    try:
        literal = dremio_conf_literal_secrets(conf)
    except (ConfigException, ParseBaseException):
        return  # DP-DRM-002 reports a dremio.conf Dremio cannot read
    if literal:
        name = known(args.props, "metadata", "name")
        report_violation(
            f"ConfigMap '{name if isinstance(name, str) else args.name}' holds credentials as literals in dremio.conf "
            f"({', '.join(f'{key} = ****' for key in literal)}), readable by anyone who may read ConfigMaps; write "
            f"each as an environment substitution (`{literal[0]}: ${{?DREMIO_KEYSTORE_PASSWORD}}`) filled from a "
            "Kubernetes Secret, and keep no literal before it (when the variable is unset, HOCON keeps the earlier "
            "value).")


def _validate_plaintext(args, report_violation) -> None:
    if args.resource_type == CONFIG_MAP and _is_dremio_config(args.props):
        _validate_conf_plaintext(args, report_violation)
        return
    if not args.resource_type.startswith(DREMIO_PREFIX):
        return
    config = known(_entity(args.props), "config")
    leaked = [field for field in SECRET_FIELDS if isinstance(known(config, field), str) and known(config, field)]
    if leaked:
        report_violation(f"Dremio resource '{args.name}' carries {', '.join(leaked)} in its payload; pass "
                         "credentials through `secret_config` so they stay secret and out of state.")


disallow_plaintext = resource_policy(
    PLAINTEXT,
    "DP-DRM-003",
    "Dremio payloads and dremio.conf carry no plaintext credential",
    "No Dremio resource has a credential field (`accessSecret`, `password`, `secretKey`, `token`) in the body it "
    "declares; credentials travel in the secret `secret_config` input, which is merged into the request only on "
    "the wire and never stored. In the `dremio.conf` of the ConfigMap labelled `app.kubernetes.io/name: dremio`, "
    "no key named like a credential (`keyStorePassword`, `trustStorePassword`, `...secret`, `...token`) has a "
    "literal as its effective value, read as HOCON with the environment's variables unset (the last assignment "
    "wins, and a `${?VAR}` whose variable is unset keeps the value before it).",
    Severity.CRITICAL,
    ["access", "encryption"],
    "Move the credential into the resource's secret_config input; in dremio.conf, write `${?VAR}` and fill the "
    "variable from a Secret.",
    _validate_plaintext,
)


# ---- least-privilege grants --------------------------------------------------------------------------------

LEAST_PRIVILEGE = "dremio-grants-require-least-privilege"
CONSUMERS_SCHEMA = {
    "type": "object",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "description": "Consumer grantee -> the only layers it may read (never write).",
    "default": {"analyst": ["gold"], "superset": ["gold"]},
}


def _flow_grants(resources: list[Any]) -> dict[str, dict[str, set[str]]]:
    """Grantee -> layer -> privileges, from the Grants on the flow's spaces."""
    found: dict[str, dict[str, set[str]]] = {}
    for resource in of_type(resources, GRANTS):
        layer = known(resource.props, "path", 0)
        if layer not in FLOW:
            continue
        for grant in items(known(resource.props, "grants")):
            name = known(grant, "name")
            privileges = {value for value in items(known(grant, "privileges")) if isinstance(value, str)}
            if isinstance(name, str):
                found.setdefault(name, {}).setdefault(layer, set()).update(privileges)
    return found


def _grants_urn(resources: list[Any], layer: str) -> str | None:
    for resource in of_type(resources, GRANTS):
        if known(resource.props, "path", 0) == layer:
            return resource.urn
    return None


GRANTS_SCHEMA = {
    "type": "object",
    "description": "The catalog's role-to-layer matrix for Dremio: catalog path (a layer space or a lake source) -> "
                   "grantee (`USER:<name>` or `ROLE:<name>`) -> the privileges it may hold there",
}
PUBLIC = "PUBLIC"


def _path_key(resource: Any) -> str | None:
    path = known(resource.props, "path")
    parts = items(path)
    if path is UNKNOWN or not parts or any(not isinstance(part, str) for part in parts):
        return None
    return ".".join(parts)


def _matrix_problems(resources: list[Any], matrix: Any) -> list[tuple[str, str]]:
    """(message, urn) for every grant on any catalog object that the matrix does not imply: a grantee it does not
    list on that path (PUBLIC never), or privileges beyond the listed ones."""
    found = []
    for resource in of_type(resources, GRANTS):
        key = _path_key(resource)
        if key is None:
            continue
        allowed = known(matrix, key) or {}
        for grant in items(known(resource.props, "grants")):
            name, kind = known(grant, "name"), known(grant, "granteeType")
            if not isinstance(name, str) or not isinstance(kind, str):
                continue
            privileges = sorted({value for value in items(known(grant, "privileges")) if isinstance(value, str)})
            if name.upper() == PUBLIC:
                found.append((f"Dremio grants on '{key}' give PUBLIC (every user, present and future) "
                              f"{', '.join(privileges)}; grant the catalog role that needs it instead.", resource.urn))
                continue
            listed = known(allowed, f"{kind}:{name}")
            if listed is None:
                found.append((f"Dremio grants on '{key}' give {kind.lower()} '{name}' {', '.join(privileges)}, but the "
                              f"catalog's role-to-layer matrix gives it nothing there"
                              f"{' (the raw lake source is for the transformation alone)' if key == 'lake' else ''}; "
                              "remove the grant or change the catalog's roles and run `make policy-config`.",
                              resource.urn))
                continue
            extra = [privilege for privilege in privileges if privilege not in set(items(listed))]
            if extra:
                found.append((f"Dremio grants on '{key}' give {kind.lower()} '{name}' {', '.join(extra)}, beyond the "
                              f"{', '.join(items(listed))} the catalog's role-to-layer matrix gives it there.",
                              resource.urn))
    return found


def _validate_least_privilege(args, report_violation) -> None:
    matrix = setting(args, "grants", None)
    if isinstance(matrix, dict):
        for message, urn in _matrix_problems(args.resources, matrix):
            report_violation(message, urn)
    consumers = setting(args, "consumers", CONSUMERS_SCHEMA["default"]) or {}
    for grantee, layers in sorted(_flow_grants(args.resources).items()):
        writes = sorted((layer for layer, privileges in layers.items() if privileges - READ_PRIVILEGES),
                        key=FLOW.index)
        if grantee in consumers:
            allowed = set(consumers[grantee])
            for layer in sorted(layers, key=FLOW.index):
                extra = sorted(layers[layer] - READ_PRIVILEGES)
                if extra or layer not in allowed:
                    what = f"{', '.join(extra)} on {layer}" if extra else f"access to {layer}"
                    report_violation(f"Dremio grants give consumer '{grantee}' {what}; consumers read only "
                                     f"{', '.join(sorted(allowed))}.", _grants_urn(args.resources, layer))
            continue
        for written in writes:
            downstream = [layer for layer in layers if FLOW.index(layer) > FLOW.index(written)
                          and not layers[layer] - READ_PRIVILEGES]
            if downstream:
                report_violation(f"Dremio grants let '{grantee}' write {written}, upstream of "
                                 f"{', '.join(sorted(downstream, key=FLOW.index))} that it reads; the flow is "
                                 "one-way.", _grants_urn(args.resources, written))


require_least_privilege = stack_policy(
    LEAST_PRIVILEGE,
    "DP-DRM-004",
    "Dremio grants follow the flow with least privilege",
    "Across the Grants on the bronze, silver and gold spaces: a consumer (config `consumers`: analyst and "
    "superset by default) holds only SELECT/VIEW_REFLECTION and only on its layers; no grantee writes a layer "
    "upstream of a layer it only reads. With the catalog's role-to-layer matrix (`grants`, written by `make "
    "policy-config`), every grant on every catalog path, the spaces and the raw lake sources alike, is one the "
    "matrix implies (its grantee listed on that path, its privileges among the listed ones, in any order), and "
    "nothing is granted to PUBLIC.",
    Severity.HIGH,
    ["access"],
    "Derive grants from the catalog's roles with components/lakehouse/spec.py's space_grants.",
    _validate_least_privilege,
    config={"consumers": CONSUMERS_SCHEMA, "grants": GRANTS_SCHEMA},
)


# ---- the Community edition's gap --------------------------------------------------------------------------

ACCESS_CONTROL = "dremio-edition-require-access-control"


def _validate_access_control(args, report_violation) -> None:
    sources = of_type(args.resources, SOURCE)
    if sources and not of_type(args.resources, GRANTS):
        report_violation("Dremio has sources but no grants: on the Community edition any Dremio user can read and "
                         "write every layer; run the Enterprise edition (`lakehouse.edition: enterprise`) so the "
                         "catalog's grants apply.", min(sources, key=lambda source: source.name).urn)


require_access_control = stack_policy(
    ACCESS_CONTROL,
    "DP-DRM-005",
    "Dremio enforces access control (grants need the Enterprise edition)",
    "A stack that declares Dremio sources also declares Dremio grants. Community has no GRANT, so every Dremio user "
    "reads and writes every layer: the gap is reported, advisory in dev and mandatory in prod.",
    Severity.HIGH,
    ["access"],
    "Set `lakehouse.edition: enterprise` in the stack config.",
    _validate_access_control,
)

# ---- Dremio's scheduled backup ---------------------------------------------------------------------------

BACKUP = "dremio-backup-require-schedule"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
CRONJOB = "kubernetes:batch/v1:CronJob"
BACKUP_NAME = "dremio-backup"


def _labels(resource: Any) -> Any:
    return known(resource.props, "metadata", "labels")


def _namespace(resource: Any) -> Any:
    return known(resource.props, "metadata", "namespace")


def _backup_problem(cronjob: Any) -> str | None:
    """What keeps a backup CronJob from backing Dremio up; None when nothing does."""
    spec = known(cronjob.props, "spec")
    if known(spec, "suspend") is True:
        return "is suspended"
    pod = known(spec, "jobTemplate", "spec", "template", "spec")
    environment = {known(item, "name"): known(item, "value") for container in items(known(pod, "containers"))
                   for item in items(known(container, "env"))}
    target = environment.get("BACKUP_DIR")
    if target is UNKNOWN or target is None:
        return None if pod is UNKNOWN else "names no BACKUP_DIR"
    if not isinstance(target, str) or target.startswith("/") or "://" not in target:
        return f"writes to {target!r}, on the coordinator's own volume, not to the object store"
    return None


def _validate_backup(args, report_violation) -> None:
    coordinators = [resource for resource in of_type(args.resources, STATEFULSET)
                    if known(_labels(resource), "app.kubernetes.io/name") == "dremio"
                    and known(_labels(resource), "app.kubernetes.io/component") == "coordinator"]
    for coordinator in coordinators:
        namespace = _namespace(coordinator)
        backups = [resource for resource in of_type(args.resources, CRONJOB)
                   if known(_labels(resource), "app.kubernetes.io/name") == BACKUP_NAME
                   and (namespace is UNKNOWN or _namespace(resource) in (namespace, UNKNOWN))]
        if not backups:
            report_violation(f"Dremio's coordinator '{known(coordinator.props, 'metadata', 'name')}' has no scheduled "
                             f"backup (no CronJob labelled app.kubernetes.io/name: {BACKUP_NAME} beside it): its KV "
                             "store (sources, spaces, users, grants, reflections) dies with its volume.",
                             coordinator.urn)
            continue
        for cronjob in backups:
            problem = _backup_problem(cronjob)
            if problem:
                report_violation(f"Dremio's backup CronJob '{known(cronjob.props, 'metadata', 'name')}' {problem}; "
                                 "the coordinator's KV store is not backed up to the object store.", cronjob.urn)


require_backup = stack_policy(
    BACKUP,
    "DP-DRM-006",
    "Dremio's KV store is backed up on a schedule to the object store",
    "A stack with a Dremio coordinator (StatefulSet labelled `app.kubernetes.io/name: dremio`, component "
    f"`coordinator`) also has, in its namespace, a CronJob labelled `app.kubernetes.io/name: {BACKUP_NAME}` that is "
    "not suspended and whose container's `BACKUP_DIR` is an object-store URI (not a path on the coordinator's "
    "volume). Advisory in dev, mandatory in prod.",
    Severity.HIGH,
    ["retention"],
    "Declare the lakehouse with components/lakehouse/component.py, which adds the backup CronJob "
    "(spec.backup_cronjob_spec); keep `suspend` unset.",
    _validate_backup,
)

POLICIES = [require_source_tls, require_server_tls, disallow_plaintext, require_least_privilege,
            require_access_control, require_backup]
