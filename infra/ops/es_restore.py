"""Log and audit indices back from the Elasticsearch snapshots of the platform's snapshot lifecycle policies.

    python -m infra.ops.es_restore list [--policy POLICY | --repository NAME] [--indices PATTERN] [--json]
    python -m infra.ops.es_restore restore --indices PATTERN [--policy POLICY | --repository NAME]
        [--snapshot NAME | --before TIME] [--prefix restored-] [--replace-live] [--dry-run] [--json]
    make es-restore ARGS="restore --indices platform-audit-2026.03.* --dry-run"

Each SLM policy writes to a repository of its own, named after it (`platform-audit-snapshots`,
`job-log-snapshots`); a stack upgraded from the single shared repository may keep that one, `platform-backups`,
registered read-only (`logs.snapshots.legacyRepository`). The tool reads all of them that the cluster has registered,
unless `--policy` names one policy (its repository only) or `--repository` names any registered repository.

`list` prints the snapshots, oldest first: name, state, start time, the SLM policy that took it, its repository and
its indices (with `--indices`, only the snapshots holding a matching index, and only those indices).

`restore` restores the indices that PATTERN selects (comma-separated names, `*` as a wildcard) from one snapshot:
`--snapshot` names it (a name found in two repositories is refused: choose one with `--policy` or `--repository`);
otherwise it is the newest successful snapshot, in any of the repositories read, that holds every name and at least
one index for every wildcard of PATTERN (with `--before`, the newest started before that time: the state before a
mistake).

- By default each index comes back beside the live ones as `<prefix><index>` (`restored-platform-audit-2026.03.02`),
  without its aliases and without `index.lifecycle.name` (the restore request's `ignore_index_settings`): the
  snapshot holds the live index's settings, and its ILM policy counts the delete phase from the date in the index's
  name, so an audit index older than the retention would be deleted as soon as it is restored. A restored index
  has no lifecycle: delete it when done (`DELETE /restored-...`). A target name that already exists is refused
  before anything is written: delete it or choose another `--prefix`.
- `--replace-live` restores the indices under their own names, over the live ones: each live index it would replace
  is closed first (the server refuses to restore over an open index), the restore then replaces and reopens it with
  the snapshot's contents and settings, ILM policy included. What was written to it after the snapshot is lost, and
  the log shipper's writes to a closed index fail until it is reopened (Fluent Bit retries them). If the restore
  fails, the indices the tool closed are opened again.

`--dry-run` prints the plan (snapshot, indices, targets, what would be closed) and changes nothing. The last line
is a summary a person can read; `--json` prints one JSON document instead. The restore waits for completion
(`wait_for_completion`), up to `--timeout` seconds (one hour by default): a restore copies whole indices from the
bucket, so its time grows with their size.

Connection: `--url` (default the cluster's HTTP service, https://logs-es-http.dp-logs.svc.cluster.local:9200, reached
inside the cluster or through `kubectl port-forward` with that name mapped to 127.0.0.1, as docs/ci.md describes),
`--ca-file`, the CA the service's certificate is verified against (the stack CA: `ca.crt` of the Secret
`logs-es-http-certs-public` in `dp-logs`), `--username` (default `elastic`) and the password in the environment
variable `ES_PASSWORD` (never on the command line). The user needs the cluster privilege `manage` (the restore API
requires it: the 9.5 specification's `snapshot.restore`), which includes `monitor_snapshot` for the listings, and,
with `--replace-live`, the index privilege `manage` on the indices replaced (closing and opening them). ECK's
built-in `elastic` superuser (Secret `logs-es-elastic-user`) has them; docs/backup-and-restore.md shows how to
get both.

Exit status: 0 when the restore was done (or listed, with `--dry-run` or `list`), 1 when a call to the cluster failed
(the server's reason is printed), 2 for bad input (a pattern that is not an index name, an unknown snapshot, indices
the snapshot does not hold, a target that exists, a time without a zone, missing credentials or CA, a repository
that is not registered, no repository of the platform registered, credentials the cluster refuses).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from components.logs.spec import LEGACY_REPOSITORY, POLICIES, repository_of
from infra.ops.inputs import InputError, parse_time

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
DEFAULT_URL = "https://logs-es-http.dp-logs.svc.cluster.local:9200"
DEFAULT_USER = "elastic"
DEFAULT_PREFIX = "restored-"
PASSWORD_VARIABLE = "ES_PASSWORD"
DEFAULT_TIMEOUT_SECONDS = 3600.0
# The settings a restored copy leaves behind: its ILM policy would delete an index older than the retention at once.
IGNORED_SETTINGS = ["index.lifecycle.name"]
# The repositories the tool reads by default, those the cluster has registered of: each policy's own, then the one
# both policies shared before each got its own (kept read-only on upgraded stacks).
PLATFORM_REPOSITORIES = (*(repository_of(policy) for policy in POLICIES), LEGACY_REPOSITORY)
# Characters an index name may not contain (Elasticsearch's index name rules); `*` is allowed in a pattern only.
FORBIDDEN = set('\\/?"<>| ,#:')


class CallFailedError(Exception):
    """A call to the cluster failed; the message names the call and the server's reason."""


# ---- input ----------------------------------------------------------------------------------------------------


def parse_patterns(text: str) -> list[str]:
    """The comma-separated names and wildcards of `--indices`, checked against the index name rules."""
    patterns = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part for part in patterns):
        raise InputError(f"--indices {text!r} has an empty name")
    for pattern in patterns:
        bad = sorted(FORBIDDEN & set(pattern))
        if bad:
            raise InputError(f"--indices: {pattern!r} contains {' '.join(repr(char) for char in bad)}, which no "
                             "index name may contain")
        if pattern != pattern.lower():
            raise InputError(f"--indices: {pattern!r} has upper-case letters; index names are lower case")
        if pattern.startswith(("-", "+", "_")):
            raise InputError(f"--indices: {pattern!r} starts with {pattern[0]!r}: name the indices to restore "
                             "(exclusions are not supported)")
        if pattern.startswith("."):
            raise InputError(f"--indices: {pattern!r} names a hidden or system index; only the platform's log and "
                             "audit indices are restored")
    return patterns


def check_prefix(prefix: str) -> str:
    if not prefix:
        raise InputError("--prefix is empty: to restore over the live indices, say so with --replace-live")
    if prefix != prefix.lower() or FORBIDDEN & set(prefix) or "*" in prefix or prefix.startswith(("-", "+", "_", ".")):
        raise InputError(f"--prefix {prefix!r} would not make valid index names (lower case, no wildcard, no "
                         "leading - + _ .)")
    return prefix


# ---- snapshots ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    repository: str
    name: str
    state: str
    start_millis: int
    indices: tuple[str, ...]
    policy: str | None

    @property
    def started(self) -> str:
        return datetime.fromtimestamp(self.start_millis / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def matching(self, patterns: list[str]) -> list[str]:
        return sorted(index for index in self.indices if any(fnmatch.fnmatchcase(index, p) for p in patterns))

    def holds(self, patterns: list[str]) -> bool:
        """Every plain name, and at least one index for every wildcard."""
        return all(pattern in self.indices if "*" not in pattern else
                   any(fnmatch.fnmatchcase(index, pattern) for index in self.indices) for pattern in patterns)

    def as_json(self, patterns: list[str] | None = None) -> dict[str, Any]:
        return {"snapshot": self.name, "repository": self.repository, "state": self.state, "started": self.started,
                "policy": self.policy, "indices": self.matching(patterns) if patterns else list(self.indices)}


def _call(what: str, call):
    """One call to the cluster; its failures become InputError (refused credentials, no repository) or
    CallFailedError (anything else), with the server's reason."""
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    try:
        return call()
    except ApiError as error:
        status = error.meta.status
        cause = error.body.get("error") if isinstance(error.body, dict) else None
        cause = cause if isinstance(cause, dict) else {}
        reason = f"{cause.get('type', status)}: {cause.get('reason', error.message)}" if cause else str(error)
        if status == 401:
            raise InputError(f"{what}: the cluster refused the credentials ({reason})") from None
        if status == 403:
            raise InputError(f"{what}: the user lacks a privilege ({reason}); it needs the cluster privilege "
                             "`manage` (and `manage` on replaced indices)") from None
        if cause.get("type") == "repository_missing_exception":
            raise InputError(f"{what}: the repository is not registered ({reason}); `pulumi up` registers one per "
                             f"SLM policy: {described(list(PLATFORM_REPOSITORIES[:-1]))}") from None
        raise CallFailedError(f"{what} failed: {status} {reason}") from None
    except TransportError as error:
        raise CallFailedError(f"{what} failed: {type(error).__name__}: {error}") from None


def repositories(es, policy: str | None, repository: str | None) -> list[str]:
    """The repositories to read: the one `--repository` names, the one of `--policy`, or every repository of the
    platform the cluster has registered."""
    if repository is not None:
        return [repository]
    if policy is not None:
        return [repository_of(policy)]
    registered = _call("listing the snapshot repositories", lambda: es.snapshot.get_repository())
    found = [name for name in PLATFORM_REPOSITORIES if name in registered]
    if not found:
        raise InputError(f"the cluster has none of the platform's snapshot repositories "
                         f"({', '.join(PLATFORM_REPOSITORIES)}) registered; `pulumi up` registers them")
    return found


def described(names: list[str]) -> str:
    return ", ".join(names)


def list_snapshots(es, names: list[str]) -> list[Snapshot]:
    """Every snapshot of the repositories, oldest first."""
    found = []
    for repository in names:
        answer = _call(f"listing the snapshots of {repository}",
                       lambda repository=repository: es.snapshot.get(repository=repository, snapshot="_all"))
        found += [Snapshot(repository=repository, name=info["snapshot"], state=info.get("state", "UNKNOWN"),
                           start_millis=int(info.get("start_time_in_millis", 0)),
                           indices=tuple(sorted(info.get("indices", []))),
                           policy=info.get("metadata", {}).get("policy"))
                  for info in answer["snapshots"]]
    return sorted(found, key=lambda snapshot: (snapshot.start_millis, snapshot.repository, snapshot.name))


def choose(snapshots: list[Snapshot], patterns: list[str], name: str | None, before: datetime | None,
           names: list[str]) -> Snapshot:
    wanted = ",".join(patterns)
    if name is not None:
        named = [snapshot for snapshot in snapshots if snapshot.name == name]
        if not named:
            raise InputError(f"{described(names)} {'has' if len(names) == 1 else 'have'} no snapshot {name!r} "
                             "(`list` shows them)")
        if len(named) > 1:
            raise InputError(f"snapshot {name} is in {described([snapshot.repository for snapshot in named])}: "
                             "choose one with --policy or --repository")
        chosen = named[0]
        if chosen.state != "SUCCESS":
            raise InputError(f"snapshot {name} is {chosen.state}, not SUCCESS: choose another (`list` shows them)")
        if not chosen.holds(patterns):
            missing = [pattern for pattern in patterns if not chosen.matching([pattern])]
            raise InputError(f"snapshot {name} holds no index {', '.join(missing)} "
                             f"(`list --indices {wanted}` shows the snapshots that do)")
        return chosen
    limit = int(before.timestamp() * 1000) if before is not None else None
    candidates = [snapshot for snapshot in snapshots if snapshot.state == "SUCCESS" and snapshot.holds(patterns)
                  and (limit is None or snapshot.start_millis < limit)]
    if not candidates:
        when = f" started before {before.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}" if before is not None else ""
        raise InputError(f"no successful snapshot of {described(names)}{when} holds {wanted}")
    return candidates[-1]


# ---- the restore ----------------------------------------------------------------------------------------------


@dataclass
class Step:
    index: str
    target: str
    replaces: bool
    """The target exists now: closed, then replaced (only with --replace-live)."""


@dataclass
class Plan:
    snapshot: Snapshot
    replace_live: bool
    prefix: str
    steps: list[Step] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def repository(self) -> str:
        return self.snapshot.repository

    def request(self) -> dict[str, Any]:
        """The restore API's body (snapshot.restore.Request in the 9.5 specification)."""
        body: dict[str, Any] = {"indices": ",".join(step.index for step in self.steps), "ignore_unavailable": False,
                                "include_global_state": False, "partial": False}
        if not self.replace_live:
            body |= {"rename_pattern": "^(.+)$", "rename_replacement": f"{self.prefix}$1",
                     "include_aliases": False, "ignore_index_settings": list(IGNORED_SETTINGS)}
        return body

    def summary(self, dry_run: bool) -> str:
        count = len(self.steps)
        noun = f"{count} {'index' if count == 1 else 'indices'}"
        source = f"{self.repository}:{self.snapshot.name} (started {self.snapshot.started})"
        if self.error:
            reopened = f"; reopened {', '.join(self.reopened)}" if self.reopened else ""
            return f"es-restore: FAILED to restore {noun} from {source}: {self.error}{reopened}"
        verb = "would restore" if dry_run else "restored"
        if self.replace_live:
            replaced = sum(1 for step in self.steps if step.replaces)
            closing = "closing" if dry_run else "closed"
            return (f"es-restore: {verb} {noun} from {source} over the live ones ({replaced} {closing} and "
                    f"replaced, {count - replaced} missing and recreated)")
        return (f"es-restore: {verb} {noun} from {source} as {self.prefix}<index>, without "
                f"{', '.join(IGNORED_SETTINGS)}")

    def as_json(self, dry_run: bool) -> dict[str, Any]:
        return {"repository": self.repository, "snapshot": self.snapshot.as_json(), "dryRun": dry_run,
                "replaceLive": self.replace_live, "steps": [asdict(step) for step in self.steps],
                "request": self.request(), "closed": self.closed, "reopened": self.reopened,
                "restored": self.restored, "error": self.error, "summary": self.summary(dry_run)}


def _exists(es, index: str) -> bool:
    return bool(_call(f"looking up index {index}", lambda: es.indices.exists(index=index)))


def plan(es, names: list[str], patterns: list[str], snapshot_name: str | None, before: datetime | None,
         prefix: str, replace_live: bool) -> Plan:
    snapshot = choose(list_snapshots(es, names), patterns, snapshot_name, before, names)
    result = Plan(snapshot, replace_live, prefix)
    for index in snapshot.matching(patterns):
        target = index if replace_live else f"{prefix}{index}"
        result.steps.append(Step(index, target, replaces=_exists(es, target)))
    taken = [step.target for step in result.steps if step.replaces and not replace_live]
    if taken:
        raise InputError(f"{', '.join(taken)} already exist{'s' if len(taken) == 1 else ''}: delete "
                         f"{'it' if len(taken) == 1 else 'them'} (DELETE /<index>) or choose another --prefix; "
                         "--replace-live restores over the live indices instead")
    return result


def carry_out(es, result: Plan, timeout: float) -> None:
    replaced = [step.target for step in result.steps if step.replaces]
    try:
        for index in replaced:
            _call(f"closing {index}", lambda index=index: es.indices.close(index=index))
            result.closed.append(index)
        body = result.request()
        answer = _call(f"restoring from {result.repository}:{result.snapshot.name}", lambda: es.options(
            request_timeout=timeout).snapshot.restore(repository=result.repository,
                                                      snapshot=result.snapshot.name,
                                                      wait_for_completion=True, **body))
        restored = answer.get("snapshot", {})
        result.restored = sorted(restored.get("indices", []))
        failed = restored.get("shards", {}).get("failed", 0)
        if failed:
            result.error = f"{failed} shard{'s' if failed != 1 else ''} failed to restore"
    except CallFailedError as error:
        result.error = str(error)
        for index in result.closed:
            try:
                _call(f"opening {index}", lambda index=index: es.indices.open(index=index))
                result.reopened.append(index)
            except (CallFailedError, InputError) as reopen:
                result.error += f"; {index} stays closed ({reopen}): POST /{index}/_open"


# ---- command line ---------------------------------------------------------------------------------------------


def connect(url: str, username: str, password: str | None, ca_file: Path | None, timeout: float):
    from components.logs.provider import client

    if not password:
        raise InputError(f"no password: set {PASSWORD_VARIABLE} (docs/backup-and-restore.md says where it is)")
    if ca_file is None:
        raise InputError("--ca-file is required: the CA the cluster's certificate is verified against")
    if not ca_file.is_file():
        raise InputError(f"--ca-file {ca_file} does not exist")
    if not url.startswith("https://"):
        raise InputError(f"--url {url!r} is not https: the cluster speaks TLS only")
    return client({"url": url, "username": username, "password": password, "ca_pem": ca_file.read_text(),
                   "timeout": timeout})


def run_list(es, names: list[str], patterns: list[str] | None, as_json: bool, out) -> int:
    snapshots = list_snapshots(es, names)
    if patterns:
        snapshots = [snapshot for snapshot in snapshots if snapshot.matching(patterns)]
    scope = f" holding {','.join(patterns)}" if patterns else ""
    span = f" ({snapshots[0].started} to {snapshots[-1].started})" if snapshots else ""
    plural = "s" if len(snapshots) != 1 else ""
    verb = "has" if len(names) == 1 else "have"
    summary = f"es-restore: {described(names)} {verb} {len(snapshots)} snapshot{plural}{scope}{span}"
    if as_json:
        print(json.dumps({"repositories": names, "snapshots": [s.as_json(patterns) for s in snapshots],
                          "summary": summary}, indent=2), file=out)
        return EXIT_OK
    for snapshot in snapshots:
        indices = snapshot.matching(patterns) if patterns else list(snapshot.indices)
        print(f"  {snapshot.name}  {snapshot.state}  {snapshot.started}  policy {snapshot.policy or '-'}  "
              f"repository {snapshot.repository}  {len(indices)} {'index' if len(indices) == 1 else 'indices'}: "
              f"{', '.join(indices)}", file=out)
    print(summary, file=out)
    return EXIT_OK


@dataclass(frozen=True)
class RestoreRequest:
    """What `restore` was asked, checked."""

    patterns: list[str]
    snapshot: str | None
    before: datetime | None
    prefix: str
    replace_live: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RestoreRequest:
        if args.replace_live and args.prefix != DEFAULT_PREFIX:
            raise InputError("--prefix and --replace-live exclude each other: --replace-live keeps the indices' "
                             "names")
        return cls(patterns=parse_patterns(args.indices), snapshot=args.snapshot,
                   before=parse_time(args.before, "--before") if args.before else None,
                   prefix="" if args.replace_live else check_prefix(args.prefix), replace_live=args.replace_live)


def run_restore(es, names: list[str], request: RestoreRequest, dry_run: bool, as_json: bool, timeout: float,
               out) -> int:
    result = plan(es, names, request.patterns, request.snapshot, request.before, request.prefix,
                  request.replace_live)
    if not dry_run:
        carry_out(es, result, timeout)
    if as_json:
        print(json.dumps(result.as_json(dry_run), indent=2), file=out)
    else:
        for step in result.steps:
            action = "replace" if step.replaces else "restore"
            print(f"  {action:<8} {step.index} -> {step.target}", file=out)
        print(result.summary(dry_run), file=out)
    return EXIT_FAILED if result.error else EXIT_OK


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=DEFAULT_URL, help=f"the cluster's HTTPS endpoint (default {DEFAULT_URL})")
    common.add_argument("--ca-file", type=Path, help="CA (PEM) that verifies the cluster's certificate")
    common.add_argument("--username", default=DEFAULT_USER, help=f"default {DEFAULT_USER}; the password comes "
                        f"from {PASSWORD_VARIABLE}")
    source = common.add_mutually_exclusive_group()
    source.add_argument("--policy", choices=POLICIES, help="read only this SLM policy's repository (default: every "
                        "repository of the platform the cluster has registered)")
    source.add_argument("--repository", help=f"read only this registered repository (such as {LEGACY_REPOSITORY}, "
                        "the read-only one of an upgraded stack)")
    common.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    common.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS,
                        help="seconds a call may take, the restore included (default 3600)")
    top = argparse.ArgumentParser(prog="python -m infra.ops.es_restore", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", parents=[common], help="the snapshots and their indices")
    listing.add_argument("--indices", help="only snapshots holding these indices (names, * wildcards, commas)")
    restore = commands.add_parser("restore", parents=[common], help="indices back from a snapshot")
    restore.add_argument("--indices", required=True, help="the indices to restore (names, * wildcards, commas)")
    which = restore.add_mutually_exclusive_group()
    which.add_argument("--snapshot", help="the snapshot (default: the newest successful one holding the indices)")
    which.add_argument("--before", help="the newest snapshot started before this time (ISO 8601 with a zone)")
    restore.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"the restored copies' prefix (default "
                         f"{DEFAULT_PREFIX})")
    restore.add_argument("--replace-live", action="store_true",
                         help="close the live indices and restore over them, under their own names")
    restore.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    return top


def main(argv: list[str] | None = None, out=None, environ: dict[str, str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = out or sys.stdout
    environ = os.environ if environ is None else environ
    try:
        if args.command == "list":
            patterns = parse_patterns(args.indices) if args.indices else None
            es = connect(args.url, args.username, environ.get(PASSWORD_VARIABLE), args.ca_file, args.timeout)
            return run_list(es, repositories(es, args.policy, args.repository), patterns, args.json, out)
        request = RestoreRequest.from_args(args)
        es = connect(args.url, args.username, environ.get(PASSWORD_VARIABLE), args.ca_file, args.timeout)
        return run_restore(es, repositories(es, args.policy, args.repository), request, args.dry_run, args.json,
                           args.timeout, out)
    except InputError as error:
        print(f"es-restore: {error}", file=sys.stderr)
        return EXIT_INPUT
    except CallFailedError as error:
        print(f"es-restore: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
