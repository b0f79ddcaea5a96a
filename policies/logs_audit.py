"""Elasticsearch: who reaches the logs without a login, and who may touch the audit indices.

Anonymous access is Elasticsearch's `xpack.security.authc.anonymous.*` settings in a node's `elasticsearch.yml`,
which ECK builds from each nodeSet's `config` (dotted keys and nested mappings are the same setting): with
`xpack.security.authc.anonymous.roles` set, a request without credentials runs as a user holding those roles, and
without roles there is no anonymous user ("Anonymous access settings" in
elastic/elasticsearch/docs/reference/elasticsearch/configuration-reference/security-settings.md@main; our reading
of the vendor's documentation).

The audit indices (`auditIndices`, the program's audit index patterns, written into the pack's config by
`make policy-config`) are append-only: the roles that ship logs into them (`auditWriters`) may create documents and
indices only, the roles that read them (`auditReaders`) may read only, and no other role holds any privilege on an
index an audit pattern takes. An index pattern "takes" an audit index when either pattern matches the other (a
wider `platform-*`, a narrower `platform-audit-2026.01.01`); a regular expression (`/.../`) is tried on an audit
index name. Which roles may read the audit trail is the security team's decision, so widening it changes this
config; a role given access against the catalog's matrix elsewhere is judged by the access policies.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from .common import UNKNOWN, items, known, resource_policy, setting

ELASTICSEARCH = "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch"
ES_ROLE = "pulumi-python:dynamic/elasticsearch:Role"
ANONYMOUS_PREFIX = "xpack.security.authc.anonymous."
AUDIT_INDICES = ["platform-audit-*"]
AUDIT_READERS = ["log-reader"]
AUDIT_WRITERS = ["log-writer"]
# Index privileges that only add to an index (`create_doc` indexes new documents only, `create` also through the
# `_create` API, `create_index` creates the index; the security privileges page of Elasticsearch's reference) and
# those that only read.
APPEND_PRIVILEGES = {"create_doc", "create", "create_index"}
READ_PRIVILEGES = {"read", "view_index_metadata", "monitor", "read_cross_cluster"}


def _flat(config: Any, prefix: str = "") -> dict[str, Any]:
    """A nodeSet's `config` as elasticsearch.yml reads it: nested mappings joined into dotted keys."""
    flat: dict[str, Any] = {}
    if not isinstance(config, Mapping):
        return flat
    for key in list(iter(config)):
        value = known(config, key)
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _roles(value: Any) -> list[str]:
    if isinstance(value, str):
        return [role.strip() for role in value.split(",") if role.strip()]
    return [str(role) for role in items(value) if role not in (None, "")]


def _validate_anonymous(args, report_violation) -> None:
    if args.resource_type != ELASTICSEARCH:
        return
    name = known(args.props, "metadata", "name")
    found = []
    for node_set in items(known(args.props, "spec", "nodeSets")):
        settings = {key: value for key, value in _flat(known(node_set, "config")).items()
                    if key.startswith(ANONYMOUS_PREFIX)}
        roles = settings.get(f"{ANONYMOUS_PREFIX}roles")
        if roles is UNKNOWN or _roles(roles):
            seen = "unknown at preview" if roles is UNKNOWN else ", ".join(_roles(roles))
            found.append(f"nodeSet {known(node_set, 'name')}: {ANONYMOUS_PREFIX}roles is {seen}")
    if found:
        report_violation(
            f"Elasticsearch '{name if isinstance(name, str) else args.name}' lets requests without credentials in "
            f"as an anonymous user ({'; '.join(found)}); remove the {ANONYMOUS_PREFIX}* settings from every nodeSet's "
            "config so every request authenticates, and give each reader a user of its own.")


disallow_anonymous = resource_policy(
    "elasticsearch-cluster-disallow-anonymous-access",
    "DP-ES-010",
    "Elasticsearch admits no anonymous user",
    f"No nodeSet of an ECK `Elasticsearch` sets `{ANONYMOUS_PREFIX}roles` (as a dotted key or nested mappings) to "
    "a role: with it, Elasticsearch runs every request without credentials as an anonymous user holding those "
    "roles. The other anonymous settings (`username`, `authz_exception`) alone give no access.",
    Severity.CRITICAL,
    ["access"],
    f"Remove {ANONYMOUS_PREFIX}roles (and the other anonymous settings) from the nodeSets' config.",
    _validate_anonymous,
)


# ---- the audit indices ---------------------------------------------------------------------------------------


def _sample(pattern: str) -> str:
    """An index name an audit pattern takes, to try a regular expression on."""
    return pattern.replace("*", "2026.01.01")


def _takes(name: Any, audit: list[str]) -> bool:
    if not isinstance(name, str) or not name:
        return False
    if name.startswith("/") and name.endswith("/") and len(name) > 1:
        try:
            return any(re.fullmatch(name[1:-1], _sample(pattern)) for pattern in audit)
        except re.error:
            return True  # Elasticsearch would refuse it; never let an unreadable pattern pass
    return any(fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(pattern, name) for pattern in audit)


def audit_privileges(role: Any, audit: list[str]) -> set[str]:
    """The index privileges a role document holds on the audit indices."""
    held: set[str] = set()
    for entry in items(known(role, "indices")):
        if any(_takes(name, audit) for name in items(known(entry, "names"))):
            held |= {str(privilege) for privilege in items(known(entry, "privileges"))}
    return held


def _role_name(args: Any) -> str:
    name = known(args.props, "name")
    return name if isinstance(name, str) else args.name


def _audit_facts(args: Any) -> tuple[list[str], set[str], set[str]]:
    return (setting(args, "auditIndices", AUDIT_INDICES), set(setting(args, "auditReaders", AUDIT_READERS)),
            set(setting(args, "auditWriters", AUDIT_WRITERS)))


def _validate_tampering(args, report_violation) -> None:
    if args.resource_type != ES_ROLE:
        return
    audit, _, writers = _audit_facts(args)
    name = _role_name(args)
    held = audit_privileges(known(args.props, "role"), audit)
    allowed = READ_PRIVILEGES | (APPEND_PRIVILEGES if name in writers else set())
    beyond = sorted(held - allowed)
    if beyond:
        appends = sorted(held & APPEND_PRIVILEGES - allowed)
        fix = ("only the audit writers (`auditWriters`: " + ", ".join(sorted(writers)) + ") may append, and "
               if appends else "")
        report_violation(
            f"Elasticsearch role '{name}' holds {', '.join(beyond)} on the audit indices ({', '.join(audit)}), with "
            f"which it could change or remove the audit trail; {fix}a writer holds only "
            f"{', '.join(sorted(APPEND_PRIVILEGES))} there: drop the other privileges or narrow the role's index "
            "names so no audit index matches them.")


disallow_audit_tampering = resource_policy(
    "elasticsearch-role-disallow-audit-tampering",
    "DP-ES-011",
    "The audit indices are append-only",
    "No Elasticsearch `Role` holds a privilege on an index the audit patterns (`auditIndices`) take but "
    f"{', '.join(sorted(APPEND_PRIVILEGES))} (only the roles of `auditWriters`) and the read privileges "
    "(`read`, `view_index_metadata`, `monitor`, `read_cross_cluster`): no `all`, `write`, `index`, `delete`, "
    "`delete_index`, `manage` on them. A pattern takes an audit index when either matches the other.",
    Severity.CRITICAL,
    ["audit", "access"],
    "Give the writer only create_doc and create_index on the audit indices, and narrow any other role's index names.",
    _validate_tampering,
    config={
        "auditIndices": {"type": "array", "items": {"type": "string"}, "default": AUDIT_INDICES,
                         "description": "The audit index patterns (the program's, `make policy-config`)."},
        "auditWriters": {"type": "array", "items": {"type": "string"}, "default": AUDIT_WRITERS,
                         "description": "The roles that append to the audit indices."},
    },
)


def _validate_audit_reads(args, report_violation) -> None:
    if args.resource_type != ES_ROLE:
        return
    audit, readers, _ = _audit_facts(args)
    name = _role_name(args)
    reads = sorted(audit_privileges(known(args.props, "role"), audit) & READ_PRIVILEGES)
    if reads and name not in readers:
        report_violation(
            f"Elasticsearch role '{name}' may read the audit indices ({', '.join(reads)} on {', '.join(audit)}), "
            f"and only {', '.join(sorted(readers)) or 'no role'} may (`auditReaders`); narrow its index names so no "
            "audit index matches them, or have the security team add the role to `auditReaders` in "
            "policies/config/<stack>.json.")


disallow_audit_reads = resource_policy(
    "elasticsearch-role-disallow-audit-reads",
    "DP-ES-012",
    "Only the audit readers read the audit indices",
    "No Elasticsearch `Role` but those of `auditReaders` (the security team's list in the pack's per-stack config) "
    "holds a read privilege (`read`, `view_index_metadata`, `monitor`, `read_cross_cluster`) on an index the audit "
    "patterns (`auditIndices`) take.",
    Severity.HIGH,
    ["audit", "access"],
    "Narrow the role's index names so they take no audit index, or list the role in `auditReaders`.",
    _validate_audit_reads,
    config={
        "auditIndices": {"type": "array", "items": {"type": "string"}, "default": AUDIT_INDICES,
                         "description": "The audit index patterns (the program's, `make policy-config`)."},
        "auditReaders": {"type": "array", "items": {"type": "string"}, "default": AUDIT_READERS,
                         "description": "The roles that may read the audit indices (the security team's list)."},
    },
)


POLICIES = [disallow_anonymous, disallow_audit_tampering, disallow_audit_reads]
