"""infra/ops/es_restore.py against the Elasticsearch stand-in over TLS (tests/support/elasticsearch_server.py): the
repository and snapshot policies declared as the program declares them, snapshots taken by running the policies,
then the listing, a restore beside the live indices without their ILM policy, a restore over the live indices, the
dry run, a failed restore, and the input the tool refuses. Every request and every answer is held to the 9.5
specification (the fixture requires no violation and no refused request)."""

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


@pytest.fixture()
def snapshots(server, pki) -> dict[str, str]:
    """The program's repository and policies; day 1's audit and job-log indices, a snapshot of each family; day 2's
    audit index, a second audit snapshot. Returns the snapshots' names."""
    props = {"connection": connection(server, pki), "name": logs_spec.REPOSITORY,
             "repository": logs_spec.repository(BUCKET)}
    SnapshotRepositoryProvider(Retry(sleep=lambda _: None)).create(props)
    for policy in logs_spec.snapshot_policies(FAMILIES, 90, 14):
        SlmPolicyProvider(Retry(sleep=lambda _: None)).create({
            "connection": connection(server, pki), "name": policy.name, "policy": logs_spec.slm_policy(policy, 24)})
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
    assert lines[-1] == ("es-restore: platform-backups has 3 snapshots (2026-01-01T00:00:03Z to "
                         "2026-01-01T00:00:05Z)")
    assert lines[0].split() == [snapshots["audit-1"], "SUCCESS", "2026-01-01T00:00:03Z", "policy",
                                "platform-audit-snapshots", "1", "index:", DAY1]
    assert lines[2].split()[-3:] == ["indices:", f"{DAY1},", DAY2]
    status, output = tool(server, ca_file, "list", "--indices", "airbyte-logs-*", "--json")
    document = json.loads(output)
    assert status == 0 and [entry["snapshot"] for entry in document["snapshots"]] == [snapshots["jobs-1"]]
    assert document["snapshots"][0] == {"snapshot": snapshots["jobs-1"], "state": "SUCCESS",
                                        "started": "2026-01-01T00:00:04Z", "policy": "job-log-snapshots",
                                        "indices": ["airbyte-logs-2026.01.01"]}
    assert server.writes() == [], "listing changes nothing"


def test_indices_come_back_beside_the_live_ones_without_their_ilm_policy(server, ca_file, snapshots):
    server.indices[DAY1]["settings"]["index.refresh_interval"] = "30s"  # changed since the snapshot
    status, output = tool(server, ca_file, "restore", "--indices", "platform-audit-*")
    assert status == 0, output
    assert output.splitlines() == [
        f"  restore  {DAY1} -> restored-{DAY1}",
        f"  restore  {DAY2} -> restored-{DAY2}",
        f"es-restore: restored 2 indices from platform-backups:{snapshots['audit-2']} (started "
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
    # Job logs: only their own policy's snapshot holds them.
    status, output = tool(server, ca_file, "restore", "--indices", "airbyte-logs-2026.01.01", "--dry-run")
    assert status == 0 and snapshots["jobs-1"] in output.splitlines()[-1]


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
                     ("snapshot.restore", f"/_snapshot/platform-backups/{snapshots['audit-2']}/_restore")]
    assert restore_bodies(server)[0] == {"indices": f"{DAY1},{DAY2}", "ignore_unavailable": False,
                                         "include_global_state": False, "partial": False}


def test_the_server_refuses_to_restore_over_an_open_index_which_is_why_the_tool_closes_it(server, pki, snapshots):
    es = client(connection(server, pki))
    body = es_restore.plan(es, logs_spec.REPOSITORY, [DAY1], None, None, "", replace_live=True).request()
    with pytest.raises(ApiError, match=re.escape(f"cannot restore index [{DAY1}] because an open index")):
        es.snapshot.restore(repository=logs_spec.REPOSITORY, snapshot=snapshots["audit-2"], wait_for_completion=True,
                            **body)
    assert server.indices[DAY1]["state"] == "open"


def test_a_failed_restore_exits_1_with_the_reason_and_reopens_what_it_closed(server, ca_file, snapshots):
    server.fail("status", status=503, method="POST", path="/_snapshot/")
    status, output = tool(server, ca_file, "restore", "--indices", DAY1, "--replace-live")
    assert status == 1
    assert output.splitlines()[-1] == (
        f"es-restore: FAILED to restore 1 index from platform-backups:{snapshots['audit-2']} (started "
        f"2026-01-01T00:00:05Z): restoring from platform-backups:{snapshots['audit-2']} failed: 503 "
        f"unavailable_shards_exception: injected fault 503; reopened {DAY1}")
    assert server.indices[DAY1] == {"state": "open", "settings": AUDIT_SETTINGS}
    answered = [(exchange.method, exchange.path, exchange.status) for exchange in server.url.exchanges
                if exchange.method == "POST"]
    assert answered == [("POST", f"/{DAY1}/_close", 200),
                        ("POST", f"/_snapshot/platform-backups/{snapshots['audit-2']}/_restore", 503),
                        ("POST", f"/{DAY1}/_open", 200)]


def test_an_unreachable_cluster_exits_1(server, ca_file, snapshots, capsys):
    status = es_restore.main(["list", "--url", "https://127.0.0.1:1", "--ca-file", str(ca_file)], out=io.StringIO(),
                             environ={es_restore.PASSWORD_VARIABLE: "x"})
    assert status == 1
    assert "es-restore: listing the snapshots of platform-backups failed: ConnectionError" in capsys.readouterr().err


@pytest.mark.parametrize(("arguments", "message"), [
    (["restore", "--indices", "platform-audit-*", "--snapshot", "nightly-1"],
     "platform-backups has no snapshot 'nightly-1' (`list` shows them)"),
    (["restore", "--indices", "airbyte-logs-2026.01.01", "--snapshot", "{audit-2}"],
     "snapshot {audit-2} holds no index airbyte-logs-2026.01.01 (`list --indices airbyte-logs-2026.01.01` shows"),
    (["restore", "--indices", "platform-audit-2025.12.31"],
     "no successful snapshot of platform-backups holds platform-audit-2025.12.31"),
    (["restore", "--indices", "platform-audit-*", "--before", "2026-01-01T00:00:03Z"],
     "no successful snapshot of platform-backups started before 2026-01-01T00:00:03Z holds platform-audit-*"),
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
