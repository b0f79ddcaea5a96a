"""infra/ops/es_restore.py against the Elasticsearch stand-in over TLS (tests/support/elasticsearch_server.py): the
snapshot policies and their own repositories declared as the program declares them, snapshots taken by running the
policies, then the listing (all repositories or one policy's), a restore beside the live indices without their ILM
policy, a restore over the live indices, the dry run, a failed restore, the input the tool refuses, and an upgraded
stack whose former shared repository stays read-only with its snapshots restorable. Every request and every answer
is held to the 9.5 specification (the fixture requires no violation and no refused request)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from elasticsearch import ApiError

from components.kit.rest import Retry
from components.logs import spec as logs_spec
from components.logs.provider import SlmPolicyProvider, SnapshotRepositoryProvider, client
from infra.ops import es_restore
from tests.support.elasticsearch_server import ADMIN, FakeElasticsearch
from tests.support.tls import make_pki

FAMILIES = logs_spec.families(job_log_days=14, audit_days=90)
POLICIES = logs_spec.snapshot_policies(FAMILIES, 90, 14, 24)
AUDIT_REPOSITORY, JOB_REPOSITORY = (policy.repository for policy in POLICIES)
BOTH = f"{AUDIT_REPOSITORY}, {JOB_REPOSITORY}"
BUCKET = "dataplatform-dev-backups"
# Settings a daily index gets from its template (components/logs/spec.py index_template), flat as the server keeps
# them; `refresh_interval` stands for the index's contents: the fake holds no documents.
AUDIT_SETTINGS = {"index.number_of_shards": "1", "index.number_of_replicas": "0",
                  "index.lifecycle.name": logs_spec.AUDIT_TRAIL, "index.lifecycle.parse_origination_date": "true",
                  "index.refresh_interval": "1s"}
JOB_SETTINGS = {**AUDIT_SETTINGS, "index.lifecycle.name": logs_spec.JOB_LOGS}
DAY1, DAY2 = "platform-audit-2026.01.01", "platform-audit-2026.01.02"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture()
def server(pki):
    with FakeElasticsearch.start(pki) as fake:
        yield fake
    assert fake.violations == [] and fake.refused == []


@pytest.fixture()
def ca_file(pki, tmp_path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text(pki.ca_pem)
    return path


def connection(server, pki) -> dict:
    return {"url": server.url, "username": ADMIN[0], "password": ADMIN[1], "ca_pem": pki.ca_pem, "timeout": 5}


def run_policy(server, pki, policy: str) -> str:
    return client(connection(server, pki)).slm.execute_lifecycle(policy_id=policy)["snapshot_name"]


def declare(server, pki, name: str, repository: dict, policies: dict[str, dict]) -> None:
    """A repository and SLM policies, through the program's providers."""
    SnapshotRepositoryProvider(Retry(sleep=lambda _: None)).create(
        {"connection": connection(server, pki), "name": name, "repository": repository})
    for policy_name, body in policies.items():
        SlmPolicyProvider(Retry(sleep=lambda _: None)).create(
            {"connection": connection(server, pki), "name": policy_name, "policy": body})


@pytest.fixture()
def snapshots(server, pki) -> dict[str, str]:
    """The program's policies, each with its own repository; day 1's audit and job-log indices, a snapshot of each
    family; day 2's audit index, a second audit snapshot. Returns the snapshots' names."""
    for policy in POLICIES:
        declare(server, pki, policy.repository, logs_spec.policy_repository(policy, BUCKET),
                {policy.name: logs_spec.slm_policy(policy)})
    server.add_index(DAY1, AUDIT_SETTINGS)
    server.add_index("airbyte-logs-2026.01.01", JOB_SETTINGS)
    taken = {"audit-1": run_policy(server, pki, logs_spec.AUDIT_SNAPSHOTS),
             "jobs-1": run_policy(server, pki, logs_spec.JOB_LOG_SNAPSHOTS)}
    server.add_index(DAY2, AUDIT_SETTINGS)
    taken["audit-2"] = run_policy(server, pki, logs_spec.AUDIT_SNAPSHOTS)
    server.requests.clear()
    return taken


def tool(server, ca_file, *arguments: str, password: str = ADMIN[1]) -> tuple[int, str]:
    out = io.StringIO()
    command, *rest = arguments
    status = es_restore.main([command, "--url", server.url, "--ca-file", str(ca_file), "--username", ADMIN[0],
                              *rest], out=out, environ={es_restore.PASSWORD_VARIABLE: password})
    return status, out.getvalue()


def restore_bodies(server) -> list[dict]:
    return [request.body for request in server.requests if request.endpoint == "snapshot.restore"]


def test_the_listing_shows_each_snapshot_with_its_indices_time_and_policy(server, ca_file, snapshots):
    status, output = tool(server, ca_file, "list")
    assert status == 0
    lines = output.splitlines()
    assert lines[-1] == (f"es-restore: {BOTH} have 3 snapshots (2026-01-01T00:00:03Z to "
                         "2026-01-01T00:00:05Z)")
    assert lines[0].split() == [snapshots["audit-1"], "SUCCESS", "2026-01-01T00:00:03Z", "policy",
                                "platform-audit-snapshots", "repository", AUDIT_REPOSITORY, "1", "index:", DAY1]
    assert lines[2].split()[-3:] == ["indices:", f"{DAY1},", DAY2]
    status, output = tool(server, ca_file, "list", "--indices", "airbyte-logs-*", "--json")
    document = json.loads(output)
    assert status == 0 and [entry["snapshot"] for entry in document["snapshots"]] == [snapshots["jobs-1"]]
    assert document["snapshots"][0] == {"snapshot": snapshots["jobs-1"], "repository": JOB_REPOSITORY,
                                        "state": "SUCCESS", "started": "2026-01-01T00:00:04Z",
                                        "policy": "job-log-snapshots", "indices": ["airbyte-logs-2026.01.01"]}
    status, output = tool(server, ca_file, "list", "--policy", "job-log-snapshots")
    assert status == 0 and output.splitlines()[-1] == (
        "es-restore: job-log-snapshots has 1 snapshot (2026-01-01T00:00:04Z to 2026-01-01T00:00:04Z)")
    assert server.writes() == [], "listing changes nothing"
    assert {request.path for request in server.requests if request.endpoint == "snapshot.get"} == {
        f"/_snapshot/{AUDIT_REPOSITORY}/_all", f"/_snapshot/{JOB_REPOSITORY}/_all"}


def test_indices_come_back_beside_the_live_ones_without_their_ilm_policy(server, ca_file, snapshots):
    server.indices[DAY1]["settings"]["index.refresh_interval"] = "30s"  # changed since the snapshot
    status, output = tool(server, ca_file, "restore", "--indices", "platform-audit-*")
    assert status == 0, output
    assert output.splitlines() == [
        f"  restore  {DAY1} -> restored-{DAY1}",
        f"  restore  {DAY2} -> restored-{DAY2}",
        f"es-restore: restored 2 indices from {AUDIT_REPOSITORY}:{snapshots['audit-2']} (started "
        "2026-01-01T00:00:05Z) as restored-<index>, without index.lifecycle.name",
    ]
    for index in (DAY1, DAY2):
        restored = server.indices[f"restored-{index}"]
        assert restored["state"] == "open"
        # ILM would delete an audit index older than the retention as soon as it is restored: no policy.
        assert restored["settings"] == {key: value for key, value in AUDIT_SETTINGS.items()
                                        if key != "index.lifecycle.name"}
    assert server.indices[DAY1]["settings"]["index.refresh_interval"] == "30s", "the live index is untouched"
    assert restore_bodies(server) == [{
        "indices": f"{DAY1},{DAY2}", "ignore_unavailable": False, "include_global_state": False, "partial": False,
        "rename_pattern": "^(.+)$", "rename_replacement": "restored-$1", "include_aliases": False,
        "ignore_index_settings": ["index.lifecycle.name"]}]
    assert [request.query.get("wait_for_completion") for request in server.requests
            if request.endpoint == "snapshot.restore"] == [["true"]]


def test_a_named_snapshot_or_the_newest_before_a_time_is_the_source(server, ca_file, snapshots):
    status, output = tool(server, ca_file, "restore", "--indices", DAY1, "--snapshot", snapshots["audit-1"],
                          "--prefix", "first-", "--json")
    document = json.loads(output)
    assert status == 0 and document["snapshot"]["snapshot"] == snapshots["audit-1"]
    assert document["restored"] == [f"first-{DAY1}"] and document["error"] is None
    # The second audit snapshot started at 00:00:05: before it, the first is the newest.
    status, output = tool(server, ca_file, "restore", "--indices", "platform-audit-*", "--before",
                          "2026-01-01T00:00:05Z", "--dry-run")
    assert status == 0 and snapshots["audit-1"] in output.splitlines()[-1]
    assert output.splitlines()[0] == f"  restore  {DAY1} -> restored-{DAY1}"
    # Job logs: only their own policy's snapshot, in its own repository, holds them.
    status, output = tool(server, ca_file, "restore", "--indices", "airbyte-logs-2026.01.01", "--dry-run")
    assert status == 0 and f"{JOB_REPOSITORY}:{snapshots['jobs-1']}" in output.splitlines()[-1]
    status, output = tool(server, ca_file, "restore", "--indices", "airbyte-logs-2026.01.01", "--dry-run",
                          "--policy", "job-log-snapshots")
    assert status == 0 and f"{JOB_REPOSITORY}:{snapshots['jobs-1']}" in output.splitlines()[-1]


def test_a_dry_run_changes_nothing(server, ca_file, snapshots):
    before = {name: dict(index) for name, index in server.indices.items()}
    for extra in ([], ["--replace-live"]):
        status, output = tool(server, ca_file, "restore", "--indices", "platform-audit-*", "--dry-run", *extra)
        assert status == 0 and output.splitlines()[-1].startswith("es-restore: would restore 2 indices")
    assert output.splitlines()[-1].endswith("over the live ones (2 closing and replaced, 0 missing and recreated)")
    assert server.writes() == [] and server.indices == before


def test_replace_live_closes_the_live_indices_and_restores_them_with_their_policy(server, ca_file, snapshots):
    server.indices[DAY1]["settings"]["index.refresh_interval"] = "30s"  # changed by mistake since the snapshot
    del server.indices[DAY2]  # deleted by mistake
    status, output = tool(server, ca_file, "restore", "--indices", "platform-audit-*", "--replace-live", "--json")
    document = json.loads(output)
    assert status == 0, output
    assert document["closed"] == [DAY1] and document["restored"] == [DAY1, DAY2] and document["reopened"] == []
    assert document["summary"].endswith("over the live ones (1 closed and replaced, 1 missing and recreated)")
    for index in (DAY1, DAY2):
        assert server.indices[index] == {"state": "open", "settings": AUDIT_SETTINGS}, "the snapshot's, ILM included"
    assert not any(name.startswith("restored-") for name in server.indices)
    calls = [(request.endpoint, request.path) for request in server.writes()]
    assert calls == [("indices.close", f"/{DAY1}/_close"),
                     ("snapshot.restore", f"/_snapshot/{AUDIT_REPOSITORY}/{snapshots['audit-2']}/_restore")]
    assert restore_bodies(server)[0] == {"indices": f"{DAY1},{DAY2}", "ignore_unavailable": False,
                                         "include_global_state": False, "partial": False}


def test_the_server_refuses_to_restore_over_an_open_index_which_is_why_the_tool_closes_it(server, pki, snapshots):
    es = client(connection(server, pki))
    body = es_restore.plan(es, [AUDIT_REPOSITORY], [DAY1], None, None, "", replace_live=True).request()
    with pytest.raises(ApiError, match=re.escape(f"cannot restore index [{DAY1}] because an open index")):
        es.snapshot.restore(repository=AUDIT_REPOSITORY, snapshot=snapshots["audit-2"], wait_for_completion=True,
                            **body)
    assert server.indices[DAY1]["state"] == "open"


def test_a_failed_restore_exits_1_with_the_reason_and_reopens_what_it_closed(server, ca_file, snapshots):
    server.fail("status", status=503, method="POST", path="/_snapshot/")
    status, output = tool(server, ca_file, "restore", "--indices", DAY1, "--replace-live")
    assert status == 1
    assert output.splitlines()[-1] == (
        f"es-restore: FAILED to restore 1 index from {AUDIT_REPOSITORY}:{snapshots['audit-2']} (started "
        f"2026-01-01T00:00:05Z): restoring from {AUDIT_REPOSITORY}:{snapshots['audit-2']} failed: 503 "
        f"unavailable_shards_exception: injected fault 503; reopened {DAY1}")
    assert server.indices[DAY1] == {"state": "open", "settings": AUDIT_SETTINGS}
    answered = [(exchange.method, exchange.path, exchange.status) for exchange in server.url.exchanges
                if exchange.method == "POST"]
    assert answered == [("POST", f"/{DAY1}/_close", 200),
                        ("POST", f"/_snapshot/{AUDIT_REPOSITORY}/{snapshots['audit-2']}/_restore", 503),
                        ("POST", f"/{DAY1}/_open", 200)]


def test_an_unreachable_cluster_exits_1(server, ca_file, snapshots, capsys):
    status = es_restore.main(["list", "--url", "https://127.0.0.1:1", "--ca-file", str(ca_file)], out=io.StringIO(),
                             environ={es_restore.PASSWORD_VARIABLE: "x"})
    assert status == 1
    assert "es-restore: listing the snapshot repositories failed: ConnectionError" in capsys.readouterr().err


@pytest.mark.parametrize(("arguments", "message"), [
    (["restore", "--indices", "platform-audit-*", "--snapshot", "nightly-1"],
     f"{BOTH} have no snapshot 'nightly-1' (`list` shows them)"),
    (["restore", "--indices", "airbyte-logs-2026.01.01", "--snapshot", "{audit-2}"],
     "snapshot {audit-2} holds no index airbyte-logs-2026.01.01 (`list --indices airbyte-logs-2026.01.01` shows"),
    (["restore", "--indices", "platform-audit-2025.12.31"],
     f"no successful snapshot of {BOTH} holds platform-audit-2025.12.31"),
    (["restore", "--indices", "platform-audit-*", "--before", "2026-01-01T00:00:03Z"],
     f"no successful snapshot of {BOTH} started before 2026-01-01T00:00:03Z holds platform-audit-*"),
    (["restore", "--indices", "platform-audit-*", "--policy", "job-log-snapshots"],
     "no successful snapshot of job-log-snapshots holds platform-audit-*"),
    (["restore", "--indices", "platform-audit-*", "--before", "2026-01-01T00:00:05"], "has no time zone"),
    (["restore", "--indices", "Platform-Audit-*"], "has upper-case letters"),
    (["restore", "--indices", "platform-audit-*,"], "has an empty name"),
    (["restore", "--indices", ".security-7"], "names a hidden or system index"),
    (["restore", "--indices=-platform-audit-*"], "exclusions are not supported"),
    (["restore", "--indices", "platform audit"], "which no index name may contain"),
    (["restore", "--indices", DAY1, "--prefix", ""], "--prefix is empty: to restore over the live indices, say so"),
    (["restore", "--indices", DAY1, "--prefix", "Old-"], "would not make valid index names"),
    (["restore", "--indices", DAY1, "--prefix", "old-", "--replace-live"], "exclude each other"),
])
def test_bad_input_exits_2_and_says_why(server, ca_file, snapshots, capsys, arguments, message):
    arguments = [argument.replace("{audit-2}", snapshots["audit-2"]) for argument in arguments]
    status, output = tool(server, ca_file, *arguments)
    assert status == 2 and output == ""
    assert message.replace("{audit-2}", snapshots["audit-2"]) in capsys.readouterr().err
    assert server.writes() == []


def test_a_target_that_exists_is_refused_before_anything_is_written(server, ca_file, snapshots, capsys):
    assert tool(server, ca_file, "restore", "--indices", DAY1)[0] == 0
    server.requests.clear()
    status, _ = tool(server, ca_file, "restore", "--indices", "platform-audit-*")
    assert status == 2
    assert (f"restored-{DAY1} already exists: delete it (DELETE /<index>) or choose another --prefix"
            in capsys.readouterr().err)
    assert server.writes() == []


def test_credentials_ca_and_repository_are_checked(server, ca_file, snapshots, capsys, tmp_path):
    assert tool(server, ca_file, "list", password="")[0] == 2
    assert "no password: set ES_PASSWORD" in capsys.readouterr().err
    assert tool(server, ca_file, "list", password="wrong-password")[0] == 2
    assert "the cluster refused the credentials (security_exception" in capsys.readouterr().err
    assert es_restore.main(["list", "--url", server.url], environ={"ES_PASSWORD": ADMIN[1]}) == 2
    assert "--ca-file is required" in capsys.readouterr().err
    assert tool(server, tmp_path / "missing.pem", "list")[0] == 2
    assert "missing.pem does not exist" in capsys.readouterr().err
    assert tool(server, ca_file, "list", "--repository", "elsewhere")[0] == 2
    assert "the repository is not registered (repository_missing_exception: [elsewhere] missing)" in (
        capsys.readouterr().err)


def test_without_any_repository_of_the_platform_the_tool_says_so(server, ca_file, capsys):
    assert tool(server, ca_file, "list")[0] == 2
    assert ("the cluster has none of the platform's snapshot repositories (platform-audit-snapshots, "
            "job-log-snapshots, platform-backups) registered; `pulumi up` registers them") in capsys.readouterr().err


def test_an_upgraded_stack_restores_from_the_read_only_former_repository_and_from_the_policies_own(server, pki,
                                                                                                   ca_file, capsys):
    """Before: both policies wrote to `platform-backups`. The upgrade re-registers it read-only where it was (what
    `logs.snapshots.legacyRepository` declares) and points each policy at its own repository; the old snapshots
    stay listed and restorable beside the new ones, and nothing writes to the old repository any more."""
    declare(server, pki, logs_spec.LEGACY_REPOSITORY, logs_spec.repository(BUCKET, logs_spec.BASE_PATH),
            {policy.name: logs_spec.slm_policy(policy) | {"repository": logs_spec.LEGACY_REPOSITORY}
             for policy in POLICIES})
    server.add_index(DAY1, AUDIT_SETTINGS)
    server.add_index("airbyte-logs-2026.01.01", JOB_SETTINGS)
    before = {"audit": run_policy(server, pki, logs_spec.AUDIT_SNAPSHOTS),
              "jobs": run_policy(server, pki, logs_spec.JOB_LOG_SNAPSHOTS)}
    SnapshotRepositoryProvider(Retry(sleep=lambda _: None)).create(
        {"connection": connection(server, pki), "name": logs_spec.LEGACY_REPOSITORY,
         "repository": logs_spec.legacy_repository(BUCKET)})
    for policy in POLICIES:
        declare(server, pki, policy.repository, logs_spec.policy_repository(policy, BUCKET),
                {policy.name: logs_spec.slm_policy(policy)})
    server.add_index(DAY2, AUDIT_SETTINGS)
    after = run_policy(server, pki, logs_spec.AUDIT_SNAPSHOTS)
    assert set(server.snapshots[logs_spec.LEGACY_REPOSITORY]) == set(before.values())
    assert set(server.snapshots[AUDIT_REPOSITORY]) == {after}
    server.requests.clear()

    status, output = tool(server, ca_file, "list", "--json")
    document = json.loads(output)
    assert status == 0 and document["repositories"] == [AUDIT_REPOSITORY, JOB_REPOSITORY,
                                                        logs_spec.LEGACY_REPOSITORY]
    assert [(entry["repository"], entry["snapshot"]) for entry in document["snapshots"]] == [
        (logs_spec.LEGACY_REPOSITORY, before["audit"]), (logs_spec.LEGACY_REPOSITORY, before["jobs"]),
        (AUDIT_REPOSITORY, after)]
    # Job logs from before the upgrade: only the former repository holds them.
    status, output = tool(server, ca_file, "restore", "--indices", "airbyte-logs-2026.01.01")
    assert status == 0, output
    assert f"from {logs_spec.LEGACY_REPOSITORY}:{before['jobs']}" in output.splitlines()[-1]
    # Day 1's audit index, as it was before the upgrade, from the read-only repository by name.
    status, output = tool(server, ca_file, "restore", "--indices", DAY1, "--repository", logs_spec.LEGACY_REPOSITORY,
                          "--prefix", "before-upgrade-")
    assert status == 0 and server.indices[f"before-upgrade-{DAY1}"]["state"] == "open"
    # The audit policy's own repository alone holds only the snapshot taken since.
    status, output = tool(server, ca_file, "restore", "--indices", DAY1, "--policy", "platform-audit-snapshots",
                          "--dry-run")
    assert status == 0 and f"from {AUDIT_REPOSITORY}:{after}" in output.splitlines()[-1]
    assert server.failures == []
