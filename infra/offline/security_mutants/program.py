"""Mistakes in the stack config, the catalog and the component code: the program is run again on each, so what the
pack judges is what the program would declare (or the config model refuses it, exit 2)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from unittest import mock

from infra.offline.security_mutants.bench import Mutation

P = "prod"
BUCKETS = ("access-logs", "airbyte", "backups", "bronze", "dremio-store", "gold", "logs", "silver")
PG_MATRIX = "postgresql-grant-require-catalog-access"


def _config(document: dict[str, Any], path: str, value: Any) -> None:
    """Set `dataplatform:<section>` key `a.b.c` in a stack file's document (a missing mapping is created)."""
    section, *rest = path.split(".")
    node = document["config"].setdefault(f"dataplatform:{section}", {})
    if not rest:
        document["config"][f"dataplatform:{section}"] = value
        return
    for part in rest[:-1]:
        node = node.setdefault(part, {})
    node[rest[-1]] = value


def config(id: str, what: str, path: str, value: Any, *expect: tuple[str, str], refused: bool = False,
           missing: str = "", secure: bool = False) -> Mutation:
    return Mutation(id=id, layer="config", stack=P, what=what,
                    change=lambda stack, catalog: _config(stack, path, value), expect=frozenset(expect),
                    refused=refused, missing=missing, secure=secure)


def _role(catalog: dict[str, Any], name: str) -> dict[str, Any]:
    return next(role for role in catalog["roles"] if role["name"] == name)


def catalog(id: str, what: str, change, *expect: tuple[str, str], refused: bool = False,
            missing: str = "") -> Mutation:
    return Mutation(id=id, layer="catalog", stack=P, what=what, change=lambda stack, doc: change(doc),
                    expect=frozenset(expect), refused=refused, missing=missing)


def code(id: str, what: str, patch, *expect: tuple[str, str], missing: str = "") -> Mutation:
    return Mutation(id=id, layer="code", stack=P, what=what, change=patch, expect=frozenset(expect),
                    missing=missing)


@contextlib.contextmanager
def _tls_statement_allows_http() -> Iterator[None]:
    from components.storage import access

    def weakened(bucket: str) -> dict:
        statement = access.tls_only_statement(bucket)
        statement["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}
        return statement

    with mock.patch("components.storage.component.tls_only_statement", weakened):
        yield


@contextlib.contextmanager
def _analyst_permissions(*extra: list[str]) -> Iterator[None]:
    from components.presentation import spec

    original = spec.analyst_permissions
    with mock.patch.object(spec, "analyst_permissions", lambda catalog: [*original(catalog), *extra]):
        yield


@contextlib.contextmanager
def _superset_override(key: str, text: str) -> Iterator[None]:
    from components.presentation import spec

    with mock.patch.dict(spec.CONFIG_OVERRIDES, {key: text}):
        yield


PROGRAM = [
    config("config-protect-off", "the prod stack file switches `protect` off", "protect", False,
           *(("aws-storage-require-deletion-protection", f"platform-lake-{bucket}") for bucket in BUCKETS),
           ("aws-storage-require-deletion-protection", "platform-lake-kms"),
           ("aws-storage-require-deletion-protection", "platform-metadata-key"),
           refused=True),
    config("config-encryption-off", "the prod stack file switches bucket encryption off", "storage.encryption",
           False, refused=True),
    config("config-versioning-off", "the prod stack file switches versioning off", "storage.versioning", False,
           refused=True),
    config("config-object-lock-7", "audit object lock for 7 days", "storage.objectLockDays", 7, refused=True),
    config("config-audit-days-30", "audit retention 30 days", "retention.auditDays", 30, refused=True),
    config("config-force-destroy", "buckets may be destroyed with their objects", "storage.forceDestroy", True,
           refused=True),
    config("config-kms-deletion-window-7", "the lake key's deletion window is 7 days",
           "storage.s3.kmsDeletionWindowDays", 7, ("aws-kms-key-configure-deletion-window", "platform-lake-kms")),
    config("config-no-oidc-provider", "the prod stack file drops the cluster's OIDC provider, so the workloads "
           "would go back to access keys", "storage.s3.oidcProviderArn", None, refused=True),
    config("config-rds-backups-1", "RDS keeps backups one day", "metadata.backupRetentionDays", 1, refused=True),
    config("config-rds-deletion-protection-off", "RDS deletion protection off", "metadata.deletionProtection",
           False, refused=True),
    config("config-dremio-community", "prod runs Dremio Community (no access control)", "lakehouse.edition",
           "community", ("dremio-edition-require-access-control", "platform-lakehouse-source-lake")),
    config("config-audit-snapshots-7", "audit snapshots kept 7 days", "logs.snapshots.auditDays", 7, refused=True),
    config("config-api-source-http", "the REST source is fetched over plain HTTP", "ingestion.sources.api.url",
           "http://api.apilayer.com/exchangerates_data", refused=True),
    config("config-api-source-password-in-url", "the REST source's URL carries a password",
           "ingestion.sources.api.url", "https://user:s3cret@api.apilayer.com/exchangerates_data", refused=True),
    config("config-webhook-plaintext", "the on-call webhook URL (a credential) is written in plain text",
           "alerting.receivers.oncall-webhook.webhook.url", "https://hooks.example.com/T000/B000/XXXXXXXX",
           refused=True),
    config("config-email-password-plaintext", "the team mailbox's SMTP password is written in plain text beside the "
           "encrypted webhook", "alerting.receivers.team-email.email.password", "smtp-Pa55word", refused=True),
    catalog("catalog-analyst-reads-bronze", "the catalog gives the analyst bronze",
            lambda doc: _role(doc, "analyst")["reads"].append("bronze"),
            ("dremio-grants-require-least-privilege", "platform-lakehouse-grants-bronze"),
            # The catalog alone does not widen access: the matrix in policies/config/prod.json (the security
            # team's file) still says what the analyst may reach on PostgreSQL, until `make policy-config` is run.
            *((PG_MATRIX, f"platform-metadata-{name}") for name in (
                "default-analyst-airbyte-bronze", "default-analyst-data-engineer-bronze",
                "default-analyst-ingestion-bronze", "default-analyst-migrator-bronze", "schema-analyst-bronze",
                "tables-analyst-bronze"))),
    catalog("catalog-analyst-writes-gold", "the catalog lets the analyst write gold",
            lambda doc: _role(doc, "analyst").__setitem__("writes", ["gold"]),
            ("dremio-grants-require-least-privilege", "platform-lakehouse-grants-gold"),
            *((PG_MATRIX, f"platform-metadata-{name}") for name in (
                "default-analyst-dbt-gold", "default-analyst-migrator-gold", "default-analyst-transformation-gold",
                "default-bi-analyst-gold", "default-query-engine-analyst-gold", "default-transformation-analyst-gold",
                "schema-analyst-gold", "tables-analyst-gold"))),
    catalog("catalog-query-engine-writes", "the catalog lets the query engine write bronze",
            lambda doc: _role(doc, "query_engine").__setitem__("writes", ["bronze"]),
            ("dremio-grants-require-least-privilege", "platform-lakehouse-grants-bronze"), refused=True),
    code("code-tls-deny-inverted", "the deny-HTTP statement's condition is inverted in the storage component",
         _tls_statement_allows_http,
         *(("aws-s3-bucket-require-tls", f"platform-lake-{bucket}") for bucket in BUCKETS)),
    code("code-analyst-can-write", "the presentation component gives the analyst can_write on dashboards",
         lambda: _analyst_permissions(["can_write", "Dashboard"]),
         ("superset-role-require-read-only-analyst", "platform-presentation-role-analyst"),
         ("superset-role-require-catalog-access", "platform-presentation-role-analyst")),
    code("code-superset-talisman-off", "the presentation component's hardening part turns Talisman off",
         lambda: _superset_override("hardening", "TALISMAN_ENABLED = False\nWTF_CSRF_ENABLED = True\n"
                                    "SESSION_COOKIE_SECURE = True\nSESSION_COOKIE_HTTPONLY = True\n"),
         ("superset-config-enable-talisman", "platform-presentation-superset-pythonpath")),
]

MUTATIONS = PROGRAM
