"""Secure variants: changes that keep the platform as safe as the baseline, written differently from it. The pack must
let every one through: a policy that blocks a secure change teaches people to switch it off."""

from __future__ import annotations

import copy
import datetime

from infra.offline.security_mutants.bench import Mutation
from infra.offline.security_mutants.edits import (
    appending,
    copy_of,
    document,
    inputs,
    removing,
    setting,
    statement_added,
    text,
)
from infra.offline.security_mutants.program import _config

P = "prod"
WORKLOADS = "platform-presentation-superset-web"
SUPERSET_CONFIG = ("data", "superset_config.py")
DREMIO_CONF = ("data", "dremio.conf")


def _subject_as_list(document) -> None:
    equals = document["Statement"][0]["Condition"]["StringEquals"]
    sub = next(key for key in equals if key.endswith(":sub"))
    equals[sub] = [equals[sub]]


def ok(id: str, what: str, change, layer: str = "resource") -> Mutation:
    return Mutation(id=id, layer=layer, stack=P, what=what, change=change, secure=True)


def _env(*entries: dict) -> object:
    def edit(document):
        document["spec"]["template"]["spec"]["containers"][0]["env"].extend(entries)
    return inputs(WORKLOADS, edit)


def _container_security(key, value):
    def edit(document):
        document["spec"]["template"]["spec"]["containers"][0]["securityContext"][key] = value
    return inputs(WORKLOADS, edit)


def _load_balancer(annotations: dict) -> object:
    def edit(document):
        document["spec"]["type"] = "LoadBalancer"
        document["metadata"]["annotations"] = annotations
    return inputs("platform-lakehouse-dremio-client-service", edit)


def _gunicorn(value: str) -> object:
    def edit(document):
        env = document["spec"]["template"]["spec"]["containers"][0]["env"]
        env[next(index for index, item in enumerate(env) if item["name"] == "GUNICORN_CMD_ARGS")] = {
            "name": "GUNICORN_CMD_ARGS", "value": value}
    return inputs(WORKLOADS, edit)


def _uri(edit) -> object:
    return inputs("platform-presentation-database-dremio", lambda document: document.__setitem__(
        "uri", edit(document["uri"])))


def _es_indices(role: str, entry: dict) -> object:
    return appending(role, "role.indices", {"allow_restricted_indices": False, **entry})


def _writer_privileges(privileges: list[str]) -> object:
    def edit(document):
        document["role"]["indices"][0]["privileges"] = privileges
    return inputs("platform-logs-role-writer", edit)


def _netpol(name: str, direction: str, rule: dict) -> object:
    def edit(document):
        document["spec"].setdefault(direction, []).append(rule)
    return inputs(name, edit)


def _statement(name: str, sid: str, edit) -> object:
    def change(parsed: dict) -> None:
        edit(next(item for item in parsed["Statement"] if item.get("Sid") == sid))
    return document(name, change)


def _split_reads(parsed: dict) -> None:
    reads = next(item for item in parsed["Statement"] if item.get("Sid") == "ReadObjects")
    parsed["Statement"].remove(reads)
    parsed["Statement"] += [{**reads, "Sid": f"Read{index}", "Resource": resource}
                            for index, resource in enumerate(reads["Resource"])]


def _dremio_gold_reordered(document: dict) -> None:
    document["grants"].reverse()
    for grant in document["grants"]:
        if grant["name"] == "analyst":
            grant["privileges"] = ["SELECT"]


def _membership_as_grant_role(recording) -> None:
    """Dremio's login made a member of its group by a separate GrantRole instead of the Role's `roles`."""
    login = recording.named("platform-metadata-login-dremio")
    grant = copy.deepcopy(login)
    grant.type = "postgresql:index/grantRole:GrantRole"
    grant.name = "platform-metadata-member-dremio"
    grant.urn = login.urn.rsplit("::", 1)[0].rsplit("$", 1)[0] + "$" + grant.type + "::" + grant.name
    grant.inputs = {"role": "dremio", "grantRole": "query_engine", "withAdminOption": False}
    grant.outputs = {}
    login.inputs["roles"] = []
    recording.resources.append(grant)


def _es_reader_split(document: dict) -> None:
    entry = document["role"]["indices"][0]
    names = ["platform-audit-2026.*" if name == "platform-audit-*" else name for name in entry["names"]]
    document["role"]["indices"] = [{**entry, "names": [name], "privileges": list(reversed(entry["privileges"]))}
                                   for name in names]


SECURE = [
    ok("talisman-with-comment", "`TALISMAN_ENABLED = True  # comment`",
       text("platform-presentation-superset-pythonpath", SUPERSET_CONFIG, "TALISMAN_ENABLED = True",
            "TALISMAN_ENABLED = True  # HSTS and CSP headers")),
    ok("talisman-off-then-on", "Talisman off in an early override, on in a later one (the later assignment wins)",
       text("platform-presentation-superset-pythonpath", SUPERSET_CONFIG, "# ---- secret",
            "# ---- defaults\nTALISMAN_ENABLED = False\n\n# ---- secret")),
    ok("secure-cookie-with-comment", "`SESSION_COOKIE_SECURE = True  # HTTPS only`",
       text("platform-presentation-superset-pythonpath", SUPERSET_CONFIG, "SESSION_COOKIE_SECURE = True",
            "SESSION_COOKIE_SECURE = True  # HTTPS only")),
    ok("dremio-flight-ssl-equals", "`services.flight.ssl.enabled = true` (HOCON's `=`) on one line",
       text("platform-lakehouse-config", DREMIO_CONF, "services.flight.ssl.enabled: true",
            "services.flight.ssl.enabled = true")),
    ok("dremio-web-ssl-equals", "`services.coordinator.web.ssl.enabled = true`",
       text("platform-lakehouse-config", DREMIO_CONF, "services.coordinator.web.ssl.enabled: true",
            "services.coordinator.web.ssl.enabled = true")),
    ok("dremio-flight-ssl-off-then-on", "Flight TLS off on an early line and on on a later one (the last wins)",
       text("platform-lakehouse-config", DREMIO_CONF, "services.flight.port: 32010",
            "services.flight.ssl.enabled: false\nservices.flight.port: 32010")),
    ok("password-file-env", "a `*_PASSWORD_FILE` variable naming a mounted file",
       _env({"name": "DATABASE_PASSWORD_FILE", "value": "/run/secrets/database/password"})),
    ok("secret-name-env", "a variable that names a Secret, not its value",
       _env({"name": "SUPERSET_SECRET_NAME", "value": "superset-env"})),
    ok("url-without-credentials-env", "a database URL without credentials",
       _env({"name": "DATABASE_URL", "value": "postgresql://db.example.internal:5432/superset?sslmode=verify-full"})),
    ok("token-lifetime-configmap-key", "a ConfigMap key `token-lifetime-seconds`",
       setting("platform-lakehouse-config", ("data", "token-lifetime-seconds"), "3600")),
    ok("explicit-non-root-user", "a container sets its own non-root runAsUser",
       _container_security("runAsUser", 1001.0)),
    ok("internal-load-balancer-scheme", "a LoadBalancer with `aws-load-balancer-scheme: internal`",
       _load_balancer({"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"})),
    ok("internal-load-balancer-flag", "a LoadBalancer with `aws-load-balancer-internal: \"true\"`",
       _load_balancer({"service.beta.kubernetes.io/aws-load-balancer-internal": "true"})),
    ok("list-all-my-buckets-star", "`s3:ListAllMyBuckets` on `*` (the action takes no narrower resource)",
       statement_added("platform-lake-query-engine-s3", {
           "Sid": "ListBuckets", "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"})),
    ok("bucket-deny-unencrypted-uploads", "a bucket policy Deny to `*` of uploads without SSE-KMS",
       statement_added("platform-lake-gold-policy", {
           "Sid": "DenyUnencryptedUploads", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
           "Resource": "arn:aws:s3:::dataplatform-prod-gold/*",
           "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}})),
    ok("key-policy-service-principal", "the key policy lets CloudWatch Logs use the key for this account's groups",
       statement_added("platform-lake-kms-policy", {
           "Sid": "CloudWatchLogs", "Effect": "Allow", "Principal": {"Service": "logs.eu-west-1.amazonaws.com"},
           "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*", "kms:Describe*"], "Resource": "*",
           "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                     "arn:aws:logs:eu-west-1:111122223333:log-group:*"}}})),
    ok("kms-window-default", "the deletion window left to AWS's default (30 days)",
       removing("platform-lake-kms", "deletionWindowInDays")),
    ok("kms-window-longer", "a 30-day deletion window written as an integer",
       setting("platform-metadata-key", "deletionWindowInDays", 30)),
    ok("log-group-retention-year", "the audit log group keeps a year",
       setting("platform-metadata-log-group", "retentionInDays", 365.0)),
    ok("irsa-trust-subject-as-list", "the log shipper's role names its one service account as a one-item list",
       document("platform-lake-log-shipper", _subject_as_list, key="assumeRolePolicy")),
    ok("config-keys-rotated-today", "the stack file's access keys were issued today (`make rotate-keys`), the day "
       "the pack judges them on",
       lambda stack, catalog: _config(stack, "storage.s3.accessKeysIssued",
                                      datetime.datetime.now(datetime.UTC).date().isoformat()), layer="config"),
    ok("rds-backups-35", "RDS keeps backups 35 days",
       setting("platform-metadata-instance", "backupRetentionPeriod", 35.0)),
    ok("pg-revoke-public-another-db", "PUBLIC's privileges revoked on one more database",
       copy_of("platform-metadata-revoke-public-platform", "platform-metadata-revoke-public-reports",
               lambda document: document.__setitem__("database", "reports"))),
    ok("es-reader-monitor", "the log reader may monitor the cluster",
       appending("platform-logs-role-reader", "role.cluster", "monitor")),
    ok("superset-analyst-dataset", "the analyst reads one more dataset",
       appending("platform-presentation-role-analyst", "permissions", ["datasource_access", "[dremio].[gold_daily]"])),
    ok("netpol-ingress-named-peer", "a new ingress rule from one named pod in one namespace",
       _netpol("platform-runtime-netpol-presentation-superset-web-ingress", "ingress", {
           "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dp-monitoring"}},
                     "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}],
           "ports": [{"protocol": "TCP", "port": 8088.0}]})),
    ok("netpol-egress-any-address-443", "egress to any address on 443 only (S3's changing ranges)",
       _netpol("platform-runtime-netpol-lakehouse-dremio-coordinator-egress", "egress", {
           "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443.0}]})),
    # Grants the catalog's role-to-layer matrix implies, written differently from the program.
    ok("iam-reads-split-per-bucket", "the query engine's reads written as one statement per layer",
       document("platform-lake-query-engine-s3", _split_reads)),
    ok("iam-narrower-prefix", "the query engine reads gold under one prefix only",
       _statement("platform-lake-query-engine-s3", "ReadObjects",
                  lambda item: item.__setitem__("Resource", ["arn:aws:s3:::dataplatform-prod-gold/marts/*"]))),
    ok("iam-action-case", "an IAM action written in lower case (`s3:getobject`; actions ignore case)",
       _statement("platform-lake-transformation-s3", "ReadObjects",
                  lambda item: item.__setitem__("Action", ["s3:getobject"]))),
    ok("iam-list-prefix-narrower", "the snapshot role lists a narrower prefix, the condition's value a string and "
       "its operator StringEquals",
       _statement("platform-lake-elasticsearch-snapshots-s3", "ListOwnPrefix", lambda item: item.__setitem__(
           "Condition", {"StringEquals": {"s3:prefix": "elasticsearch/index-0"}}))),
    ok("pg-membership-as-grant-role", "the query engine's login made a member of its group by a GrantRole",
       _membership_as_grant_role),
    ok("pg-grant-one-table", "the analyst's SELECT granted again on one gold table by name",
       copy_of("platform-metadata-tables-analyst-gold", "platform-metadata-tables-analyst-gold-customers",
               lambda document: document.__setitem__("objects", ["customers"]))),
    ok("pg-fewer-privileges-reordered", "the transformation's gold privileges, fewer and in another order",
       setting("platform-metadata-tables-transformation-gold", "privileges", ["UPDATE", "SELECT", "INSERT"])),
    ok("dremio-grants-reordered-narrower", "gold's grants in another order, the analyst with SELECT alone",
       inputs("platform-lakehouse-grants-gold", _dremio_gold_reordered)),
    ok("superset-analyst-reordered", "the analyst's Superset permissions in another order",
       inputs("platform-presentation-role-analyst", lambda document: document["permissions"].reverse())),
    ok("es-reader-split-narrower", "the log reader's indices one entry per pattern, the audit one narrower",
       inputs("platform-logs-role-reader", _es_reader_split)),
    ok("bucket-policy-own-account-role", "the silver bucket's policy lets the stack's own query engine role read",
       statement_added("platform-lake-silver-policy", {
           "Sid": "QueryEngineReads", "Effect": "Allow",
           "Principal": {"AWS": "arn:aws:iam::111122223333:role/dataplatform-prod-query-engine"},
           "Action": "s3:GetObject", "Resource": "arn:aws:s3:::dataplatform-prod-silver/*"})),
    ok("key-policy-own-account-id", "the key policy names the stack's own account by its bare id",
       statement_added("platform-lake-kms-policy", {
           "Sid": "AccountDescribes", "Effect": "Allow", "Principal": {"AWS": "111122223333"},
           "Action": "kms:DescribeKey", "Resource": "*"})),
    ok("superset-uri-password-mask", "Superset's URI with Superset's own password mask (XXXXXXXXXX: Superset keeps the "
       "stored password)", _uri(lambda uri: uri.replace("superset@", "superset:XXXXXXXXXX@"))),
    ok("superset-uri-params-reordered", "Superset's Flight URI with its query parameters in another order",
       _uri(lambda uri: uri.split("?")[0] + "?disableCertificateVerification=false&UseEncryption=true")),
    ok("dremio-keystore-env-block", "the keystore password from `${?DREMIO_KEYSTORE_PASSWORD}` in a HOCON block "
       "with `=`", text("platform-lakehouse-config", DREMIO_CONF,
                        "services.flight.ssl.keyStorePassword: ${?DREMIO_KEYSTORE_PASSWORD}",
                        "services.flight.ssl {\n  keyStorePassword = ${?DREMIO_KEYSTORE_PASSWORD}\n}")),
    ok("dremio-keystore-env-over-env", "the keystore password from one variable, then from another (both from the "
       "environment)", text("platform-lakehouse-config", DREMIO_CONF,
                            "services.flight.ssl.keyStorePassword: ${?DREMIO_KEYSTORE_PASSWORD}",
                            "services.flight.ssl.keyStorePassword: ${?KEYSTORE_PASSWORD}\n"
                            "services.flight.ssl.keyStorePassword: ${?DREMIO_KEYSTORE_PASSWORD}")),
    ok("gunicorn-args-reordered", "GUNICORN_CMD_ARGS with the key first, `--opt value` and another option between",
       _gunicorn("--keyfile /app/tls/tls.key --workers 4 --certfile /app/tls/tls.crt")),
    ok("gunicorn-args-empty-then-set", "GUNICORN_CMD_ARGS with an empty --certfile overridden by a later one",
       _gunicorn("--certfile= --certfile=/app/tls/tls.crt --keyfile='/app/tls/tls.key'")),
    ok("es-anonymous-without-roles", "an anonymous username with no roles (no anonymous access)",
       inputs("platform-logs-elasticsearch", lambda document: document["spec"]["nodeSets"][0]["config"].update({
           "xpack.security.authc.anonymous.username": "guest", "xpack.security.authc.anonymous.roles": []}))),
    ok("es-reader-one-audit-day", "the audit reader reads one day's audit index by its full name too",
       _es_indices("platform-logs-role-reader", {"names": ["platform-audit-2026.11.30"], "privileges": ["read"]})),
    ok("audit-bucket-tag-renamed-keeps-settings", "the audit bucket's role tag renamed, its retention and lock kept "
       "(the audit policies know it by name)", setting("platform-lake-logs", "tags.dataplatform:role", "log-archive")),
    ok("exempt-root-written-per-container", "Fluent Bit (exempt from the root and hostPath checks) runs as root by "
       "its container's context only", removing("platform-runtime-fluent-bit", "values.podSecurityContext.runAsUser")),
    ok("config-webhook-encrypted", "the on-call webhook set encrypted anew (another ciphertext)",
       lambda stack, catalog: _config(stack, "alerting.receivers.oncall-webhook.webhook.url",
                                      {"secure": "v1:another-ciphertext"}), layer="config"),
    ok("config-source-url-with-port", "the REST source's URL with an explicit port and no credentials",
       lambda stack, catalog: _config(stack, "ingestion.sources.api.url",
                                      "https://api.apilayer.com:443/exchangerates_data"), layer="config"),
    ok("config-longer-backups", "the stack file keeps RDS backups 30 days",
       lambda stack, catalog: _config(stack, "metadata.backupRetentionDays", 30), layer="config"),
    ok("config-longer-dremio-backups", "the stack file keeps Dremio backups 180 days",
       lambda stack, catalog: _config(stack, "lakehouse.backup.retentionDays", 180), layer="config"),
]

MUTATIONS = SECURE
