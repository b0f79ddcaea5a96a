"""Proves the checks that read the value that takes effect: an exemption narrowed to named checks of a policy, the
credentials inside dremio.conf (last assignment wins, `${?VAR}` keeps an earlier literal), GUNICORN_CMD_ARGS as
gunicorn reads it, a password inside a Superset URI, Elasticsearch's anonymous access and the audit indices, and the
audit buckets known by name. Exact violation sets; messages name the field, the value seen (secrets masked) and the
fix."""

from __future__ import annotations

import copy

import pytest
from kubernetes_fixtures import baseline, changed, resource
from policy_eval import EVALUATION_DATE, violations

from infra.offline.harness import Recording
from policies import exemptions
from policies.common import REGISTRY
from policies.kubernetes import RESTRICTED, RESTRICTED_CHECKS, gunicorn_tls
from policies.lakehouse import dremio_conf_literal_secrets
from policies.logs_audit import audit_privileges

JOB = "dbt-runner"
CRONJOB = "kubernetes:batch/v1:CronJob::dbt-runner"


def _container(inputs: dict) -> dict:
    return inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]


def _as_root(inputs: dict) -> None:
    pod = inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    pod["securityContext"]["runAsNonRoot"] = False
    pod["securityContext"]["runAsUser"] = 0.0
    _container(inputs)["securityContext"]["runAsNonRoot"] = False


def _allow(checks: list[str] | None) -> dict:
    entry = {"policy": RESTRICTED, "resource": CRONJOB, "reason": "reads root-owned files", "expires": "2027-06-30"}
    return {"exemptions": [{**entry, **({"checks": checks} if checks is not None else {})}], "exceptions": []}


def _restricted(recording: Recording, allow_list: dict) -> set[tuple[str, str, str]]:
    return {found for found in violations(recording, allow_list=allow_list) if found[0] in (RESTRICTED,
                                                                                              exemptions.ALLOW_LIST)}


# ---- an exemption narrowed to named checks -----------------------------------------------------------------------


def test_an_exemption_narrowed_to_the_root_check_leaves_the_other_checks_on() -> None:
    root = changed(baseline(), JOB, _as_root)
    assert _restricted(root, _allow(["root"])) == set()
    assert _restricted(root, _allow(None)) == set()  # the whole policy, as before
    adds = changed(root, JOB, lambda inputs: _container(inputs)["securityContext"]["capabilities"].__setitem__(
        "add", ["NET_ADMIN"]))
    assert _restricted(adds, _allow(["root"])) == {(
        RESTRICTED, JOB, "CronJob 'dbt-runner' does not meet the restricted pod security standard (container runner: "
        "capabilities add NET_ADMIN (add none but NET_BIND_SERVICE)) (exempt from root by the allow-list; the other "
        "checks apply); set the restricted security contexts on its pod and containers.")}
    assert _restricted(adds, _allow(["root", "capabilities"])) == set()
    assert _restricted(adds, _allow(None)) == set()


def test_a_check_the_policy_does_not_have_is_refused_and_exempts_nothing() -> None:
    root = changed(baseline(), JOB, _as_root)
    found = _restricted(root, _allow(["root-user"]))
    assert (exemptions.ALLOW_LIST, JOB, f"The exemption of `{CRONJOB}` from `{RESTRICTED}` is refused: "
            f"`{RESTRICTED}` has no check root-user; its checks are {', '.join(sorted(RESTRICTED_CHECKS))} "
            "(docs/policies.md) (policies/config/<stack>.json).") in found
    assert any(policy == RESTRICTED for policy, _, _ in found)
    judged = exemptions.judge([{**_allow(["root"])["exemptions"][0], "checks": []}],
                              exemptions.parse_date(EVALUATION_DATE), {RESTRICTED: True})
    assert judged[0].problem.startswith("checks [] is not a non-empty list of check names")


def test_only_the_restricted_pod_policy_names_checks_and_a_stack_policy_refuses_them() -> None:
    named = {policy for policy, meta in REGISTRY.items() if meta.named_checks}
    assert named == {RESTRICTED}
    entry = {"policy": "aws-s3-bucket-enable-object-lock", "resource": "aws:s3/bucket:Bucket::lake-logs",
             "reason": "r", "expires": "2027-06-30", "checks": ["root"]}
    judged = exemptions.judge([entry], exemptions.parse_date(EVALUATION_DATE),
                              {"aws-s3-bucket-enable-object-lock": True}, None,
                              {"aws-s3-bucket-enable-object-lock": []})
    assert "has no check root; it has no named checks" in judged[0].problem


# ---- gunicorn as gunicorn reads GUNICORN_CMD_ARGS ----------------------------------------------------------------


@pytest.mark.parametrize(("arguments", "certfile"), [
    ("--certfile=/app/tls/tls.crt --keyfile=/app/tls/tls.key", "/app/tls/tls.crt"),
    ("--keyfile /k --workers 4 --certfile /c", "/c"),
    ("--certfile=/c --certfile=", ""),           # the last occurrence wins
    ("--certfile= --certfile=/c", "/c"),
    ("--certf /c", "/c"),                         # an unambiguous abbreviation, as argparse takes it
    ("--cert /c", None),                          # ambiguous with --cert-reqs: argparse refuses it
    ("--certfile '/a b'", "/a b"),
    ("--workers 4", None),
    ("--certfile 'unclosed", None),
])
def test_gunicorn_certfile_is_the_effective_one(arguments: str, certfile: str | None) -> None:
    assert gunicorn_tls(arguments).get("certfile") == certfile


def test_a_workload_whose_gunicorn_has_no_certificate_is_reported_with_the_value_seen() -> None:
    def gunicorn(value: str):
        return lambda inputs: _container(inputs)["env"].append({"name": "GUNICORN_CMD_ARGS", "value": value})

    tls = "kubernetes-endpoint-require-tls"
    plain = changed(baseline(), JOB, gunicorn("--workers  4"))
    assert {found for found in violations(plain) if found[0] == tls} == {(
        tls, JOB, "CronJob 'dbt-runner' serves gunicorn without TLS (container runner: GUNICORN_CMD_ARGS is "
        "'--workers 4', with no effective --certfile); give GUNICORN_CMD_ARGS `--certfile=<tls.crt> "
        "--keyfile=<tls.key>` from the cert-manager certificate's Secret, as the last occurrence of each.")}
    served = changed(baseline(), JOB, gunicorn("--keyfile /k --certfile /c"))
    assert not {found for found in violations(served) if found[0] == tls}


# ---- credentials in dremio.conf ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "literal"), [
    ('services.flight.ssl.keyStorePassword: "s3cret"', ["services.flight.ssl.keyStorePassword"]),
    ("services.flight.ssl.keyStorePassword: ${?DREMIO_KEYSTORE_PASSWORD}", []),
    ("services.flight.ssl { keyStorePassword = ${?DREMIO_KEYSTORE_PASSWORD} }", []),
    ("a.keyStorePassword: lit\na.keyStorePassword: ${?DREMIO_KEYSTORE_PASSWORD}", ["a.keyStorePassword"]),
    ("a.keyStorePassword: ${?DREMIO_KEYSTORE_PASSWORD}\na.keyStorePassword: lit", ["a.keyStorePassword"]),
    ('a.keyStorePassword: ${?DREMIO_KEYSTORE_PASSWORD}"-suffix"', ["a.keyStorePassword"]),
    ("a.keyStorePassword: ${DREMIO_KEYSTORE_PASSWORD}", []),
    ('a.keyStore: "/opt/keystore.p12"', []),
])
def test_dremio_conf_credentials_are_judged_by_their_effective_value(text: str, literal: list[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # The pack's own environment never decides: with the variable set, the file's literal fallback still counts.
    monkeypatch.setenv("DREMIO_KEYSTORE_PASSWORD", "from-the-environment")
    assert dremio_conf_literal_secrets(text) == literal


def test_a_literal_keystore_password_is_reported_masked() -> None:
    conf = resource("kubernetes:core/v1:ConfigMap", "dremio-config", {
        "metadata": {"name": "dremio-config", "labels": {"app.kubernetes.io/name": "dremio"}},
        "data": {"dremio.conf": "services.coordinator.web.ssl.enabled: true\nservices.flight.ssl.enabled: true\n"
                                 "services.flight.ssl.keyStorePassword: \"s3cr3t-keystore\"\n"}})
    recording = Recording("dataplatform", "dev", False, [conf])
    found = {item for item in violations(recording) if item[0] == "dremio-payload-disallow-plaintext-credentials"}
    assert found == {("dremio-payload-disallow-plaintext-credentials", "dremio-config",
                      "ConfigMap 'dremio-config' holds credentials as literals in dremio.conf "
                      "(services.flight.ssl.keyStorePassword = ****), readable by anyone who may read ConfigMaps; "
                      "write each as an environment substitution (`services.flight.ssl.keyStorePassword: "
                      "${?DREMIO_KEYSTORE_PASSWORD}`) filled from a Kubernetes Secret, and keep no literal before it "
                      "(when the variable is unset, HOCON keeps the earlier value).")}
    assert "s3cr3t" not in str(found)


# ---- Superset URIs, Elasticsearch -------------------------------------------------------------------------------


def _one(type_: str, name: str, inputs: dict) -> Recording:
    return Recording("dataplatform", "prod", False, [resource(type_, name, inputs)])


@pytest.mark.parametrize(("uri", "reported"), [
    ("dremio+flight://superset:Sup3r-pw@dremio:32010/dremio?UseEncryption=true&disableCertificateVerification=false",
     "dremio+flight://superset:****@dremio:32010/dremio?UseEncryption=true&disableCertificateVerification=false"),
    ("dremio+flight://superset:XXXXXXXXXX@dremio:32010/dremio?UseEncryption=true&"
     "disableCertificateVerification=false", None),
    ("dremio+flight://superset@dremio:32010/dremio?UseEncryption=true&disableCertificateVerification=false", None),
])
def test_a_superset_uri_carries_no_password(uri: str, reported: str | None) -> None:
    policy = "superset-database-disallow-url-credentials"
    recording = _one("pulumi-python:dynamic/superset:Database", "db", {"name": "dremio", "uri": uri})
    found = {item for item in violations(recording) if item[0] == policy}
    expected = set() if reported is None else {(
        policy, "db", f"Superset database 'dremio' has a password inside its `uri` ({reported}), where Superset's "
        "API, its exports and the stack's state show it; drop the password from the URI (`user@host`) and pass it "
        "in the database's secret `password` input.")}
    assert found == expected


@pytest.mark.parametrize(("config", "roles"), [
    ({"xpack.security.authc.anonymous.roles": "log-reader, monitoring"}, "log-reader, monitoring"),
    ({"xpack": {"security": {"authc": {"anonymous": {"roles": ["superuser"]}}}}}, "superuser"),
    ({"xpack.security.authc.anonymous.roles": [], "xpack.security.authc.anonymous.username": "guest"}, None),
    ({"node.roles": ["master"]}, None),
])
def test_elasticsearch_anonymous_access(config: dict, roles: str | None) -> None:
    policy = "elasticsearch-cluster-disallow-anonymous-access"
    recording = _one("kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch", "es", {
        "metadata": {"name": "logs"}, "spec": {"nodeSets": [{"name": "default", "count": 3.0, "config": config}]}})
    found = {item for item in violations(recording) if item[0] == policy}
    expected = set() if roles is None else {(
        policy, "es", "Elasticsearch 'logs' lets requests without credentials in as an anonymous user (nodeSet "
        f"default: xpack.security.authc.anonymous.roles is {roles}); remove the xpack.security.authc.anonymous.* "
        "settings from every nodeSet's config so every request authenticates, and give each reader a user of its "
        "own.")}
    assert found == expected


def _role(name: str, *indices: tuple[list[str], list[str]]) -> Recording:
    return _one("pulumi-python:dynamic/elasticsearch:Role", f"role-{name}", {"name": name, "role": {
        "cluster": [], "run_as": [], "indices": [{"names": names, "privileges": privileges}
                                                 for names, privileges in indices]}})


AUDIT = ["platform-audit-*"]


@pytest.mark.parametrize(("names", "taken"), [
    (["platform-audit-*"], True), (["platform-*"], True), (["*"], True), (["platform-audit-2026.01.01"], True),
    (["/platform-(audit|logs)-.*/"], True), (["platform-auditor-*"], False), (["dbt-runs-*"], False),
])
def test_an_index_pattern_takes_the_audit_indices_either_way(names: list[str], taken: bool) -> None:
    held = audit_privileges({"indices": [{"names": names, "privileges": ["read"]}]}, AUDIT)
    assert held == ({"read"} if taken else set())


def test_only_the_audit_writer_appends_and_only_the_audit_reader_reads() -> None:
    tamper, reads = "elasticsearch-role-disallow-audit-tampering", "elasticsearch-role-disallow-audit-reads"

    def found(recording: Recording) -> set[tuple[str, str, str]]:
        return {item for item in violations(recording) if item[0] in (tamper, reads)}

    assert found(_role("log-writer", (["platform-audit-*"], ["create_doc", "create", "create_index"]))) == set()
    assert found(_role("log-reader", (["platform-*"], ["read", "view_index_metadata"]))) == set()
    assert found(_role("log-writer", (["platform-audit-*"], ["all"]))) == {(
        tamper, "role-log-writer", "Elasticsearch role 'log-writer' holds all on the audit indices (platform-audit-*), "
        "with which it could change or remove the audit trail; a writer holds only create, create_doc, create_index "
        "there: drop the other privileges or narrow the role's index names so no audit index matches them.")}
    assert found(_role("snapshot-monitor", (["platform-*"], ["read", "create_doc"]))) == {
        (tamper, "role-snapshot-monitor", "Elasticsearch role 'snapshot-monitor' holds create_doc on the audit indices "
         "(platform-audit-*), with which it could change or remove the audit trail; only the audit writers "
         "(`auditWriters`: log-writer) may append, and a writer holds only create, create_doc, create_index there: "
         "drop the other privileges or narrow the role's index names so no audit index matches them."),
        (reads, "role-snapshot-monitor", "Elasticsearch role 'snapshot-monitor' may read the audit indices (read on "
         "platform-audit-*), and only log-reader may (`auditReaders`); narrow its index names so no audit index "
         "matches them, or have the security team add the role to `auditReaders` in policies/config/<stack>.json.")}


def test_audit_buckets_are_known_by_name_whatever_their_role_tag() -> None:
    from policy_fixtures import s3_stack

    recording = s3_stack()
    logs = next(item for item in recording.resources if item.type == "aws:s3/bucket:Bucket"
                and item.inputs.get("bucket", "").endswith("-logs") and "access" not in item.inputs["bucket"])
    renamed = copy.deepcopy(recording)
    target = renamed.named(logs.name)
    target.inputs.setdefault("tags", {})["dataplatform:role"] = "log-archive"
    target.inputs["objectLockEnabled"] = False
    lock = "aws-s3-bucket-enable-object-lock"
    by_name = {"auditBuckets": [logs.inputs["bucket"]]}
    assert any(item[0] == lock and item[1] == logs.name
               for item in violations(renamed, {lock: by_name}))
    assert not any(item[0] == lock and item[1] == logs.name for item in violations(renamed, {lock: {
        "auditBuckets": []}}))
