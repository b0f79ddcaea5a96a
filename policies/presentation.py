"""Superset: a secret key that is set and not a known default, Talisman, secure HTTP-only cookies with CSRF, no
self-registration as Admin, and database connections that cannot write or skip certificate checks.

Superset reads its settings from `superset_config.py`. The pack judges every ConfigMap whose `data`, and every
Secret whose `stringData`, carries a file of that name, wherever it is mounted: the file is parsed as Python (a
file Python cannot parse is reported, since Superset would not start with it) and every assignment at module level,
also inside a module-level `if`, `try` or `with`, counts in file order, so the last one that may run wins. The
database connections are the dynamic `Database`
resources of components/presentation/provider.py, whose inputs carry `allow_dml`, `allow_ctas`, `allow_cvas`,
`allow_file_upload` and the SQLAlchemy `uri`.
"""

from __future__ import annotations

import ast
from typing import Any

from pulumi_policy import Severity

from .common import UNKNOWN, known, resource_policy, url_passwords

CONFIG_FILE = "superset_config.py"
CARRIERS = {"kubernetes:core/v1:ConfigMap": ("data", "ConfigMap"),
            "kubernetes:core/v1:Secret": ("stringData", "Secret")}
DATABASE = "pulumi-python:dynamic/superset:Database"
# Placeholders Superset and its chart ship or document; a key equal to one of them is as good as none.
KNOWN_DEFAULT_KEYS = {
    "CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET",
    "thisISaSECRET_1234",
    "\\2\\1thisismyscretkey\\1\\2\\e\\y\\y\\h",
    "TEST_NON_DEV_SECRET",
    "YOUR_OWN_RANDOM_GENERATED_SECRET_KEY",
}
WRITES = ("allow_dml", "allow_ctas", "allow_cvas", "allow_file_upload")
# What Superset writes in place of a stored password when it shows a URI, and keeps the stored one for when a URI
# comes back with it (`PASSWORD_MASK`, apache/superset/superset/constants.py, and `Database.set_sqlalchemy_uri` in
# superset/models/core.py): a URI so written carries no password.
PASSWORD_MASK = "X" * 10


def _config_text(args: Any) -> tuple[str, str] | None:
    """(`superset_config.py`'s text, what carries it) where the resource carries that file, else None (also
    when the file is unknown at preview)."""
    carrier = CARRIERS.get(args.resource_type)
    if carrier is None:
        return None
    field, kind = carrier
    text = known(args.props, field, CONFIG_FILE)
    if not isinstance(text, str):
        return None
    name = known(args.props, "metadata", "name")
    return text, f"{kind} '{name if isinstance(name, str) else args.name}'"


NOT_LITERAL = object()  # a value computed when Superset starts (the environment, a call), not written in the file


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements that run when the module is imported, in file order: the body, and the bodies of module-level
    `if`/`try`/`with` blocks (either branch may be the one that runs, so both count)."""
    statements: list[ast.stmt] = []
    for statement in body:
        statements.append(statement)
        if isinstance(statement, (ast.If, ast.With)):
            statements += _module_level(statement.body) + _module_level(getattr(statement, "orelse", []))
        elif isinstance(statement, ast.Try):
            for block in (statement.body, *(handler.body for handler in statement.handlers), statement.orelse,
                          statement.finalbody):
                statements += _module_level(block)
    return statements


def _settings(text: str) -> dict[str, ast.expr]:
    """Each upper-case name's value expression, from its last assignment that may run (raises SyntaxError)."""
    settings: dict[str, ast.expr] = {}
    for statement in _module_level(ast.parse(text, filename=CONFIG_FILE).body):
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id.isupper():
                settings[target.id] = value
    return settings


def _literal(value: ast.expr | None) -> Any:
    """The value as written (True, "Admin"), or NOT_LITERAL when it is computed at start."""
    if value is None:
        return None
    try:
        return ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return NOT_LITERAL


def _config_policy(check):
    def validate(args, report_violation) -> None:
        found = _config_text(args)
        if found is None:
            return
        text, label = found
        try:
            settings = _settings(text)
        except SyntaxError as error:
            report_violation(f"{label} ({CONFIG_FILE}) is not valid Python (line {error.lineno}: {error.msg}); "
                             "Superset would not start with it, so fix its syntax.")
            return
        problem = check(settings)
        if problem:
            report_violation(f"{label} ({CONFIG_FILE}) {problem}")

    return validate


# ---- secret key -------------------------------------------------------------------------------------------


def _environment_default(value: ast.expr) -> Any:
    """The literal fallback of `os.environ.get(NAME, default)` or `os.getenv(NAME, default)`, else None: when the
    variable is unset, that literal is the key."""
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)):
        return None
    function = ast.unparse(value.func)
    if function not in ("os.environ.get", "environ.get", "os.getenv", "getenv"):
        return None
    default = value.args[1] if len(value.args) > 1 else next(
        (keyword.value for keyword in value.keywords if keyword.arg == "default"), None)
    literal = _literal(default)
    return literal if isinstance(literal, str) else None


def _secret_key_problem(settings: dict[str, ast.expr]) -> str | None:
    value = settings.get("SECRET_KEY")
    if value is None:
        return "sets no SECRET_KEY; read it from a generated Secret (os.environ)."
    literal = _literal(value)
    fallback = _environment_default(value) if literal is NOT_LITERAL else None
    if fallback is not None:
        return ("falls back to a literal SECRET_KEY when its variable is unset; read it with os.environ[...] so a "
                "missing Secret stops Superset instead.")
    if literal is NOT_LITERAL:
        return None  # read at run time (the environment), not a literal
    if literal in KNOWN_DEFAULT_KEYS:
        return "uses a known default SECRET_KEY; read a generated key from a Secret (os.environ) instead."
    return "writes SECRET_KEY as a literal; read a generated key from a Secret (os.environ) instead."


configure_secret_key = resource_policy(
    "superset-config-configure-secret-key",
    "DP-SS-001",
    "Superset's secret key is set, generated and kept out of the configuration",
    "Superset's `superset_config.py` assigns `SECRET_KEY` from the environment (a Secret), not as a literal;"
    " a literal equal to one of Superset's documented placeholders is reported as a known default.",
    Severity.CRITICAL,
    ["encryption", "access"],
    "Assign SECRET_KEY from os.environ in superset_config.py and fill it from a pulumi-random value in a "
    "Kubernetes Secret.",
    _config_policy(_secret_key_problem),
)


# ---- Talisman, cookies, CSRF ------------------------------------------------------------------------------


def _switches_problem(required: tuple[str, ...], what: str):
    def check(settings: dict[str, ast.expr]) -> str | None:
        off = [name for name in required if _literal(settings.get(name)) is not True]
        return f"leaves {', '.join(off)} off; {what}." if off else None

    return check


enable_talisman = resource_policy(
    "superset-config-enable-talisman",
    "DP-SS-002",
    "Superset sends security headers (Talisman)",
    "Superset's `superset_config.py` sets `TALISMAN_ENABLED = True` (off by default since Superset 4.0).",
    Severity.HIGH,
    ["transport"],
    "Set TALISMAN_ENABLED = True in superset_config.py.",
    _config_policy(_switches_problem(("TALISMAN_ENABLED",), "set it to True")),
)

require_secure_cookies = resource_policy(
    "superset-config-require-secure-cookies",
    "DP-SS-003",
    "Superset's session cookie is secure and HTTP-only, and CSRF protection is on",
    "Superset's `superset_config.py` sets `SESSION_COOKIE_SECURE`, `SESSION_COOKIE_HTTPONLY` and "
    "`WTF_CSRF_ENABLED` to True.",
    Severity.HIGH,
    ["transport", "access"],
    "Set SESSION_COOKIE_SECURE, SESSION_COOKIE_HTTPONLY and WTF_CSRF_ENABLED to True in superset_config.py.",
    _config_policy(_switches_problem(("SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "WTF_CSRF_ENABLED"),
                                      "set them to True")),
)


# ---- self-registration --------------------------------------------------------------------------------------


def _registration_problem(settings: dict[str, ast.expr]) -> str | None:
    if _literal(settings.get("AUTH_USER_REGISTRATION")) in (False, None):
        return None
    if _literal(settings.get("AUTH_USER_REGISTRATION_ROLE")) in ("Admin", NOT_LITERAL):
        return ("lets anyone register as Admin; turn AUTH_USER_REGISTRATION off or give "
                "AUTH_USER_REGISTRATION_ROLE a read-only role.")
    return None


disallow_admin_registration = resource_policy(
    "superset-config-disallow-admin-self-registration",
    "DP-SS-004",
    "Nobody can register themselves as a Superset Admin",
    "Superset's `superset_config.py` does not combine `AUTH_USER_REGISTRATION = True` with "
    "`AUTH_USER_REGISTRATION_ROLE = \"Admin\"`.",
    Severity.CRITICAL,
    ["access"],
    "Turn AUTH_USER_REGISTRATION off or set AUTH_USER_REGISTRATION_ROLE to a read-only role.",
    _config_policy(_registration_problem),
)


# ---- database connections -------------------------------------------------------------------------------


def _validate_database(args, report_violation) -> None:
    if args.resource_type != DATABASE:
        return
    writes = [flag for flag in WRITES if known(args.props, flag) not in (False, UNKNOWN)]
    uri = known(args.props, "uri")
    problems, fixes = [], []
    if writes:
        problems.append(f"{', '.join(writes)} on")
        fixes.append(f"set {', '.join(writes)} to false")
    if isinstance(uri, str) and uri.startswith("dremio+flight://"):
        query = uri.partition("?")[2].lower()
        if "useencryption=true" not in query or "disablecertificateverification=false" not in query:
            problems.append("a Flight URI without encryption and certificate verification")
            fixes.append("add UseEncryption=true and disableCertificateVerification=false to its URI")
    if problems:
        name = known(args.props, "name")
        report_violation(f"Superset database '{name if isinstance(name, str) else args.name}' has "
                         f"{'; '.join(problems)}; {' and '.join(fixes)}.")


disallow_database_writes = resource_policy(
    "superset-database-disallow-dml",
    "DP-SS-005",
    "Superset's database connections cannot write and verify TLS",
    "Every Superset `Database` has `allow_dml`, `allow_ctas`, `allow_cvas` and `allow_file_upload` false, and a "
    "Dremio Flight URI keeps `UseEncryption=true` and `disableCertificateVerification=false`.",
    Severity.HIGH,
    ["access", "transport"],
    "Set allow_dml, allow_ctas, allow_cvas and allow_file_upload to false and keep Flight encryption verified.",
    _validate_database,
)


def _validate_uri_credentials(args, report_violation) -> None:
    if args.resource_type != DATABASE:
        return
    uri = known(args.props, "uri")
    if not isinstance(uri, str):
        return
    leaked = [found for found in url_passwords(uri) if f":{PASSWORD_MASK}@" not in uri]
    if leaked:
        name = known(args.props, "name")
        report_violation(f"Superset database '{name if isinstance(name, str) else args.name}' has a password inside "
                         f"its `uri` ({', '.join(leaked)}), where Superset's API, its exports and the stack's state "
                         "show it; drop the password from the URI (`user@host`) and pass it in the database's secret "
                         "`password` input.")


disallow_uri_credentials = resource_policy(
    "superset-database-disallow-url-credentials",
    "DP-SS-010",
    "Superset's database URIs carry no password",
    "No Superset `Database` has a literal password inside its SQLAlchemy `uri` (`scheme://user:password@host`); "
    "the password travels in the secret `password` input. A URI without a password, with an empty one, or with "
    f"Superset's mask `{PASSWORD_MASK}` (Superset keeps the stored password) carries none.",
    Severity.CRITICAL,
    ["access", "encryption"],
    "Write the URI as `scheme://user@host:port/...` and give the password to the Database's `password` input.",
    _validate_uri_credentials,
)


POLICIES = [configure_secret_key, enable_talisman, require_secure_cookies, disallow_admin_registration,
            disallow_database_writes, disallow_uri_credentials]
