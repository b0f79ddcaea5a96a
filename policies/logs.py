"""Logs: the ECK Elasticsearch cluster and the Elasticsearch objects the dynamic providers create."""

from __future__ import annotations

import fnmatch
import re

from pulumi_policy import Severity

from .common import MIN_AUDIT_DAYS, UNKNOWN, items, known, number, of_type, resource_policy, setting, stack_policy

ELASTICSEARCH = "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch"
ILM_POLICY = "pulumi-python:dynamic/elasticsearch:IlmPolicy"
ES_ROLE = "pulumi-python:dynamic/elasticsearch:Role"
SNAPSHOT_REPOSITORY = "pulumi-python:dynamic/elasticsearch:SnapshotRepository"
SLM_POLICY = "pulumi-python:dynamic/elasticsearch:SlmPolicy"
AUDIT_POLICIES = ["platform-audit"]
AUDIT_INDICES = ["platform-audit-*"]
# Cluster privileges that amount to administering the cluster or its security.
BROAD_CLUSTER_PRIVILEGES = {"all", "manage", "manage_security", "manage_api_key", "manage_own_api_key",
                            "manage_service_account", "manage_token", "grant_api_key"}
DAYS = {"d": 1.0, "h": 1 / 24, "m": 1 / 1440, "s": 1 / 86400, "ms": 1 / 86_400_000}


def _validate_tls(args, report_violation) -> None:
    if args.resource_type != ELASTICSEARCH:
        return
    tls = known(args.props, "spec", "http", "tls")
    disabled = known(tls, "selfSignedCertificate", "disabled") is True
    own_certificate = isinstance(known(tls, "certificate", "secretName"), str)
    if disabled and not own_certificate:
        name = known(args.props, "metadata", "name") or args.name
        report_violation(f"Elasticsearch '{name}' serves HTTP without TLS; remove selfSignedCertificate.disabled or "
                         "set http.tls.certificate.secretName.")


require_tls = resource_policy(
    "elasticsearch-cluster-require-tls",
    "DP-ES-001",
    "Elasticsearch clusters serve HTTP over TLS",
    "No ECK `Elasticsearch` disables its HTTP certificate (`http.tls.selfSignedCertificate.disabled`) without "
    "naming a certificate Secret of its own.",
    Severity.HIGH,
    ["transport"],
    "Keep TLS on: give http.tls.certificate.secretName a cert-manager certificate.",
    _validate_tls,
)


def _days(value) -> float | None:
    match = re.fullmatch(r"(\d+)(d|h|m|s|ms)", value) if isinstance(value, str) else None
    return int(match[1]) * DAYS[match[2]] if match else None


def _delete_phase(policy) -> tuple[bool, float | None]:
    delete = known(policy, "phases", "delete")
    if not delete or known(delete, "actions", "delete") is None:
        return False, None
    return True, _days(known(delete, "min_age") or "0ms")


def _validate_delete_phase(args, report_violation) -> None:
    if args.resource_type != ILM_POLICY:
        return
    policy = known(args.props, "policy")
    if policy is UNKNOWN:
        return
    present, _ = _delete_phase(policy)
    if not present:
        report_violation(f"ILM policy '{known(args.props, 'name') or args.name}' never deletes; add a delete phase "
                         "with a delete action.")


require_delete_phase = resource_policy(
    "elasticsearch-ilm-require-delete-phase",
    "DP-ES-002",
    "Every ILM policy ends in a delete phase",
    "Every Elasticsearch `IlmPolicy` has a `delete` phase with a `delete` action, so indices do not grow forever.",
    Severity.MEDIUM,
    ["retention"],
    "Add a delete phase with a delete action and the index family's retention as min_age.",
    _validate_delete_phase,
)


def _validate_audit_retention(args, report_violation) -> None:
    if args.resource_type != ILM_POLICY:
        return
    name = known(args.props, "name")
    if name not in setting(args, "auditPolicies", AUDIT_POLICIES):
        return
    minimum = setting(args, "minDays", MIN_AUDIT_DAYS)
    _, days = _delete_phase(known(args.props, "policy"))
    if days is not None and days < minimum:
        report_violation(f"ILM policy '{name}' deletes audit indices after {days:g} days; set its delete phase "
                         f"min_age to at least {minimum}d.")


configure_audit_retention = resource_policy(
    "elasticsearch-ilm-configure-audit-retention",
    "DP-ES-003",
    "Audit indices are kept at least 90 days",
    "The ILM policies of audit indices (`auditPolicies`) delete no earlier than `minDays` (90) after the date "
    "in the index name.",
    Severity.HIGH,
    ["audit", "retention"],
    "Set the audit ILM policy's delete phase min_age to at least 90d.",
    _validate_audit_retention,
    config={
        "minDays": {"type": "integer", "minimum": 1, "default": MIN_AUDIT_DAYS,
                    "description": "Fewest days an audit index is kept."},
        "auditPolicies": {"type": "array", "items": {"type": "string"}, "default": AUDIT_POLICIES,
                          "description": "Names of the ILM policies that govern audit indices."},
    },
)


def _validate_cluster_privileges(args, report_violation) -> None:
    if args.resource_type != ES_ROLE:
        return
    role = known(args.props, "role")
    broad = sorted(str(privilege) for privilege in items(known(role, "cluster"))
                   if privilege in BROAD_CLUSTER_PRIVILEGES or "*" in str(privilege))
    everything = [str(name) for entry in items(known(role, "indices")) for name in items(known(entry, "names"))
                  if name == "*"]
    if broad or everything:
        found = ", ".join([*broad, *(["indices *"] if everything else [])])
        report_violation(f"Elasticsearch role '{known(args.props, 'name') or args.name}' grants {found}; give "
                         "application roles only the cluster privileges and index patterns they use.")


disallow_cluster_wildcards = resource_policy(
    "elasticsearch-role-disallow-wildcard-privileges",
    "DP-ES-004",
    "Application roles hold no wildcard or administrative privileges",
    "No Elasticsearch `Role` the platform declares grants `all`, `manage`, security-administration or wildcard "
    "cluster privileges, or privileges on the index pattern `*`.",
    Severity.HIGH,
    ["access"],
    "Grant the role only the named cluster privileges and index patterns it needs.",
    _validate_cluster_privileges,
)


# What a read-only role may hold: index privileges that read documents or metadata, and the cluster privileges
# that read cluster state, health and node info, and the snapshot repositories and their snapshots (or one of the
# `cluster:monitor/...` actions).
READ_INDEX_PRIVILEGES = {"read", "view_index_metadata", "monitor", "read_cross_cluster"}
READ_CLUSTER_PRIVILEGES = {"monitor", "monitor_snapshot"}
READ_CLUSTER_ACTIONS = "cluster:monitor/"


def _reader(props) -> bool:
    name = known(props, "name")
    return known(props, "role", "metadata", "access") == "read" or (isinstance(name, str) and name.endswith("-reader"))


def _validate_reader_roles(args, report_violation) -> None:
    if args.resource_type != ES_ROLE or not _reader(args.props):
        return
    role = known(args.props, "role")
    index = sorted({str(privilege) for entry in items(known(role, "indices"))
                    for privilege in items(known(entry, "privileges")) if privilege not in READ_INDEX_PRIVILEGES})
    cluster = sorted(str(privilege) for privilege in items(known(role, "cluster"))
                     if privilege not in READ_CLUSTER_PRIVILEGES
                     and not str(privilege).startswith(READ_CLUSTER_ACTIONS))
    run_as = [str(user) for user in items(known(role, "run_as"))]
    found = [*(f"index {privilege}" for privilege in index), *(f"cluster {privilege}" for privilege in cluster),
             *(f"run_as {user}" for user in run_as)]
    if found:
        report_violation(f"Elasticsearch role '{known(args.props, 'name') or args.name}' is a reader but grants "
                         f"{', '.join(found)}; a reader holds only read, view_index_metadata (indices) and monitor "
                         "or monitor_snapshot (cluster).")


require_read_only_readers = resource_policy(
    "elasticsearch-role-require-read-only-readers",
    "DP-ES-005",
    "Reader roles cannot write",
    "An Elasticsearch `Role` marked read-only (`metadata.access: read`, or a name ending in `-reader`) holds only "
    "the index privileges `read`, `view_index_metadata`, `monitor` and `read_cross_cluster`, only the cluster "
    "privileges `monitor` and `monitor_snapshot` (or `cluster:monitor/...` actions), and no `run_as`.",
    Severity.HIGH,
    ["access"],
    "Drop the write, delete and administrative privileges from the reader, or give the writing identity a role "
    "of its own.",
    _validate_reader_roles,
)


# ---- snapshots ------------------------------------------------------------------------------------------------


def _covers(patterns: list[str], wanted: str) -> bool:
    """Whether an SLM policy's index patterns take every index `wanted` (itself a pattern) names."""
    return any(isinstance(pattern, str) and fnmatch.fnmatchcase(wanted, pattern) for pattern in patterns)


def _cron_count(field: str, first: int, size: int) -> int | None:
    """How many values one field of SLM's cron takes (`5`, `1,13`, `0/6`, `*/6`, `*`); None: not understood."""
    if field in ("*", "?"):
        return size
    count = 0
    for part in field.split(","):
        if re.fullmatch(r"\d+", part):
            count += 1
        elif match := re.fullmatch(r"(\*|\d+)/(\d+)", part):
            start = first if match[1] == "*" else int(match[1])
            step = int(match[2])
            if step == 0 or start >= first + size:
                return None
            count += len(range(start, first + size, step))
        else:
            return None
    return count


def _per_day(schedule) -> int | None:
    """Snapshots a daily-or-more-often SLM cron takes a day; None for other schedules (weekly, monthly, ...)."""
    if not isinstance(schedule, str):
        return None
    fields = schedule.split()
    if len(fields) not in (6, 7) or fields[3] not in ("*", "?") or fields[4] != "*" or fields[5] not in ("*", "?"):
        return None
    counts = [_cron_count(fields[0], 0, 60), _cron_count(fields[1], 0, 60), _cron_count(fields[2], 0, 24)]
    if None in counts:
        return None
    return counts[0] * counts[1] * counts[2]


def _slm_shortfall(policy, minimum: int) -> str | None:
    """Why an SLM policy keeps its snapshots fewer than `minimum` days, or None."""
    retention = known(policy, "retention")
    if not retention or retention is UNKNOWN:
        return None  # no retention: SLM never deletes its snapshots
    expire = known(retention, "expire_after")
    days = _days(expire)
    if expire is not None and expire is not UNKNOWN and (days is None or days < minimum):
        return f"expire_after {expire} deletes a snapshot before it is {minimum} days old"
    most = number(known(retention, "max_count"))
    per_day = _per_day(known(policy, "schedule"))
    if most is not None and per_day is not None and most < per_day * minimum:
        return (f"max_count {most:g} deletes a snapshot before it is {minimum} days old (its schedule takes "
                f"{per_day * minimum} in {minimum} days)")
    return None


def _read_only(repository) -> bool:
    return str(known(repository.props, "repository", "settings", "readonly")).lower() == "true"


def _location(repository) -> tuple | None:
    """Where a repository writes (type, bucket, base path), or None where that is not known yet."""
    settings = known(repository.props, "repository", "settings")
    parts = (known(repository.props, "repository", "type"), known(settings, "bucket"), known(settings, "base_path"))
    if any(part is UNKNOWN for part in parts):
        return None
    return parts[0], parts[1], str(parts[2] or "").strip("/")


def _misdirected_writes(repositories, policies, reported: set[str]) -> list[str]:
    """SLM policies (beyond those `reported` already) writing to a repository the stack does not declare or declares
    read-only, where no snapshot is ever taken; and writers that would mix their snapshots: SLM policies sharing a
    repository (its per-repository alerts could not tell which one failed), writable repositories on one bucket
    path."""
    problems = []
    declared = {known(repository.props, "name"): repository for repository in repositories}
    writers: dict[str, list[str]] = {}
    for slm in policies:
        target = known(known(slm.props, "policy"), "repository")
        name = str(known(slm.props, "name") or slm.name)
        if not isinstance(target, str):
            continue
        writers.setdefault(target, []).append(name)
        if name in reported:
            continue
        if target not in declared:
            problems.append(f"SLM policy '{name}' writes to repository '{target}', which the stack does not declare; "
                            "declare it or point the policy at its own repository")
        elif _read_only(declared[target]):
            problems.append(f"SLM policy '{name}' writes to repository '{target}', which is read-only, so it takes "
                            "no snapshot; point the policy at a writable repository of its own")
    for target, names in sorted(writers.items()):
        if len(names) > 1:
            problems.append(f"SLM policies {', '.join(repr(name) for name in sorted(names))} write to one repository "
                            f"'{target}', so its snapshot alerts cannot tell which one failed; give each policy a "
                            "repository of its own (components/logs/spec.py)")
    places: dict[tuple, list[str]] = {}
    for repository in repositories:
        location = _location(repository)
        if location is not None and not _read_only(repository):
            places.setdefault(location, []).append(str(known(repository.props, "name") or repository.name))
    for (_, bucket, path), names in sorted(places.items()):
        if len(names) > 1:
            problems.append(f"repositories {', '.join(repr(name) for name in sorted(names))} both write to bucket "
                            f"'{bucket}' under '{path}' and would overwrite each other's snapshots; give each a "
                            "base_path of its own or make all but one read-only")
    return problems


def _validate_snapshots(args, report_violation) -> None:
    minimum = setting(args, "minDays", MIN_AUDIT_DAYS)
    wanted = setting(args, "auditIndices", AUDIT_INDICES)
    declared = of_type(args.resources, SNAPSHOT_REPOSITORY)
    repositories = {known(repository.props, "name") for repository in declared}
    read_only = {known(repository.props, "name") for repository in declared if _read_only(repository)}
    policies = of_type(args.resources, SLM_POLICY)
    for cluster in of_type(args.resources, ELASTICSEARCH):
        name = known(cluster.props, "metadata", "name") or cluster.name
        problems = []
        reported = set()
        if not repositories:
            problems.append("has no snapshot repository")
        for pattern in wanted:
            covering, shortfalls, elsewhere = [], [], []
            for slm in policies:
                policy = known(slm.props, "policy")
                if policy is UNKNOWN:
                    covering.append(slm)  # cannot be judged at preview: give it the benefit of the doubt
                    continue
                indices = known(policy, "config", "indices")
                if indices is UNKNOWN:
                    covering.append(slm)
                    continue
                patterns = ["*"] if indices is None else (indices.split(",") if isinstance(indices, str)
                                                          else items(indices))
                if not _covers(patterns, pattern):
                    continue
                policy_name = known(slm.props, "name") or slm.name
                target = known(policy, "repository")
                if target is not UNKNOWN and target not in repositories:
                    reported.add(policy_name)
                    elsewhere.append(f"SLM policy '{policy_name}' writes to repository '{target}', which the stack "
                                     "does not declare")
                    continue
                if target in read_only:
                    reported.add(policy_name)
                    elsewhere.append(f"SLM policy '{policy_name}' writes to repository '{target}', which is "
                                     "read-only")
                    continue
                shortfall = _slm_shortfall(policy, minimum)
                if shortfall is None:
                    covering.append(slm)
                else:
                    shortfalls.append(f"SLM policy '{policy_name}' {shortfall}")
            if not covering:
                found = [*elsewhere, *shortfalls]
                problems.append(f"keeps no snapshot of {pattern} for {minimum} days"
                                + (f" ({'; '.join(found)})" if found else " (no SLM policy snapshots them)"))
        if problems:
            report_violation(f"Elasticsearch '{name}' {' and '.join(problems)}: its audit indices would die with "
                             "the cluster. Declare a snapshot repository on the backups bucket and an SLM policy "
                             f"that snapshots the audit indices and keeps each snapshot at least {minimum} days "
                             "(components/logs/spec.py).", cluster.urn)
        for problem in _misdirected_writes(declared, policies, reported):
            report_violation(f"Elasticsearch '{name}': {problem}.", cluster.urn)


require_snapshots = stack_policy(
    "elasticsearch-cluster-require-snapshots",
    "DP-ES-006",
    "Elasticsearch clusters snapshot their audit indices for the audit retention",
    "A stack with an ECK `Elasticsearch` declares a `SnapshotRepository` and, for each audit index pattern "
    "(`auditIndices`), an `SlmPolicy` whose `config.indices` take it, whose `repository` is a declared one and not "
    "`readonly`, and whose retention keeps every snapshot at least `minDays`: `expire_after` no shorter, and "
    "`max_count` (when the schedule is daily or more often) no lower than the snapshots the schedule takes in that "
    "time. Every other SLM policy also writes to a declared repository that is not `readonly`; no two SLM policies "
    "write to one repository (the snapshot alerts are per repository, so each must name one policy), and no two "
    "writable repositories share a bucket path. In prod a cluster without a repository (no "
    "`storage.s3.oidcProviderArn`, so no role for the nodes) fails it.",
    Severity.HIGH,
    ["audit", "retention"],
    "Set storage.s3.oidcProviderArn (prod) so the logs layer declares its SLM policies, each with its own repository "
    "on the backups bucket; keep logs.snapshots.auditDays unset or at least retention.auditDays.",
    _validate_snapshots,
    config={
        "minDays": {"type": "integer", "minimum": 1, "default": MIN_AUDIT_DAYS,
                    "description": "Fewest days each audit snapshot is kept (the stack's retention.auditDays)."},
        "auditIndices": {"type": "array", "items": {"type": "string"}, "default": AUDIT_INDICES,
                         "description": "The audit index patterns a snapshot lifecycle policy must take."},
    },
)


POLICIES = [require_tls, require_delete_phase, configure_audit_retention, disallow_cluster_wildcards,
            require_read_only_readers, require_snapshots]
