"""The role-to-layer matrix: what every principal of a stack may do on every access surface, derived from the
catalog's roles (infra/dataflow.yaml) and the stack config by the same pure helpers the components declare their
grants with, and written by `make policy-config` into the settings of the pack's matrix policies
(policies/matrix.py, `dremio-grants-require-least-privilege`) in `policies/config/<stack>.json`.

The pack imports nothing of the program (docs/decisions/0015-self-contained-pack.md), so the matrix reaches it as
data; the file is the security team's (`.github/CODEOWNERS`), and a drift test fails when it differs from what this
module derives. Widening access is therefore a change to the catalog or to a component's grant helper, and to that
file: a grant the matrix does not imply, written into a resource by any other route, is a violation.

Surfaces and their keys:
- `aws-iam-policy-require-catalog-access` (`principals`): the physical name of each IAM user or role (S3) or MinIO
  user -> S3 resource ARN -> the S3 actions its identity policy may allow there; (`conditions`): identity -> ARN ->
  action -> the condition (operator -> key -> values) every statement allowing that action there must carry, for
  the grants the program narrows by a condition (today the `s3:prefix` of a prefix writer's ListBucket);
- `postgresql-grant-require-catalog-access` (`roles`): PostgreSQL role -> granted object -> privileges, objects as
  `database/<db>`, `schema/<db>/<schema>`, `table/<db>/<schema>/*` (every table), `table/<db>/<schema>/<table>`
  and `default/<db>/<schema>/<owner>` (default privileges on the owner's new tables); (`memberships`): every
  PostgreSQL role the program declares -> the group roles it may be a member of (a login its service's catalog
  role, a group and the migrator none);
- `dremio-grants-require-least-privilege` (`grants`): catalog path (a layer space or a lake source) -> grantee
  (`USER:<name>` or `ROLE:<name>`) -> privileges;
- `superset-role-require-catalog-access` (`roles`): Superset role -> `[permission, view]` pairs;
- `elasticsearch-role-require-catalog-access` (`roles`, `users`): role -> cluster privileges and index pattern ->
  privileges; user -> roles.
Plus the stack's AWS accounts (`aws.allowedAccountIds`) as `accountIds` of the foreign-principal policies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from components.lakehouse import spec as lakehouse_spec
from components.logs import exporter as logs_exporter
from components.logs import spec as logs_spec
from components.metadata.access import MIGRATOR, PLATFORM_DATABASE, access_model
from components.platform import DATABASE_LOGINS, PREFIX_WRITERS, SERVICE_BUCKETS, prefix_grants
from components.presentation import spec as presentation_spec
from components.storage.access import bucket_policy_document, identities, prefix_policy_document
from components.storage.component import bucket_names
from infra.model.catalog import Catalog, load_catalog
from infra.model.config import StackConfig
from infra.model.naming import physical_name

IAM = "aws-iam-policy-require-catalog-access"
POSTGRESQL = "postgresql-grant-require-catalog-access"
DREMIO = "dremio-grants-require-least-privilege"
SUPERSET = "superset-role-require-catalog-access"
ELASTICSEARCH = "elasticsearch-role-require-catalog-access"
FOREIGN_KEY_POLICY = "aws-kms-key-policy-disallow-foreign-principals"
FOREIGN_BUCKET_POLICY = "aws-s3-bucket-policy-disallow-foreign-principals"
FOREIGN_TRUST_POLICY = "aws-iam-role-trust-disallow-foreign-principals"

# Policy id -> the settings of it this module writes.
SETTING_KEYS: dict[str, tuple[str, ...]] = {
    IAM: ("principals", "conditions"), POSTGRESQL: ("roles", "memberships"), DREMIO: ("grants",), SUPERSET: ("roles",),
    ELASTICSEARCH: ("roles", "users"), FOREIGN_KEY_POLICY: ("accountIds",), FOREIGN_BUCKET_POLICY: ("accountIds",),
    FOREIGN_TRUST_POLICY: ("accountIds",),
}
# The settings above that name the program's own principals and resources (the rest, `accountIds`, name the stack's
# AWS accounts, which the pack's test fixtures share with the prod stack).
PRINCIPAL_KEYS: dict[str, tuple[str, ...]] = {
    name: tuple(key for key in keys if key != "accountIds") for name, keys in SETTING_KEYS.items()}


def _s3_grants(documents: Iterable[str]) -> dict[str, list[str]]:
    """Resource ARN -> S3 actions, from the Allow statements of identity policy documents."""
    grants: dict[str, set[str]] = {}
    for document in documents:
        for statement in json.loads(document)["Statement"]:
            if statement.get("Effect") != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for resource in resources:
                grants.setdefault(resource, set()).update(action for action in actions if action.startswith("s3:"))
    return {resource: sorted(actions) for resource, actions in sorted(grants.items()) if actions}


def _s3_conditions(documents: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Resource ARN -> S3 action -> the condition every Allow statement granting it carries: a grant some statement
    makes without a condition is unconditioned and recorded nowhere; two different conditions on one grant are a
    programming error (which one the pack should demand would be a guess)."""
    seen: dict[tuple[str, str], list[Any]] = {}
    for document in documents:
        for statement in json.loads(document)["Statement"]:
            if statement.get("Effect") != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for resource in resources:
                for action in actions:
                    if action.startswith("s3:"):
                        seen.setdefault((resource, action), []).append(statement.get("Condition"))
    conditions: dict[str, dict[str, Any]] = {}
    for (resource, action), found in sorted(seen.items()):
        if any(condition is None for condition in found):
            continue
        if any(condition != found[0] for condition in found):
            raise ValueError(f"{action} on {resource} is allowed under different conditions: {found}")
        conditions.setdefault(resource, {})[action] = found[0]
    return conditions


def _identity_documents(config: StackConfig, catalog: Catalog) -> dict[str, str]:
    """Physical identity name -> its S3 identity policy document, for every identity the storage layer declares on
    this stack (catalog roles with `storage: true`, service bucket writers, prefix writers)."""
    stack = config.identity
    names = bucket_names(stack, SERVICE_BUCKETS)
    documents = {}
    for identity in identities(catalog, SERVICE_BUCKETS, prefix_grants(config)):
        documents[physical_name(stack.name_prefix, stack.stack, identity.name)] = bucket_policy_document(
            identity, names)
    with_writers = config.storage.backend == "minio" or bool(config.storage.s3_settings.oidc_provider_arn)
    for writer in PREFIX_WRITERS if with_writers else ():
        documents[physical_name(stack.name_prefix, stack.stack, writer.name)] = prefix_policy_document(writer, names)
    return dict(sorted(documents.items()))


def iam_matrix(config: StackConfig, catalog: Catalog) -> dict[str, dict[str, list[str]]]:
    """Physical identity name -> S3 resource ARN -> actions, for every identity the storage layer declares."""
    return {name: _s3_grants([document]) for name, document in _identity_documents(config, catalog).items()}


def iam_conditions(config: StackConfig, catalog: Catalog) -> dict[str, dict[str, dict[str, Any]]]:
    """Physical identity name -> S3 resource ARN -> action -> the condition its grant carries, for the identities
    whose policy narrows a grant by a condition."""
    found = {name: _s3_conditions([document]) for name, document in _identity_documents(config, catalog).items()}
    return {name: conditions for name, conditions in found.items() if conditions}


def postgresql_matrix(catalog: Catalog) -> dict[str, dict[str, list[str]]]:
    """PostgreSQL role -> object -> privileges, as components/metadata/component.py grants them."""
    model = access_model(catalog, DATABASE_LOGINS)
    roles: dict[str, dict[str, set[str]]] = {}

    def grant(role: str, target: str, privileges: Iterable[str]) -> None:
        roles.setdefault(role, {}).setdefault(target, set()).update(privileges)

    database = PLATFORM_DATABASE
    for access in model.schema_access:
        grant(access.role, f"database/{database}", ["CONNECT"])
        grant(access.role, f"schema/{database}/{access.schema}", access.schema_privileges)
        if access.table_privileges:
            grant(access.role, f"table/{database}/{access.schema}/*", access.table_privileges)
    for default in model.default_access:
        grant(default.role, f"default/{database}/{default.schema}/{default.owner}", default.privileges)
    for table_access in model.table_access:
        for table in table_access.tables:
            grant(table_access.role, f"table/{database}/{table_access.schema}/{table}", table_access.privileges)
    assert MIGRATOR not in roles, "the migrator owns the schemas; it is granted nothing"
    return {role: {target: sorted(privileges) for target, privileges in sorted(targets.items())}
            for role, targets in sorted(roles.items())}


def postgresql_memberships(catalog: Catalog) -> dict[str, list[str]]:
    """PostgreSQL role -> the group roles it is a member of, as components/metadata/component.py declares them
    (`postgresql.Role(roles=...)`): each login its service's catalog role, the groups and the migrator none."""
    model = access_model(catalog, DATABASE_LOGINS)
    memberships = {group: [] for group in model.groups}
    memberships.update({login: sorted(groups) for login, groups in model.logins.items()})
    return dict(sorted(memberships.items()))


def dremio_matrix(catalog: Catalog) -> dict[str, dict[str, list[str]]]:
    """Catalog path -> grantee (`USER:<name>`, `ROLE:<name>`) -> privileges: the layer spaces' grants and the lake
    sources'."""
    bodies = {**lakehouse_spec.grants_by_layer(lakehouse_spec.space_grants(catalog)),
              **lakehouse_spec.source_grants(catalog)}
    return {path: {f"{grant['granteeType']}:{grant['name']}": sorted(grant["privileges"])
                   for grant in sorted(body, key=lambda grant: (grant["granteeType"], grant["name"]))}
            for path, body in sorted(bodies.items())}


def superset_matrix(catalog: Catalog) -> dict[str, list[list[str]]]:
    """Superset role -> the `[permission, view]` pairs components/presentation declares for it. The analyst may also
    read any single dataset of the Dremio database (`datasource_access` on `[dremio].*`): Superset reaches Dremio as
    the `bi` role's user, whom the Dremio matrix gives gold alone, so a dataset there is a gold dataset."""
    dataset_reads = [["datasource_access", f"[{presentation_spec.DATABASE_NAME}].*"]]
    return {
        presentation_spec.ANALYST_ROLE: sorted(presentation_spec.analyst_permissions(catalog) + dataset_reads),
        presentation_spec.IMPORTER_ROLE: sorted(presentation_spec.importer_permissions()),
    }


# Cluster privileges that change nothing and read no document (cluster health, node and snapshot status): a role
# the log layer marks read-only (`metadata.access: read`) may hold them beside its index reads.
READ_ONLY_CLUSTER = ("monitor", "monitor_snapshot")


def elasticsearch_matrix(config: StackConfig) -> dict[str, Any]:
    """Elasticsearch role -> its cluster privileges and index pattern -> privileges; user -> roles. A read-only
    role may also hold the read-only cluster privileges."""
    families = logs_spec.families(config.logs.job_log_days, config.retention.audit_days)
    bodies = {logs_spec.WRITER_ROLE: logs_spec.writer_role(families),
              logs_spec.READER_ROLE: logs_spec.reader_role(families),
              logs_exporter.EXPORTER_ROLE: logs_exporter.role()}
    roles = {}
    for name, body in sorted(bodies.items()):
        indices: dict[str, set[str]] = {}
        for entry in body["indices"]:
            for pattern in entry["names"]:
                indices.setdefault(pattern, set()).update(entry["privileges"])
        cluster = {*body["cluster"], *(READ_ONLY_CLUSTER if body["metadata"].get("access") == "read" else ())}
        roles[name] = {"cluster": sorted(cluster),
                       "indices": {pattern: sorted(privileges) for pattern, privileges in sorted(indices.items())}}
    users = {logs_spec.SHIPPER_USER: [logs_spec.WRITER_ROLE],
             logs_exporter.EXPORTER_USER: [logs_exporter.EXPORTER_ROLE]}
    return {"roles": roles, "users": dict(sorted(users.items()))}


def matrix_settings(config: StackConfig, catalog: Catalog | None = None) -> dict[str, dict[str, Any]]:
    """Policy id -> the matrix facts its settings carry for this stack."""
    catalog = catalog if catalog is not None else load_catalog()
    accounts = {"accountIds": list(config.aws.allowed_account_ids) if config.aws is not None else []}
    return {
        IAM: {"principals": iam_matrix(config, catalog), "conditions": iam_conditions(config, catalog)},
        POSTGRESQL: {"roles": postgresql_matrix(catalog), "memberships": postgresql_memberships(catalog)},
        DREMIO: {"grants": dremio_matrix(catalog)},
        SUPERSET: {"roles": superset_matrix(catalog)},
        ELASTICSEARCH: elasticsearch_matrix(config),
        FOREIGN_KEY_POLICY: accounts,
        FOREIGN_BUCKET_POLICY: accounts,
        FOREIGN_TRUST_POLICY: accounts,
    }
