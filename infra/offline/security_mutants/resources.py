"""Mistakes in resource inputs and options: one input of one recorded resource changed, as a code change that slipped
through review would change it. The prod stack unless the resource exists only in dev (MinIO, CloudNativePG)."""

from __future__ import annotations

from infra.offline.security_mutants.bench import Mutation
from infra.offline.security_mutants.edits import (
    FOREIGN_ACCOUNT,
    appending,
    copy_of,
    document,
    inputs,
    option,
    removing,
    setting,
    statement_added,
    statement_edited,
    text,
    together,
)

P = "prod"
D = "dev"
ACCOUNT = "111122223333"
KEY_POLICY = "platform-lake-kms-policy"
LAKE_KEY = "platform-lake-kms"
WORKLOADS = "platform-presentation-superset-web"
COORDINATOR = "platform-lakehouse-dremio-coordinator"
SUPERSET_CONFIG = "platform-presentation-superset-pythonpath"
DREMIO_CONFIG = "platform-lakehouse-config"


def m(id: str, stack: str, what: str, change, *expect: tuple[str, str], missing: str = "") -> Mutation:
    return Mutation(id=id, layer="resource", stack=stack, what=what, change=change, expect=frozenset(expect),
                    missing=missing)


def _bucket_statement(bucket: str, principal, action="s3:GetObject", sid="Shared") -> dict:
    return {"Sid": sid, "Effect": "Allow", "Principal": principal, "Action": action,
            "Resource": [f"arn:aws:s3:::{bucket}/*"]}


def _container(edit):
    def change(document):
        edit(document["spec"]["template"]["spec"]["containers"][0])
    return change


def _pod(edit):
    def change(document):
        edit(document["spec"]["template"]["spec"])
    return change


def _trust_sub_pattern(document) -> None:
    condition = document["Statement"][0]["Condition"]
    equals = condition["StringEquals"]
    sub = next(key for key in equals if key.endswith(":sub"))
    condition["StringLike"] = {sub: equals.pop(sub).rsplit(":", 1)[0] + ":*"}


def _trust_without_audience(document) -> None:
    equals = document["Statement"][0]["Condition"]["StringEquals"]
    del equals[next(key for key in equals if key.endswith(":aud"))]


def _role_attribute(attribute: str):
    def edit(document):
        document[attribute] = True
    return edit


def _grant_privileges(*privileges: str):
    def edit(document):
        document["privileges"] = [*document["privileges"], *privileges]
    return edit


def _superset_permission(permission, view):
    def edit(document):
        document["permissions"].append([permission, view])
    return edit


def _es_index_privileges(names, privileges):
    def edit(document):
        document["role"]["indices"].append(
            {"names": names, "privileges": privileges, "allow_restricted_indices": False})
    return edit


def _dremio_grant(name, grantee_type, privileges):
    def edit(document):
        document["grants"].append({"name": name, "granteeType": grantee_type, "privileges": privileges})
    return edit


def _netpol_rule(direction, rule):
    def edit(document):
        spec = document["spec"]
        spec.setdefault(direction, []).append(rule)
    return edit


AWS = [
    m("kms-key-policy-public-decrypt", P, "the lake key's policy lets any principal Decrypt",
      statement_added(KEY_POLICY, {"Sid": "Anyone", "Effect": "Allow", "Principal": "*",
                                   "Action": ["kms:Decrypt"], "Resource": "*"}),
      ("aws-kms-key-policy-disallow-public-principal", KEY_POLICY)),
    m("kms-key-policy-aws-star", P, "the lake key's policy names {AWS: *} for GenerateDataKey",
      statement_added(KEY_POLICY, {"Sid": "Anyone", "Effect": "Allow", "Principal": {"AWS": "*"},
                                   "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"}),
      ("aws-kms-key-policy-disallow-public-principal", KEY_POLICY)),
    m("kms-key-policy-star-in-list", P, "a reader statement's principal list gains `*`",
      statement_edited(KEY_POLICY, "LakeIdentitiesReadThroughS3",
                       lambda item: item["Principal"]["AWS"].append("*")),
      ("aws-kms-key-policy-disallow-public-principal", KEY_POLICY)),
    m("kms-key-policy-foreign-account", P, "the lake key's policy lets another AWS account Decrypt",
      statement_added(KEY_POLICY, {"Sid": "Partner", "Effect": "Allow",
                                   "Principal": {"AWS": f"arn:aws:iam::{FOREIGN_ACCOUNT}:root"},
                                   "Action": ["kms:Decrypt"], "Resource": "*"}),
      ("aws-kms-key-policy-disallow-foreign-principals", KEY_POLICY),
      ("aws-kms-key-policy-require-service-conditions", "platform-lake-kms")),
    m("role-trust-foreign-account", P, "the snapshot role may be assumed from another AWS account",
      statement_added("platform-lake-elasticsearch-snapshots", {
          "Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{FOREIGN_ACCOUNT}:root"},
          "Action": "sts:AssumeRole"}, key="assumeRolePolicy"),
      ("aws-iam-role-trust-disallow-foreign-principals", "platform-lake-elasticsearch-snapshots")),
    m("kms-deletion-window-7", P, "the lake key's deletion window is 7 days",
      setting(LAKE_KEY, "deletionWindowInDays", 7.0), ("aws-kms-key-configure-deletion-window", LAKE_KEY)),
    m("kms-metadata-deletion-window-10", P, "the RDS key's deletion window is 10 days",
      setting("platform-metadata-key", "deletionWindowInDays", 10.0),
      ("aws-kms-key-configure-deletion-window", "platform-metadata-key")),
    m("kms-rotation-off", P, "the lake key's rotation is switched off",
      setting(LAKE_KEY, "enableKeyRotation", False), ("aws-kms-key-enable-rotation", LAKE_KEY)),
    m("kms-key-unprotected", P, "the lake key loses `protect`",
      option(LAKE_KEY, protect=False), ("aws-storage-require-deletion-protection", LAKE_KEY)),
    m("bucket-force-destroy", P, "the gold bucket sets forceDestroy",
      setting("platform-lake-gold", "forceDestroy", True),
      ("aws-storage-require-deletion-protection", "platform-lake-gold")),
    m("bucket-policy-public-read", P, "the gold bucket's policy lets anyone GetObject",
      statement_added("platform-lake-gold-policy", _bucket_statement("dataplatform-prod-gold", "*")),
      ("aws-s3-bucket-disallow-wildcard-principals", "platform-lake-gold-policy")),
    m("bucket-policy-not-principal", P, "the bronze bucket's policy allows everyone but one user (NotPrincipal)",
      statement_added("platform-lake-bronze-policy", {
          "Sid": "AllButOne", "Effect": "Allow", "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/x"},
          "Action": "s3:GetObject", "Resource": "arn:aws:s3:::dataplatform-prod-bronze/*"}),
      ("aws-s3-bucket-disallow-wildcard-principals", "platform-lake-bronze-policy")),
    m("bucket-policy-foreign-account", P, "the silver bucket's policy shares objects with another AWS account",
      statement_added("platform-lake-silver-policy", _bucket_statement(
          "dataplatform-prod-silver", {"AWS": f"arn:aws:iam::{FOREIGN_ACCOUNT}:root"})),
      ("aws-s3-bucket-policy-disallow-foreign-principals", "platform-lake-silver-policy")),
    m("bucket-policy-tls-deny-dropped", P, "the bronze bucket's policy loses its deny of plain HTTP",
      document("platform-lake-bronze-policy", lambda parsed: parsed["Statement"].clear()),
      ("aws-s3-bucket-require-tls", "platform-lake-bronze")),
    m("bucket-public-access-block-off", P, "the bronze bucket's public access block stops blocking public policies",
      setting("platform-lake-bronze-public-access-block", "blockPublicPolicy", False),
      ("aws-s3-bucket-disallow-public-access", "platform-lake-bronze")),
    m("bucket-public-acl", P, "the gold bucket gets the public-read canned ACL",
      setting("platform-lake-gold", "acl", "public-read"),
      ("aws-s3-bucket-disallow-public-access", "platform-lake-gold")),
    m("bucket-ownership-preferred", P, "the silver bucket goes back to ACLs (BucketOwnerPreferred)",
      setting("platform-lake-silver-ownership", "rule", {"objectOwnership": "BucketOwnerPreferred"}),
      ("aws-s3-bucket-require-owner-enforced", "platform-lake-silver")),
    m("bucket-sse-s3", P, "the gold bucket drops to SSE-S3 (no customer-managed key)",
      setting("platform-lake-gold-encryption", "rules",
              [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]),
      ("aws-s3-bucket-require-kms-encryption", "platform-lake-gold")),
    m("bucket-encryption-removed", P, "the gold bucket's encryption configuration is removed",
      lambda recording: recording.resources.remove(recording.named("platform-lake-gold-encryption")),
      ("aws-s3-bucket-enable-encryption", "platform-lake-gold"),
      ("aws-s3-bucket-require-kms-encryption", "platform-lake-gold")),
    m("bucket-versioning-suspended", P, "the silver bucket's versioning is suspended",
      setting("platform-lake-silver-versioning", "versioningConfiguration", {"status": "Suspended"}),
      ("aws-s3-bucket-enable-versioning", "platform-lake-silver")),
    m("bucket-access-logging-removed", P, "the gold bucket stops logging access",
      lambda recording: recording.resources.remove(recording.named("platform-lake-gold-logging")),
      ("aws-s3-bucket-enable-access-logging", "platform-lake-gold")),
    m("bucket-multipart-rule-dropped", P, "the bronze lifecycle loses its abort-incomplete-uploads rule",
      inputs("platform-lake-bronze-lifecycle", lambda document: document.__setitem__("rules", [
          rule for rule in document["rules"] if "abortIncompleteMultipartUpload" not in rule])),
      ("aws-s3-bucket-configure-abort-incomplete-multipart", "platform-lake-bronze")),
    m("bucket-noncurrent-expiry-dropped", P, "the bronze lifecycle keeps deleted versions forever",
      inputs("platform-lake-bronze-lifecycle", lambda document: document.__setitem__("rules", [
          rule for rule in document["rules"] if "noncurrentVersionExpiration" not in rule])),
      ("aws-s3-bucket-configure-noncurrent-version-expiry", "platform-lake-bronze")),
    m("audit-bucket-expires-early", P, "the audit log bucket expires objects after 30 days",
      setting("platform-lake-logs-lifecycle", "rules.2.expiration", {"days": 30.0}),
      ("aws-s3-bucket-configure-log-retention", "platform-lake-logs")),
    m("audit-object-lock-governance", P, "the audit log bucket's object lock drops to GOVERNANCE mode",
      setting("platform-lake-logs-object-lock", "rule", {"defaultRetention": {"mode": "GOVERNANCE", "days": 90.0}}),
      ("aws-s3-bucket-enable-object-lock", "platform-lake-logs")),
    m("bucket-role-tag-removed", P, "the gold bucket loses its role tag",
      removing("platform-lake-gold", "tags.dataplatform:role"),
      ("aws-s3-bucket-require-role-tag", "platform-lake-gold")),
    m("audit-bucket-role-tag-renamed", P, "the audit bucket's role tag is renamed and its objects expire after 30 "
      "days (a renamed tag no longer hides it from the audit policies, which know it by name)",
      together(setting("platform-lake-logs", "tags.dataplatform:role", "log-archive"),
               setting("platform-lake-logs-lifecycle", "rules.2.expiration", {"days": 30.0})),
      ("aws-s3-bucket-configure-log-retention", "platform-lake-logs")),
    m("audit-bucket-role-tag-dropped-lock-governance", P, "the audit bucket loses its role tag and its object lock "
      "drops to GOVERNANCE mode",
      together(removing("platform-lake-logs", "tags.dataplatform:role"),
               setting("platform-lake-logs-object-lock", "rule",
                       {"defaultRetention": {"mode": "GOVERNANCE", "days": 90.0}})),
      ("aws-s3-bucket-enable-object-lock", "platform-lake-logs"),
      ("aws-s3-bucket-require-role-tag", "platform-lake-logs")),
    m("iam-star-action", P, "the query engine's policy allows s3:*",
      statement_edited("platform-lake-query-engine-s3", "ReadObjects",
                       lambda item: item.__setitem__("Action", ["s3:*"])),
      ("aws-iam-policy-disallow-wildcard-access", "platform-lake-query-engine-s3"),
      ("aws-iam-policy-require-catalog-access", "platform-lake-query-engine-s3")),
    m("iam-resource-star", P, "the transformation identity's policy allows reads on resource *",
      statement_edited("platform-lake-transformation-s3", "ReadObjects",
                       lambda item: item.__setitem__("Resource", "*")),
      ("aws-iam-policy-disallow-wildcard-access", "platform-lake-transformation-s3"),
      ("aws-iam-policy-require-catalog-access", "platform-lake-transformation-s3")),
    m("iam-all-buckets-arn", P, "the query engine reads every bucket of the account (arn:aws:s3:::*)",
      statement_edited("platform-lake-query-engine-s3", "ReadObjects",
                       lambda item: item.__setitem__("Resource", ["arn:aws:s3:::*/*"])),
      ("aws-iam-policy-disallow-wildcard-buckets", "platform-lake-query-engine-s3"),
      ("aws-iam-policy-require-catalog-access", "platform-lake-query-engine-s3")),
    m("iam-bucket-prefix-wildcard", P, "the transformation identity lists every dataplatform-* bucket",
      statement_edited("platform-lake-transformation-s3", "ListGrantedBuckets",
                       lambda item: item.__setitem__("Resource", ["arn:aws:s3:::dataplatform-*"])),
      ("aws-iam-policy-disallow-wildcard-buckets", "platform-lake-transformation-s3"),
      ("aws-iam-policy-require-catalog-access", "platform-lake-transformation-s3")),
    m("iam-consumer-writes-bronze", P, "the query engine (a reader) may PutObject on bronze",
      statement_added("platform-lake-query-engine-s3", {
          "Sid": "Write", "Effect": "Allow", "Action": ["s3:PutObject"],
          "Resource": ["arn:aws:s3:::dataplatform-prod-bronze/*"]}),
      ("aws-iam-policy-require-catalog-access", "platform-lake-query-engine-s3")),
    m("iam-not-action", P, "the log shipper's policy allows everything but one action (NotAction)",
      statement_added("platform-lake-log-shipper-s3", {
          "Sid": "Broad", "Effect": "Allow", "NotAction": ["s3:DeleteBucket"],
          "Resource": ["arn:aws:s3:::dataplatform-prod-logs/*"]}),
      ("aws-iam-policy-disallow-wildcard-access", "platform-lake-log-shipper-s3"),
      ("aws-iam-policy-require-catalog-access", "platform-lake-log-shipper-s3")),
    m("iam-list-prefix-condition-dropped", P, "the snapshot role's ListBucket loses its `s3:prefix` condition "
      "(it lists every key of the backups bucket, the database's backups included)",
      statement_edited("platform-lake-elasticsearch-snapshots-s3", "ListOwnPrefix",
                       lambda item: item.pop("Condition")),
      ("aws-iam-policy-require-catalog-access", "platform-lake-elasticsearch-snapshots-s3")),
    m("iam-role-policy-star", P, "the snapshot role's inline policy allows s3:* on its bucket",
      document("platform-lake-elasticsearch-snapshots-s3",
               lambda parsed: parsed["Statement"][0].__setitem__("Action", "s3:*")),
      ("aws-iam-policy-disallow-wildcard-access", "platform-lake-elasticsearch-snapshots-s3"),
      ("aws-iam-policy-require-catalog-access", "platform-lake-elasticsearch-snapshots-s3")),
    m("irsa-trust-any-service-account", P, "the log shipper's role trusts every service account of its namespace "
      "(StringLike on `:sub` with a `*`)",
      document("platform-lake-log-shipper", _trust_sub_pattern, key="assumeRolePolicy"),
      ("aws-iam-role-configure-workload-trust", "platform-lake-log-shipper")),
    m("irsa-trust-no-audience", P, "the log shipper role's trust drops the token's audience (`:aud`)",
      document("platform-lake-log-shipper", _trust_without_audience, key="assumeRolePolicy"),
      ("aws-iam-role-configure-workload-trust", "platform-lake-log-shipper")),
    m("access-key-issue-date-dropped", P, "Dremio's IAM user loses the day its access key was issued, so nothing "
      "says when the key was last rotated",
      removing("platform-lake-dremio", "tags.dataplatform:keys-issued"),
      ("aws-iam-access-key-configure-rotation", "platform-lake-dremio-key")),
    m("rds-public", P, "the RDS instance becomes publicly accessible",
      setting("platform-metadata-instance", "publiclyAccessible", True),
      ("aws-rds-instance-disallow-public-access", "platform-metadata-instance")),
    m("rds-unencrypted", P, "the RDS instance's storage is not encrypted",
      setting("platform-metadata-instance", "storageEncrypted", False),
      ("aws-rds-instance-enable-encryption", "platform-metadata-instance")),
    m("rds-no-security-groups", P, "the RDS instance loses its security groups",
      setting("platform-metadata-instance", "vpcSecurityGroupIds", []),
      ("aws-rds-instance-require-network-placement", "platform-metadata-instance")),
    m("rds-iam-auth-off", P, "RDS IAM authentication is switched off",
      setting("platform-metadata-instance", "iamDatabaseAuthenticationEnabled", False),
      ("aws-rds-instance-enable-iam-authentication", "platform-metadata-instance")),
    m("rds-log-exports-off", P, "RDS stops exporting the PostgreSQL log (the pgaudit trail)",
      setting("platform-metadata-instance", "enabledCloudwatchLogsExports", ["upgrade"]),
      ("aws-rds-instance-enable-log-exports", "platform-metadata-instance")),
    m("rds-deletion-protection-off", P, "RDS deletion protection is switched off",
      setting("platform-metadata-instance", "deletionProtection", False),
      ("aws-rds-instance-enable-deletion-protection", "platform-metadata-instance")),
    m("rds-backups-1-day", P, "RDS keeps automated backups for one day",
      setting("platform-metadata-instance", "backupRetentionPeriod", 1.0),
      ("aws-rds-instance-configure-backup-retention", "platform-metadata-instance")),
    m("rds-unprotected", P, "the RDS instance loses `protect`",
      option("platform-metadata-instance", protect=False),
      ("platform-data-require-protect", "platform-metadata-instance")),
    m("rds-log-group-unprotected", P, "the RDS audit log group loses `protect`",
      option("platform-metadata-log-group", protect=False),
      ("platform-data-require-protect", "platform-metadata-log-group")),
    m("rds-log-group-retention-30", P, "the RDS audit log group keeps 30 days",
      setting("platform-metadata-log-group", "retentionInDays", 30.0),
      ("aws-cloudwatch-log-group-configure-audit-retention", "platform-metadata-log-group")),
    m("rds-event-subscription-removed", P, "RDS failures and backup events are no longer notified",
      lambda recording: recording.resources.remove(recording.named("platform-metadata-events")),
      ("aws-rds-instance-require-event-subscription", "platform-metadata-instance")),
    m("rds-force-ssl-off", P, "the parameter group stops forcing TLS",
      setting("platform-metadata-parameters", "parameters.4", {"name": "rds.force_ssl", "value": "0",
                                                              "applyMethod": "immediate"}),
      ("aws-rds-parameter-group-require-ssl", "platform-metadata-parameters")),
    m("pgaudit-role-only", P, "pgaudit logs roles only (no DDL, no writes)",
      setting("platform-metadata-parameters", "parameters.1", {"name": "pgaudit.log", "value": "role",
                                                              "applyMethod": "immediate"}),
      ("postgresql-server-configure-pgaudit", "platform-metadata-parameters")),
]


POSTGRESQL = [
    m("pg-superuser", P, "the dbt login becomes a superuser",
      setting("platform-metadata-login-dbt", "superuser", True),
      ("postgresql-role-disallow-superuser", "platform-metadata-login-dbt")),
    *(m(f"pg-{attribute.lower()}", P, f"the analyst role gets {label}",
        inputs("platform-metadata-role-analyst", _role_attribute(attribute)),
        ("postgresql-role-disallow-privileged-attributes", "platform-metadata-role-analyst"))
      for attribute, label in (("createRole", "CREATEROLE"), ("createDatabase", "CREATEDB"),
                               ("replication", "REPLICATION"), ("bypassRowLevelSecurity", "BYPASSRLS"))),
    m("pg-provider-sslmode-require", P, "the PostgreSQL provider connects with sslmode=require (no verification)",
      setting("platform-metadata-postgresql", "sslmode", "require"),
      ("postgresql-provider-require-verified-tls", "platform-metadata-postgresql")),
    m("pg-analyst-insert-update", P, "the analyst may INSERT and UPDATE gold tables",
      inputs("platform-metadata-tables-analyst-gold", _grant_privileges("INSERT", "UPDATE")),
      ("postgresql-grant-require-catalog-access", "platform-metadata-tables-analyst-gold")),
    m("pg-grant-to-public", P, "SELECT on the gold tables is granted to PUBLIC",
      copy_of("platform-metadata-tables-analyst-gold", "platform-metadata-tables-public-gold",
              lambda document: document.__setitem__("role", "public")),
      ("postgresql-grant-disallow-public", "platform-metadata-tables-public-gold"),
      ("postgresql-grant-require-catalog-access", "platform-metadata-tables-public-gold")),
    m("pg-public-connect-restored", P, "the revoke of PUBLIC's CONNECT becomes a grant",
      setting("platform-metadata-revoke-public-platform", "privileges", ["CONNECT", "TEMPORARY"]),
      ("postgresql-grant-disallow-public", "platform-metadata-revoke-public-platform"),
      ("postgresql-grant-require-catalog-access", "platform-metadata-revoke-public-platform")),
    m("pg-public-schema-create", P, "PUBLIC may CREATE in the public schema again",
      setting("platform-metadata-revoke-public-schema-superset", "privileges", ["CREATE"]),
      ("postgresql-grant-disallow-public", "platform-metadata-revoke-public-schema-superset"),
      ("postgresql-grant-require-catalog-access", "platform-metadata-revoke-public-schema-superset")),
    m("pg-login-in-another-group", P, "the query engine's login is also made a member of `ingestion` (and holds its "
      "writes on bronze)",
      setting("platform-metadata-login-dremio", "roles", ["query_engine", "ingestion"]),
      ("postgresql-grant-require-catalog-access", "platform-metadata-login-dremio"),
      ("postgresql-default-privileges-require-creating-logins", "platform-metadata-login-dremio")),
    m("pg-bi-login-reads-every-layer", P, "Superset's login is also made a member of `query_engine` (it reads bronze "
      "and silver, where the catalog gives bi gold alone)",
      setting("platform-metadata-login-superset", "roles", ["query_engine", "bi"]),
      ("postgresql-grant-require-catalog-access", "platform-metadata-login-superset")),
    m("pg-database-unprotected", P, "the platform database loses `protect`",
      option("platform-metadata-db-platform", protect=False),
      ("platform-data-require-protect", "platform-metadata-db-platform")),
]


DREMIO = [
    m("dremio-grant-public-gold", P, "gold is granted to Dremio's PUBLIC role",
      inputs("platform-lakehouse-grants-gold", _dremio_grant("PUBLIC", "ROLE", ["SELECT"])),
      ("dremio-grants-require-least-privilege", "platform-lakehouse-grants-gold")),
    m("dremio-analyst-on-raw-lake", P, "the analyst reads the raw lake source",
      inputs("platform-lakehouse-grants-lake", _dremio_grant("analyst", "ROLE", ["SELECT"])),
      ("dremio-grants-require-least-privilege", "platform-lakehouse-grants-lake")),
    m("dremio-analyst-modify-gold", P, "the analyst may MODIFY gold",
      inputs("platform-lakehouse-grants-gold", lambda document: document["grants"][2]["privileges"].append("MODIFY")),
      ("dremio-grants-require-least-privilege", "platform-lakehouse-grants-gold")),
    m("dremio-superset-reads-bronze", P, "Superset's Dremio user reads bronze",
      inputs("platform-lakehouse-grants-bronze", _dremio_grant("superset", "USER", ["SELECT"])),
      ("dremio-grants-require-least-privilege", "platform-lakehouse-grants-bronze")),
    m("dremio-source-insecure", P, "the lake source talks to S3 without TLS",
      setting("platform-lakehouse-source-lake", "entity.config.secure", False),
      ("dremio-source-require-tls-verification", "platform-lakehouse-source-lake")),
    m("dremio-pg-source-no-hostname-check", P, "the metadata source validates the certificate only",
      setting("platform-lakehouse-source-metadata", "entity.config.encryptionValidationMode", "CERTIFICATE_ONLY"),
      ("dremio-source-require-tls-verification", "platform-lakehouse-source-metadata")),
    m("dremio-source-plaintext-secret", P, "the lake source's secret key is written into its body",
      setting("platform-lakehouse-source-lake", "entity.config.accessSecret",
              "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
      ("dremio-payload-disallow-plaintext-credentials", "platform-lakehouse-source-lake")),
    m("dremio-web-tls-off", P, "dremio.conf switches web TLS off",
      text(DREMIO_CONFIG, ("data", "dremio.conf"), "services.coordinator.web.ssl.enabled: true",
           "services.coordinator.web.ssl.enabled: false"),
      ("dremio-server-require-tls", DREMIO_CONFIG)),
    m("dremio-flight-tls-off-last-line", P, "dremio.conf switches Flight TLS off on a later line (the last wins)",
      text(DREMIO_CONFIG, ("data", "dremio.conf"), "", "services.flight.ssl.enabled: false\n"),
      ("dremio-server-require-tls", DREMIO_CONFIG)),
    m("dremio-keystore-literal-password", P, "dremio.conf holds the keystore password as a literal",
      text(DREMIO_CONFIG, ("data", "dremio.conf"),
           "services.flight.ssl.keyStorePassword: ${?DREMIO_KEYSTORE_PASSWORD}",
           "services.flight.ssl.keyStorePassword: \"s3cr3t-keystore\""),
      ("dremio-payload-disallow-plaintext-credentials", DREMIO_CONFIG)),
    m("dremio-keystore-literal-fallback", P, "dremio.conf gives the keystore password as a literal on an early line, "
      "before the environment substitution (HOCON keeps it whenever the variable is unset)",
      text(DREMIO_CONFIG, ("data", "dremio.conf"),
           "services.flight.ssl.keyStorePassword: ${?DREMIO_KEYSTORE_PASSWORD}",
           "services.flight.ssl.keyStorePassword = changeit\n"
           "services.flight.ssl.keyStorePassword: ${?DREMIO_KEYSTORE_PASSWORD}"),
      ("dremio-payload-disallow-plaintext-credentials", DREMIO_CONFIG)),
]


SUPERSET = [
    m("superset-analyst-can-write", P, "Superset's analyst may write dashboards",
      inputs("platform-presentation-role-analyst", _superset_permission("can_write", "Dashboard")),
      ("superset-role-require-read-only-analyst", "platform-presentation-role-analyst"),
      ("superset-role-require-catalog-access", "platform-presentation-role-analyst")),
    m("superset-analyst-all-databases", P, "Superset's analyst gets all_database_access",
      inputs("platform-presentation-role-analyst",
             _superset_permission("all_database_access", "all_database_access")),
      ("superset-role-require-read-only-analyst", "platform-presentation-role-analyst"),
      ("superset-role-require-catalog-access", "platform-presentation-role-analyst")),
    m("superset-analyst-sql-lab", P, "Superset's analyst gets SQL Lab (arbitrary queries)",
      inputs("platform-presentation-role-analyst", _superset_permission("can_execute_sql_query", "SQLLab")),
      ("superset-role-require-read-only-analyst", "platform-presentation-role-analyst"),
      ("superset-role-require-catalog-access", "platform-presentation-role-analyst")),
    m("superset-dml-on", P, "Superset's Dremio database allows DML",
      setting("platform-presentation-database-dremio", "allow_dml", True),
      ("superset-database-disallow-dml", "platform-presentation-database-dremio")),
    m("superset-flight-no-cert-check", P, "Superset's Flight URI disables certificate verification",
      inputs("platform-presentation-database-dremio", lambda document: document.__setitem__(
          "uri", document["uri"].replace("disableCertificateVerification=false",
                                         "disableCertificateVerification=true"))),
      ("superset-database-disallow-dml", "platform-presentation-database-dremio")),
    m("superset-database-password-in-uri", P, "Superset's Dremio URI carries the password",
      inputs("platform-presentation-database-dremio", lambda document: document.__setitem__(
          "uri", document["uri"].replace("superset@", "superset:Sup3rs3t-pw@"))),
      ("superset-database-disallow-url-credentials", "platform-presentation-database-dremio")),
    m("superset-database-password-in-postgres-uri", P, "Superset's database moves to a PostgreSQL URI with its "
      "password", setting("platform-presentation-database-dremio", "uri",
                          "postgresql+psycopg2://superset:an0ther-pw@metadata.dp-metadata.svc:5432/reports"
                          "?sslmode=verify-full"),
      ("superset-database-disallow-url-credentials", "platform-presentation-database-dremio")),
    m("superset-talisman-off", P, "superset_config.py turns Talisman off",
      text(SUPERSET_CONFIG, ("data", "superset_config.py"), "TALISMAN_ENABLED = True", "TALISMAN_ENABLED = False"),
      ("superset-config-enable-talisman", SUPERSET_CONFIG)),
    m("superset-talisman-off-later", P, "superset_config.py turns Talisman off again at the end",
      text(SUPERSET_CONFIG, ("data", "superset_config.py"), "", "\nTALISMAN_ENABLED = False\n"),
      ("superset-config-enable-talisman", SUPERSET_CONFIG)),
    m("superset-insecure-cookies", P, "session cookies may travel over plain HTTP",
      text(SUPERSET_CONFIG, ("data", "superset_config.py"), "SESSION_COOKIE_SECURE = True",
           "SESSION_COOKIE_SECURE = False"),
      ("superset-config-require-secure-cookies", SUPERSET_CONFIG)),
    m("superset-csrf-off", P, "CSRF protection is off",
      text(SUPERSET_CONFIG, ("data", "superset_config.py"), "WTF_CSRF_ENABLED = True", "WTF_CSRF_ENABLED = False"),
      ("superset-config-require-secure-cookies", SUPERSET_CONFIG)),
    m("superset-literal-secret-key", P, "SECRET_KEY is a literal",
      text(SUPERSET_CONFIG, ("data", "superset_config.py"), 'SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]',
           'SECRET_KEY = "thisISaSECRET_1234"'),
      ("superset-config-configure-secret-key", SUPERSET_CONFIG)),
    m("superset-secret-key-env-default", P, "SECRET_KEY falls back to a literal when the variable is unset",
      text(SUPERSET_CONFIG, ("data", "superset_config.py"), 'SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]',
           'SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY", "dev-secret-key-123")'),
      ("superset-config-configure-secret-key", SUPERSET_CONFIG)),
    m("superset-admin-self-registration", P, "anyone may register as Admin",
      text(SUPERSET_CONFIG, ("data", "superset_config.py"),
           'AUTH_USER_REGISTRATION = False\nAUTH_USER_REGISTRATION_ROLE = "Public"',
           'AUTH_USER_REGISTRATION = True\nAUTH_USER_REGISTRATION_ROLE = "Admin"'),
      ("superset-config-disallow-admin-self-registration", SUPERSET_CONFIG)),
    m("superset-gunicorn-no-tls", P, "Superset's gunicorn runs without its certificate",
      inputs(WORKLOADS, lambda document: document["spec"]["template"]["spec"]["containers"][0]["env"].__setitem__(
          -1, {"name": "GUNICORN_CMD_ARGS", "value": "--workers 4"})),
      ("kubernetes-endpoint-require-tls", WORKLOADS)),
    m("superset-gunicorn-certfile-emptied", P, "Superset's GUNICORN_CMD_ARGS gives the certificate, then an empty "
      "--certfile later (the last occurrence wins)",
      inputs(WORKLOADS, lambda document: document["spec"]["template"]["spec"]["containers"][0]["env"].__setitem__(
          -1, {"name": "GUNICORN_CMD_ARGS",
               "value": "--certfile=/app/tls/tls.crt --keyfile=/app/tls/tls.key --workers 4 --certfile="})),
      ("kubernetes-endpoint-require-tls", WORKLOADS)),
]


ELASTICSEARCH = [
    m("es-reader-writes", P, "the log reader may index documents (the audit indices among them)",
      inputs("platform-logs-role-reader",
             lambda document: document["role"]["indices"][0]["privileges"].append("index")),
      ("elasticsearch-role-require-read-only-readers", "platform-logs-role-reader"),
      ("elasticsearch-role-require-catalog-access", "platform-logs-role-reader"),
      ("elasticsearch-role-disallow-audit-tampering", "platform-logs-role-reader")),
    m("es-role-all-indices", P, "the writer gets privileges on every index (*)",
      inputs("platform-logs-role-writer", _es_index_privileges(["*"], ["create_doc"])),
      ("elasticsearch-role-disallow-wildcard-privileges", "platform-logs-role-writer"),
      ("elasticsearch-role-require-catalog-access", "platform-logs-role-writer")),
    m("es-writer-all-on-audit", P, "the writer gets `all` on the audit indices",
      inputs("platform-logs-role-writer", _es_index_privileges(["platform-audit-*"], ["all"])),
      ("elasticsearch-role-disallow-audit-tampering", "platform-logs-role-writer"),
      ("elasticsearch-role-require-catalog-access", "platform-logs-role-writer")),
    m("es-writer-deletes-audit", P, "the writer may delete audit documents",
      inputs("platform-logs-role-writer", _es_index_privileges(["platform-audit-*"], ["delete"])),
      ("elasticsearch-role-disallow-audit-tampering", "platform-logs-role-writer"),
      ("elasticsearch-role-require-catalog-access", "platform-logs-role-writer")),
    m("es-writer-indexes-wider-pattern", P, "the writer may overwrite documents (`index`) on `platform-*`, which "
      "takes the audit indices", inputs("platform-logs-role-writer", _es_index_privileges(["platform-*"], ["index"])),
      ("elasticsearch-role-disallow-audit-tampering", "platform-logs-role-writer"),
      ("elasticsearch-role-require-catalog-access", "platform-logs-role-writer")),
    m("es-exporter-reads-audit", P, "the exporter's monitoring role reads the audit indices",
      inputs("platform-logs-role-exporter", _es_index_privileges(["platform-audit-*"], ["read"])),
      ("elasticsearch-role-require-catalog-access", "platform-logs-role-exporter"),
      ("elasticsearch-role-disallow-audit-reads", "platform-logs-role-exporter")),
    m("es-exporter-reads-one-audit-day", P, "the exporter's role reads one day's audit index by its full name",
      inputs("platform-logs-role-exporter", _es_index_privileges(["platform-audit-2026.11.30"], ["read"])),
      ("elasticsearch-role-require-catalog-access", "platform-logs-role-exporter"),
      ("elasticsearch-role-disallow-audit-reads", "platform-logs-role-exporter")),
    m("es-cluster-manage", P, "the writer gets cluster `manage`",
      inputs("platform-logs-role-writer", lambda document: document["role"]["cluster"].append("manage")),
      ("elasticsearch-role-disallow-wildcard-privileges", "platform-logs-role-writer"),
      ("elasticsearch-role-require-catalog-access", "platform-logs-role-writer")),
    m("es-user-superuser", P, "the log shipper is given the built-in superuser role",
      inputs("platform-logs-user-shipper", lambda document: document["roles"].append("superuser")),
      ("elasticsearch-user-disallow-builtin-admin-roles", "platform-logs-user-shipper"),
      ("elasticsearch-role-require-catalog-access", "platform-logs-user-shipper")),
    m("es-user-kibana-admin", P, "the exporter's user is given kibana_admin",
      inputs("platform-logs-user-exporter", lambda document: document["roles"].append("kibana_admin")),
      ("elasticsearch-user-disallow-builtin-admin-roles", "platform-logs-user-exporter"),
      ("elasticsearch-role-require-catalog-access", "platform-logs-user-exporter")),
    m("es-http-tls-off", P, "the Elasticsearch cluster's HTTP certificate is disabled",
      setting("platform-logs-elasticsearch", "spec.http", {"tls": {"selfSignedCertificate": {"disabled": True}}}),
      ("elasticsearch-cluster-require-tls", "platform-logs-elasticsearch")),
    m("es-anonymous-access", P, "Elasticsearch gives anonymous users a role",
      setting("platform-logs-elasticsearch",
              ("spec", "nodeSets", "0", "config", "xpack.security.authc.anonymous.roles"), "log-reader"),
      ("elasticsearch-cluster-disallow-anonymous-access", "platform-logs-elasticsearch")),
    m("es-anonymous-access-nested", P, "Elasticsearch gives anonymous users superuser, written as nested mappings",
      setting("platform-logs-elasticsearch", ("spec", "nodeSets", "0", "config", "xpack"),
              {"security": {"authc": {"anonymous": {"username": "guest", "roles": ["superuser"]}}}}),
      ("elasticsearch-cluster-disallow-anonymous-access", "platform-logs-elasticsearch")),
    m("es-unprotected", P, "the Elasticsearch cluster loses `protect`",
      option("platform-logs-elasticsearch", protect=False),
      ("platform-data-require-protect", "platform-logs-elasticsearch")),
    m("es-ilm-no-delete", P, "the dbt-runs ILM policy never deletes",
      removing("platform-logs-ilm-dbt-runs", "policy.phases.delete"),
      ("elasticsearch-ilm-require-delete-phase", "platform-logs-ilm-dbt-runs")),
    m("es-audit-ilm-30d", P, "audit indices are deleted after 30 days",
      setting("platform-logs-ilm-platform-audit", "policy.phases.delete.min_age", "30d"),
      ("elasticsearch-ilm-configure-audit-retention", "platform-logs-ilm-platform-audit")),
    m("es-audit-snapshots-7d", P, "audit snapshots expire after 7 days",
      setting("platform-logs-slm-platform-audit-snapshots", "policy.retention.expire_after", "7d"),
      ("elasticsearch-cluster-require-snapshots", "platform-logs-elasticsearch")),
    m("es-audit-snapshots-shared-repository", P, "the audit snapshots go to the job logs' repository, where the "
      "per-repository snapshot alerts cannot tell the two policies apart",
      setting("platform-logs-slm-platform-audit-snapshots", "policy.repository", "job-log-snapshots"),
      ("elasticsearch-cluster-require-snapshots", "platform-logs-elasticsearch")),
]


AIRBYTE = [
    m("airbyte-source-ssl-prefer", P, "the PostgreSQL source falls back to ssl_mode prefer",
      setting("platform-ingestion-source-postgres", "configuration.ssl_mode", {"mode": "prefer"}),
      ("airbyte-connector-require-tls-verification", "platform-ingestion-source-postgres")),
    m("airbyte-source-plaintext-password", P, "the PostgreSQL source's password is written into its configuration",
      setting("platform-ingestion-source-postgres", "configuration.password", "orders-db-pw-2026"),
      ("airbyte-payload-disallow-plaintext-credentials", "platform-ingestion-source-postgres")),
    m("airbyte-stream-no-cursor", P, "an incremental stream loses the source-defined cursor",
      setting("platform-ingestion-connection-postgres", "source_defined_cursors", []),
      ("airbyte-stream-require-cursor", "platform-ingestion-connection-postgres")),
    m("airbyte-api-plain-http", P, "a provider reaches Airbyte's API over plain HTTP",
      setting("platform-ingestion-source-postgres", "connection", {"4dabf18193072939515e22adb298388d":
          "1b47061264138c4ac30d75fd1eb44270", "value": {"url": "http://airbyte-airbyte-server-svc:8001/api/public",
                                                        "ca_pem": ""}}),
      ("airbyte-api-require-tls-verification", "platform-ingestion-source-postgres")),
    m("airbyte-auth-off", P, "Airbyte's UI and API need no login",
      setting("platform-ingestion-airbyte", "values.global.auth.enabled", False),
      ("airbyte-release-enable-auth", "platform-ingestion-airbyte")),
    m("airbyte-database-sslmode-require", P, "Airbyte's database connection stops verifying the server",
      setting("platform-ingestion-airbyte", "values.global.database.name", "airbyte?sslmode=require"),
      ("airbyte-database-require-verify-full", "platform-ingestion-airbyte")),
]


def _shares_launcher_account(document):
    document["metadata"].update(namespace="dp-ingestion", name="debug-shell")
    document["spec"]["template"]["spec"].update(serviceAccountName="airbyte-workload-launcher",
                                                automountServiceAccountToken=True)


def _hostpath(spec):
    spec["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}})


KUBERNETES = [
    m("k8s-container-run-as-root", P, "Superset's web container runs as user 0 under a non-root pod",
      inputs(WORKLOADS, _container(lambda container: container["securityContext"].__setitem__("runAsUser", 0.0))),
      ("kubernetes-pod-require-restricted-security", WORKLOADS)),
    m("k8s-container-adds-capability", P, "Dremio's coordinator adds NET_ADMIN",
      inputs(COORDINATOR, _container(lambda container: container["securityContext"]["capabilities"].__setitem__(
          "add", ["NET_ADMIN"]))),
      ("kubernetes-pod-require-restricted-security", COORDINATOR)),
    m("k8s-hostpath", P, "Dremio's coordinator mounts a hostPath",
      inputs(COORDINATOR, _pod(_hostpath)), ("kubernetes-pod-require-restricted-security", COORDINATOR)),
    m("k8s-privileged", P, "Superset's web container is privileged",
      inputs(WORKLOADS, _container(lambda container: container["securityContext"].__setitem__("privileged", True))),
      ("kubernetes-pod-require-restricted-security", WORKLOADS)),
    m("k8s-host-network", P, "Superset's web pod joins the host network",
      inputs(WORKLOADS, _pod(lambda spec: spec.__setitem__("hostNetwork", True))),
      ("kubernetes-pod-require-restricted-security", WORKLOADS)),
    m("k8s-writable-root", P, "Superset's web container gets a writable root filesystem",
      inputs(WORKLOADS, _container(
          lambda container: container["securityContext"].__setitem__("readOnlyRootFilesystem", False))),
      ("kubernetes-pod-require-restricted-security", WORKLOADS)),
    m("k8s-self-exempt-annotation", P, "a workload exempts itself from the restricted-pod policy by annotation",
      together(
          inputs(WORKLOADS, lambda document: document["metadata"].__setitem__("annotations", {
              "dataplatform/policy-exemptions": "kubernetes-pod-require-restricted-security",
              "dataplatform/exemption-reason": "needs root"})),
          inputs(WORKLOADS, _container(lambda container: container["securityContext"].__setitem__(
              "readOnlyRootFilesystem", False)))),
      ("pack-exemption-require-allow-list", WORKLOADS), ("kubernetes-pod-require-restricted-security", WORKLOADS)),
    m("k8s-exemption-root-only-adds-capability", P, "Fluent Bit, exempt from the restricted-pod policy's root and "
      "hostPath checks only, also adds NET_ADMIN back",
      setting("platform-runtime-fluent-bit", ("values", "securityContext", "capabilities", "add"), ["NET_ADMIN"]),
      ("kubernetes-pod-require-restricted-security", "platform-runtime-fluent-bit")),
    m("k8s-exemption-root-only-privileged", P, "Fluent Bit, exempt from the root and hostPath checks only, becomes "
      "privileged", setting("platform-runtime-fluent-bit", ("values", "securityContext", "privileged"), True),
      ("kubernetes-pod-require-restricted-security", "platform-runtime-fluent-bit")),
    m("k8s-no-limits", P, "Dremio's coordinator loses its resource limits",
      inputs(COORDINATOR, _container(lambda container: container.pop("resources", None))),
      ("kubernetes-container-require-resource-limits", COORDINATOR)),
    m("k8s-latest-image", P, "Superset's web image is tagged latest",
      inputs(WORKLOADS, _container(lambda container: container.__setitem__(
          "image", "ghcr.io/dataplatform/superset:latest"))),
      ("kubernetes-image-disallow-latest-tag", WORKLOADS)),
    m("k8s-env-literal-password", P, "Superset's Redis password is a literal env value",
      inputs(WORKLOADS, _container(lambda container: container["env"].append(
          {"name": "CACHE_PASSWORD", "value": "r3dis-pa55"}))),
      ("kubernetes-secret-disallow-plaintext", WORKLOADS)),
    m("k8s-env-password-in-url", P, "a database URL with its password is a literal env value",
      inputs(WORKLOADS, _container(lambda container: container["env"].append(
          {"name": "DATABASE_URL", "value": "postgresql://superset:Pa55w0rd@db.example:5432/superset"}))),
      ("kubernetes-secret-disallow-plaintext", WORKLOADS)),
    m("k8s-service-load-balancer", P, "Dremio's client Service becomes an internet-facing LoadBalancer",
      setting("platform-lakehouse-dremio-client-service", "spec.type", "LoadBalancer"),
      ("kubernetes-service-disallow-public-load-balancer", "platform-lakehouse-dremio-client-service")),
    m("k8s-service-node-port", P, "Superset's Service becomes a NodePort",
      setting("platform-presentation-superset-web-service", "spec.type", "NodePort"),
      ("kubernetes-service-disallow-node-port", "platform-presentation-superset-web-service")),
    m("k8s-namespace-privileged", P, "the lakehouse namespace enforces the privileged profile",
      setting("platform-runtime-ns-lakehouse", ("metadata", "labels", "pod-security.kubernetes.io/enforce"),
              "privileged"),
      ("kubernetes-namespace-require-restricted-pod-security", "platform-runtime-ns-lakehouse")),
    m("k8s-default-deny-removed", P, "the lakehouse namespace loses its default-deny NetworkPolicy",
      lambda recording: recording.resources.remove(
          recording.named("platform-runtime-netpol-lakehouse-default-deny")),
      ("kubernetes-namespace-require-network-policy", "platform-runtime-ns-lakehouse")),
    m("k8s-netpol-allow-all-ingress", P, "Dremio's ingress policy gains a rule that admits every source",
      inputs("platform-runtime-netpol-lakehouse-dremio-coordinator-ingress", _netpol_rule("ingress", {})),
      ("kubernetes-network-policy-disallow-open-ingress",
       "platform-runtime-netpol-lakehouse-dremio-coordinator-ingress")),
    m("k8s-netpol-ingress-any-address", P, "Superset's ingress admits 0.0.0.0/0",
      inputs("platform-runtime-netpol-presentation-superset-web-ingress", _netpol_rule("ingress", {
          "from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 8088.0}]})),
      ("kubernetes-network-policy-disallow-open-ingress", "platform-runtime-netpol-presentation-superset-web-ingress")),
    m("k8s-netpol-egress-anywhere-all-ports", P, "Dremio may reach any address on any port",
      inputs("platform-runtime-netpol-lakehouse-dremio-coordinator-egress", _netpol_rule("egress", {
          "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]})),
      ("kubernetes-network-policy-disallow-open-egress",
       "platform-runtime-netpol-lakehouse-dremio-coordinator-egress")),
    m("k8s-release-root", P, "the Valkey release runs its container as root",
      setting("platform-runtime-redis", "values.securityContext.runAsNonRoot", False),
      ("kubernetes-pod-require-restricted-security", "platform-runtime-redis")),
    m("k8s-release-tls-off", P, "the Valkey release switches TLS off",
      setting("platform-runtime-redis", "values.tls.enabled", False),
      ("kubernetes-endpoint-require-tls", "platform-runtime-redis")),
    m("k8s-release-load-balancer", P, "the Valkey release's Service becomes a LoadBalancer",
      setting("platform-runtime-redis", "values.service.type", "LoadBalancer"),
      ("kubernetes-service-disallow-public-load-balancer", "platform-runtime-redis")),
    m("k8s-release-node-port", P, "the Valkey replica Service becomes a NodePort",
      setting("platform-runtime-redis", "values.replica.service.type", "NodePort"),
      ("kubernetes-service-disallow-node-port", "platform-runtime-redis")),
    m("k8s-release-latest-image", P, "the Valkey release's image tag is latest",
      setting("platform-runtime-redis", "values.image.tag", "latest"),
      ("kubernetes-image-disallow-latest-tag", "platform-runtime-redis")),
    m("k8s-release-no-limits", P, "the Valkey release loses its resource limits",
      removing("platform-runtime-redis", "values.resources"),
      ("kubernetes-container-require-resource-limits", "platform-runtime-redis")),
    m("k8s-shared-privileged-account", P, "the launcher's Role may exec into pods, and two debugging Deployments "
      "reuse its service account",
      together(appending("platform-ingestion-launcher-role", "rules", {
                   "apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}),
               copy_of(WORKLOADS, "platform-ingestion-debug-shell", _shares_launcher_account),
               copy_of(WORKLOADS, "platform-ingestion-debug-shell-2", _shares_launcher_account)),
      ("kubernetes-serviceaccount-disallow-shared-privileged", "platform-ingestion-launcher-account")),
    m("k8s-dremio-backup-suspended", P, "the Dremio backup CronJob is suspended",
      setting("platform-lakehouse-dremio-backup", "spec.suspend", True),
      ("dremio-backup-require-schedule", "platform-lakehouse-dremio-backup")),
]


DEV_ONLY = [
    m("minio-public-bucket", D, "a MinIO bucket is public-read",
      setting("platform-lake-gold", "acl", "public-read"),
      ("minio-s3-bucket-disallow-public-access", "platform-lake-gold")),
    m("minio-provider-no-tls", D, "the MinIO provider talks plain HTTP",
      setting("platform-lake-minio", "minioSsl", "false"),
      ("minio-provider-require-tls", "platform-lake-minio")),
    m("minio-policy-star", D, "the query engine's MinIO policy allows s3:*",
      document("platform-lake-query-engine-policy",
               lambda parsed: parsed["Statement"][1].__setitem__("Action", ["s3:*"])),
      ("minio-iam-policy-disallow-wildcard-access", "platform-lake-query-engine-policy"),
      ("aws-iam-policy-require-catalog-access", "platform-lake-query-engine-policy")),
    m("minio-policy-all-buckets", D, "the query engine's MinIO policy reads arn:aws:s3:::*",
      document("platform-lake-query-engine-policy",
               lambda parsed: parsed["Statement"][1].__setitem__("Resource", ["arn:aws:s3:::*/*"])),
      ("aws-iam-policy-disallow-wildcard-buckets", "platform-lake-query-engine-policy"),
      ("aws-iam-policy-require-catalog-access", "platform-lake-query-engine-policy")),
    m("minio-encryption-removed", D, "a MinIO bucket's encryption is removed",
      lambda recording: recording.resources.remove(recording.named("platform-lake-silver-encryption")),
      ("minio-s3-bucket-enable-encryption", "platform-lake-silver")),
    m("minio-versioning-suspended", D, "a MinIO bucket's versioning is suspended",
      setting("platform-lake-silver-versioning", "versioningConfiguration.status", "Suspended"),
      ("minio-s3-bucket-enable-versioning", "platform-lake-silver")),
    m("minio-noncurrent-expiry-dropped", D, "a MinIO bucket keeps deleted versions forever",
      inputs("platform-lake-bronze-lifecycle", lambda document: [
          rule.pop("noncurrentVersionExpirationDays", None) for rule in document["rules"]]),
      ("minio-s3-bucket-configure-noncurrent-version-expiry", "platform-lake-bronze")),
    m("minio-audit-expires-early", D, "the MinIO audit bucket expires logs after 7 days",
      inputs("platform-lake-logs-lifecycle", lambda document: document["rules"].append(
          {"id": "early", "status": "Enabled", "expiration": "7d"})),
      ("minio-s3-bucket-configure-log-retention", "platform-lake-logs")),
    m("minio-force-destroy", D, "a MinIO bucket sets forceDestroy",
      setting("platform-lake-gold", "forceDestroy", True),
      ("minio-s3-bucket-require-deletion-protection", "platform-lake-gold")),
    m("cnpg-pgaudit-off", D, "the CloudNativePG cluster logs no DDL",
      setting("platform-metadata-cluster", ("spec", "postgresql", "parameters", "pgaudit.log"), "none"),
      ("postgresql-server-configure-pgaudit", "platform-metadata-cluster")),
    m("cnpg-no-scheduled-backup", D, "the CloudNativePG cluster loses its scheduled backup",
      lambda recording: recording.resources.remove(recording.named("platform-metadata-scheduled-backup")),
      ("postgresql-cluster-require-backups", "platform-metadata-cluster")),
]


MUTATIONS = [*AWS, *POSTGRESQL, *DREMIO, *SUPERSET, *ELASTICSEARCH, *AIRBYTE, *KUBERNETES, *DEV_ONLY]
