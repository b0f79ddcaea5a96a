"""Mistakes in what the platform's own identities hold (issue 19's identity findings), each stopped by a policy of
policies/identity.py, and secure variants written differently from the baseline that must pass."""

from __future__ import annotations

from infra.offline.security_mutants.bench import Mutation
from infra.offline.security_mutants.edits import (
    document,
    removing,
    setting,
    statement_edited,
    together,
)

P = "prod"
D = "dev"
INSTANCE = "platform-metadata-instance"
METADATA_KEY = "platform-metadata-key"
EVENTS_KEY = "platform-metadata-events-key"
LAKE_KEY = "platform-lake-kms"
LAKE_KEY_POLICY = "platform-lake-kms-policy"
VALKEY = "platform-runtime-redis"
LOGS_SID = "CloudWatchLogsUsesKeyForTheInstanceLogGroup"


def m(id: str, stack: str, what: str, change, *expect: tuple[str, str], missing: str = "") -> Mutation:
    return Mutation(id=id, layer="resource", stack=stack, what=what, change=change, expect=frozenset(expect),
                    missing=missing)


def secure(id: str, stack: str, what: str, change) -> Mutation:
    return Mutation(id=id, layer="resource", stack=stack, what=what, change=change, secure=True)


def _without_login_defaults(login: str):
    def change(recording) -> None:
        recording.resources[:] = [
            resource for resource in recording.resources
            if not (resource.type == "postgresql:index/defaultPrivileges:DefaultPrivileges"
                    and resource.inputs.get("owner") == login)]
    return change


def _drop_condition(item: dict) -> None:
    item.pop("Condition", None)


def _drop_via_service(item: dict) -> None:
    del item["Condition"]["StringEquals"]["kms:ViaService"]


def _add_action(*actions: str):
    def edit(item: dict) -> None:
        item["Action"] = [*item["Action"], *actions]
    return edit


def _logs_arn_equals(item: dict) -> None:
    item["Condition"] = {"ArnEquals": item["Condition"]["ArnLike"]}


def _source_account_dropped(parsed: dict) -> None:
    for item in parsed["Statement"]:
        if item.get("Sid") == "AllowServerAccessLogDelivery":
            del item["Condition"]["StringEquals"]


MUTATIONS = [
    m("rds-master-password-unmanaged", P, "the RDS instance stops letting RDS manage the master password",
      setting(INSTANCE, "manageMasterUserPassword", False),
      ("aws-rds-instance-require-managed-master-password", INSTANCE)),
    m("rds-master-password-input", P, "the RDS instance is given its master password again (it lands in state)",
      together(removing(INSTANCE, "manageMasterUserPassword"), setting(INSTANCE, "password", "[secret]")),
      ("aws-rds-instance-require-managed-master-password", INSTANCE)),
    m("rds-master-secret-default-key", P, "the master-user secret is left under the account's default key",
      removing(INSTANCE, "masterUserSecretKmsKeyId"),
      ("aws-rds-instance-require-managed-master-password", INSTANCE)),
    m("log-group-unencrypted", P, "the RDS log group loses its KMS key",
      removing("platform-metadata-log-group", "kmsKeyId"),
      ("aws-cloudwatch-log-group-require-kms", "platform-metadata-log-group")),
    m("key-policy-logs-unconditioned", P, "CloudWatch Logs may use the metadata key for any log group",
      statement_edited(METADATA_KEY, LOGS_SID, _drop_condition),
      ("aws-kms-key-policy-require-service-conditions", METADATA_KEY)),
    m("key-policy-rds-without-via-service", P, "the account may use the metadata key outside RDS",
      statement_edited(METADATA_KEY, "RdsUsesKeyForThisAccount", _drop_via_service),
      ("aws-kms-key-policy-require-service-conditions", METADATA_KEY)),
    m("key-policy-admin-create-grant", P, "the lake key's administrators may create grants (and so grant "
      "themselves Decrypt)", statement_edited(LAKE_KEY_POLICY, "AccountAdministersKey", _add_action("kms:Create*")),
      ("aws-kms-key-policy-require-service-conditions", LAKE_KEY)),
    m("key-policy-sns-publisher-unbound", P, "RDS's event service may use the events key for any topic",
      statement_edited(EVENTS_KEY, "RdsEventsPublishToTheTopic", _drop_condition),
      ("aws-kms-key-policy-require-service-conditions", EVENTS_KEY)),
    m("key-policy-default", P, "the RDS key is declared without a policy (AWS's default: root with kms:*)",
      removing(METADATA_KEY, "policy"),
      ("aws-kms-key-policy-require-service-conditions", METADATA_KEY)),
    m("log-delivery-without-source-account", P, "the access-log delivery statement loses aws:SourceAccount",
      document("platform-lake-access-logs-policy", _source_account_dropped),
      ("aws-s3-bucket-policy-require-source-account", "platform-lake-access-logs-policy")),
    m("identity-reads-old-versions", P, "the query engine may read deleted and overwritten versions",
      statement_edited("platform-lake-query-engine-s3", "ReadObjects", _add_action("s3:GetObjectVersion")),
      ("aws-iam-policy-disallow-object-versions", "platform-lake-query-engine-s3"),
      ("aws-iam-policy-require-catalog-access", "platform-lake-query-engine-s3")),
    m("minio-identity-reads-old-versions", D, "a MinIO identity may read old versions",
      document("platform-lake-transformation-policy",
               lambda parsed: parsed["Statement"][1]["Action"].append("s3:GetObjectVersion")),
      ("aws-iam-policy-disallow-object-versions", "platform-lake-transformation-policy"),
      ("aws-iam-policy-require-catalog-access", "platform-lake-transformation-policy")),
    m("log-shipper-deletes-audit", P, "the log shipper may delete what it shipped to the audit buckets",
      statement_edited("platform-lake-log-shipper-s3", "AppendObjects", _add_action("s3:DeleteObject")),
      ("aws-iam-policy-require-append-only-audit-writes", "platform-lake-log-shipper-s3"),
      ("aws-iam-policy-require-catalog-access", "platform-lake-log-shipper-s3")),
    m("log-shipper-deletes-audit-tag-renamed", P, "the access-log bucket's role tag is renamed and the log shipper "
      "may delete in it (the audit policies know the bucket by name)",
      together(setting("platform-lake-access-logs", "tags.dataplatform:role", "server-logs"),
               statement_edited("platform-lake-log-shipper-s3", "AppendObjects", _add_action("s3:DeleteObject"))),
      ("aws-iam-policy-require-append-only-audit-writes", "platform-lake-log-shipper-s3"),
      ("aws-iam-policy-require-catalog-access", "platform-lake-log-shipper-s3")),
    m("minio-log-shipper-deletes-audit", D, "the MinIO log shipper may delete audit objects",
      document("platform-lake-log-shipper-policy",
               lambda parsed: parsed["Statement"][0]["Action"].append("s3:DeleteObject")),
      ("aws-iam-policy-require-append-only-audit-writes", "platform-lake-log-shipper-policy"),
      ("aws-iam-policy-require-catalog-access", "platform-lake-log-shipper-policy")),
    m("pg-defaults-only-for-groups", P, "default privileges are declared for the group roles only, while Airbyte "
      "creates its tables as its login", _without_login_defaults("airbyte"),
      ("postgresql-default-privileges-require-creating-logins", "platform-metadata-login-airbyte")),
    m("valkey-default-user-all", P, "Valkey's default user gets every command again",
      setting(VALKEY, "values.auth.aclUsers.default.permissions", "~* &* +@all"),
      ("kubernetes-valkey-require-named-users", VALKEY)),
    m("valkey-superset-dangerous", P, "Superset's Valkey user keeps @admin and @dangerous",
      setting(VALKEY, "values.auth.aclUsers.superset.permissions", "~* &* +@all"),
      ("kubernetes-valkey-require-named-users", VALKEY)),
    m("valkey-probe-unauthenticated", P, "Valkey's liveness probe goes back to the chart's PING as no one",
      setting(VALKEY, "values.livenessProbe", {"enabled": True}),
      ("kubernetes-valkey-require-named-users", VALKEY)),
]

SECURE = [
    secure("secure-logs-condition-arn-equals", P, "the CloudWatch Logs statement binds the log group with ArnEquals",
           statement_edited(METADATA_KEY, LOGS_SID, _logs_arn_equals)),
    secure("secure-valkey-superset-all-minus-dangerous", P, "Superset's user written as +@all minus @admin and "
           "@dangerous", setting(VALKEY, "values.auth.aclUsers.superset.permissions",
                                 "~* &* +@all -@admin -@dangerous")),
    secure("secure-valkey-default-reset-then-off", P, "the default user switched off by `reset` then `off`",
           setting(VALKEY, "values.auth.aclUsers.default.permissions", "reset off")),
]
