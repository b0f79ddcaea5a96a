"""Proves the evidence report: every policy's result per resource from the real pack, the allow-list with its status on
the evaluation date, CIS ids that exist in the cited benchmark version, a self-contained escaped page, byte-identical
files for the same inputs, and its exit codes."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import pytest

from infra.offline import evidence, evidence_controls
from infra.offline.evidence_render import render_html, render_markdown
from infra.offline.gate import GateReport, PolicyInfo
from infra.offline.harness import RecordedResource, Recording
from policies import registry  # noqa: F401 (importing the policies fills REGISTRY)
from policies.common import REGISTRY

ON = datetime.date(2027, 1, 15)
BUCKET = "aws:s3/bucket:Bucket::platform-lake-access-logs"


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("evidence")
    code = evidence.run("prod", out, ON)
    files = {suffix: (out / f"prod{suffix}").read_bytes() for suffix in (".json", ".md", ".html")}
    again = tmp_path_factory.mktemp("again")
    evidence.run("prod", again, ON)
    return {"code": code, "files": files, "again": {suffix: (again / f"prod{suffix}").read_bytes()
                                                     for suffix in files},
            "document": json.loads(files[".json"])}


def policy(document: dict, name: str) -> dict:
    return next(entry for entry in document["policies"] if entry["id"] == name)


def statuses(document: dict, name: str) -> dict[str, str]:
    return {row["urn"].rsplit("::", 1)[-1]: row["status"] for row in policy(document, name)["results"]}


@pytest.mark.integration
def test_prod_evidence_is_byte_identical_for_the_same_inputs(prod) -> None:
    assert prod["code"] == evidence.EXIT_CLEAN
    assert prod["files"] == prod["again"]


@pytest.mark.integration
def test_prod_evidence_names_the_pack_the_config_and_the_date(prod) -> None:
    document = prod["document"]
    digest, files = evidence.pack_digest()
    assert document["pack"] == {"name": "dataplatform-policies", "version": "0.1.0", "contentSha256": digest,
                                "files": files}
    assert document["evaluationDate"] == "2027-01-15"
    assert document["config"]["file"] == "policies/config/prod.json"
    assert document["config"]["levels"]["aws-s3-bucket-enable-versioning"] == "mandatory"
    assert document["config"]["levels"]["kubernetes-image-require-digest"] == "advisory"
    assert len(document["policies"]) == len(REGISTRY)


@pytest.mark.integration
def test_prod_evidence_gives_each_policy_its_result_per_resource(prod) -> None:
    document = prod["document"]
    kms = statuses(document, "aws-s3-bucket-require-kms-encryption")
    assert kms["platform-lake-access-logs"] == "exempt"
    assert {status for name, status in kms.items() if name != "platform-lake-access-logs"} == {"pass"}
    assert statuses(document, "kubernetes-pod-require-restricted-security")["platform-runtime-fluent-bit"] == "exempt"
    # Fluent Bit's exemption names the root and hostPath checks only: judged on the others, which pass.
    (fluent_bit,) = [row for row in policy(document, "kubernetes-pod-require-restricted-security")["results"]
                     if row["urn"].endswith("::platform-runtime-fluent-bit")]
    assert fluent_bit["details"][0].endswith("(until 2027-06-30; checks root, host-path only, the policy's other "
                                             "checks pass)")
    assert set(statuses(document, "kubernetes-image-require-digest").values()) == {"fail"}  # advisory in prod
    rotation = statuses(document, "aws-kms-key-enable-rotation")
    assert set(rotation.values()) == {"pass"} and all(name.endswith(("kms", "key")) for name in rotation)
    assert policy(document, "minio-s3-bucket-enable-encryption")["results"] == []  # prod runs no MinIO
    exempt = [row for row in policy(document, "aws-s3-bucket-enable-object-lock")["results"]
              if row["status"] == "exempt"]
    assert [row["details"] for row in exempt] == [[
        "S3 cannot deliver server access logs into a bucket with object lock; the bucket keeps versioning and 90 days "
        "of retention (until 2027-06-30)"]]


@pytest.mark.integration
def test_prod_evidence_lists_the_allow_list_and_groups_controls_by_principle(prod) -> None:
    document = prod["document"]
    assert [(e["policy"], e["resource"], e["status"]) for e in document["exemptions"]][:2] == [
        ("aws-s3-bucket-require-kms-encryption", BUCKET, "honoured"), ("aws-s3-bucket-enable-object-lock", BUCKET,
                                                                       "honoured")]
    # The five access keys whose clients take no web identity (decision 0052).
    assert len(document["exceptions"]) == 5 and {e["status"] for e in document["exceptions"]} == {"honoured"}
    by_principle = {principle["id"]: principle["policies"] for principle in document["principles"]}
    assert "aws-s3-bucket-require-tls" in by_principle["encryption-in-transit"]
    assert "elasticsearch-ilm-configure-audit-retention" in by_principle["audit-retention"]
    assert policy(document, "aws-s3-bucket-require-tls")["cis"] == [{
        "benchmark": "CIS Amazon Web Services Foundations Benchmark v5.0.0", "id": "2.1.1",
        "title": "Ensure S3 Bucket Policy is set to deny HTTP requests"}]


@pytest.mark.integration
def test_an_expired_exemption_is_reported_and_exits_1(tmp_path: Path) -> None:
    code = evidence.run("prod", tmp_path, datetime.date(2027, 7, 1))
    document = json.loads((tmp_path / "prod.json").read_text())
    assert code == evidence.EXIT_MANDATORY
    assert {e["status"] for e in document["exemptions"]} == {"refused"}
    assert statuses(document, "aws-s3-bucket-require-kms-encryption")["platform-lake-access-logs"] == "fail"
    assert document["summary"]["refused"] == 9  # 4 exemptions and 5 exceptions, all expired on 2027-06-30


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert evidence.run("nope", tmp_path, ON) == evidence.EXIT_CONFIG
    assert "no such stack file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        evidence.main(["--stack", "prod", "--date", "2027-13-01"])
    assert exit_info.value.code == 2


def test_every_mapped_cis_id_is_in_the_cited_benchmark_version() -> None:
    known = evidence_controls.benchmarks()
    assert sorted(known) == ["cis-aws-foundations-5.0.0", "cis-kubernetes-1.10.0"]
    for key, benchmark in known.items():
        version = key.rsplit("-", 1)[-1]
        assert benchmark["name"].endswith(f"v{version}"), benchmark["name"]
        assert re.fullmatch(r"prowler-cloud/prowler/prowler/compliance/\S+\.json@[0-9a-f]{40}", benchmark["source"])
    for policy_id, refs in evidence_controls.CIS.items():
        assert policy_id in REGISTRY, policy_id
        for benchmark, control in refs:
            assert control in known[benchmark]["controls"], f"{policy_id}: {control} is not in {benchmark}"


def test_an_id_the_version_does_not_list_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    known = evidence_controls.benchmarks()
    monkeypatch.setitem(evidence_controls.CIS, "aws-s3-bucket-require-tls", [(evidence_controls.AWS, "2.1.9")])
    with pytest.raises(KeyError):
        evidence_controls.cis_of("aws-s3-bucket-require-tls", known)


def test_every_policy_falls_under_a_principle() -> None:
    from policies.registry import POLICIES

    assert [p.name for p in POLICIES if not evidence_controls.principles_of(p.tags)] == []


def resource(type_: str, name: str, parent: str = "") -> RecordedResource:
    return RecordedResource(urn=f"urn:pulumi:prod::p::{type_}::{name}", type=type_, name=name, custom=True,
                            parent=parent, dependencies=[], property_dependencies={}, protect=False, inputs={},
                            provider="", ignore_changes=[], aliases=[], additional_secret_outputs=[],
                            delete_before_replace=False, retain_on_delete=False)


def info(name: str, kind: str) -> PolicyInfo:
    return PolicyInfo(name, name.upper(), "high", "mandatory", f"{name} title", {}, (), kind, ("access",))


def test_results_per_resource_from_the_gate_answers() -> None:
    release = resource("kubernetes:helm.sh/v3:Release", "rel")
    objects = [resource("t:m:Bucket", "a"), resource("t:m:Bucket", "b"), resource("t:m:Bucket", "c"),
               resource("t:m:Other", "o"), release, resource("kubernetes:apps/v1:DaemonSet", "ds", release.urn)]
    urns = {item.name: item.urn for item in objects}
    report = GateReport("pack", "1", "prod", False, resources=len(objects), evaluation_date="2027-01-15",
                        levels={"res": "mandatory", "stk": "mandatory", "off": "disabled"},
                        policies={"res": info("res", "resource"), "stk": info("stk", "stack"),
                                  "off": info("off", "resource")})
    report.not_applicable = [("res", urns["o"], "not a resource this policy judges"),
                             ("res", urns["rel"], "not a resource this policy judges"),
                             ("res", urns["ds"], "not a resource this policy judges"),
                             ("res", urns["c"], "exempt: why (until 2027-06-30)")]
    report.violations = [
        {"policy": "res", "urn": urns["a"], "message": "a is wrong", "level": "mandatory"},
        {"policy": "res", "urn": urns["b"], "message": "not evaluated: can't run policy 'res'", "level": "mandatory"},
        {"policy": "stk", "urn": urns["b"], "message": "b is wrong", "level": "mandatory"},
        {"policy": "stk", "urn": "", "message": "the stack is wrong", "level": "mandatory"},
    ]
    report.exemptions = [{"policy": "stk", "resource": "kubernetes:helm.sh/v3:Release::rel", "reason": "root",
                          "expires": "2027-06-30", "status": "honoured"}]
    reads = {"stk": sorted([urns["a"], urns["b"], urns["ds"]])}
    found = evidence.results(Recording("p", "prod", False, objects), report, reads)
    assert {urn.rsplit("::", 1)[-1]: row["status"] for urn, row in found["res"].items()} == {
        "a": "fail", "b": "skipped", "c": "exempt"}
    assert {urn.rsplit("::", 1)[-1]: (row["status"], row["details"]) for urn, row in found["stk"].items()} == {
        "a": ("pass", []), "b": ("fail", ["b is wrong"]), "ds": ("exempt", ["root (until 2027-06-30)"]),
        evidence.STACK_ROW: ("fail", ["the stack is wrong"])}
    assert found["off"] == {}


def test_the_page_is_self_contained_and_escapes_every_value() -> None:
    hostile = "<script>alert(1)</script> & \"quoted\" | piped"
    document = {
        "stack": "prod", "project": "p", "semantics": "update", "evaluationDate": "2027-01-15",
        "pack": {"name": "pack", "version": "1", "contentSha256": "0" * 64, "files": 1},
        "config": {"file": "policies/config/prod.json", "sha256": "1" * 64, "levels": {"x": "mandatory"},
                   "settings": {"x": {"note": hostile}}},
        "summary": {"resources": 1, "policies": 1, "disabled": 0, "pass": 0, "fail": 1, "exempt": 0, "skipped": 0,
                    "mandatoryViolations": 1, "exemptions": 1, "exceptions": 0, "expiring": 0, "refused": 0},
        "principles": [{"id": "least-privilege", "title": "Least privilege", "policies": ["x"]}],
        "exemptions": [{"policy": "x", "resource": "t::r", "reason": hostile, "expires": "2027-06-30",
                        "status": "honoured", "problem": "", "daysLeft": 166}],
        "exceptions": [],
        "cisSources": [{"benchmark": "B v1", "source": "o/r/p@c"}],
        "policies": [{"id": "x", "code": "X-1", "title": hostile, "kind": "resource", "severity": "high",
                      "tags": ["access"], "level": "mandatory", "principles": ["least-privilege"], "cis": [],
                      "counts": {"pass": 0, "fail": 1, "exempt": 0, "skipped": 0},
                      "results": [{"urn": "u", "type": "t", "name": "r", "status": "fail", "details": [hostile]}]}],
    }
    page = render_html(document)
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page) and "<link" not in page
    assert page == render_html(json.loads(json.dumps(document)))
    markdown = render_markdown(document)
    assert "\\| piped" in markdown and "| piped" not in markdown.replace("\\| piped", "")
