"""Proves exemptions count only from the stack's allow-list, on the evaluation date, and that every refusal and every
claim a resource makes for itself is reported with the exact violations; the gate prints the date and the expiring."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from policy_eval import EVALUATION_DATE, violations
from policy_fixtures import S3_ALLOW_LIST, keys_issued_on, mutated, s3_stack, set_input, write_fixture_config

from infra.offline.gate import GateError, PolicyPackProcess, load_config_file, reconcile
from infra.offline.harness import Recording
from policies import exemptions

ALLOW = "pack-exemption-require-allow-list"
KMS = "aws-s3-bucket-require-kms-encryption"
LOCK = "aws-s3-bucket-enable-object-lock"
BUCKET = "aws:s3/bucket:Bucket::lake-access-logs"
CONFIG = "(policies/config/<stack>.json)"
KMS_FAIL = (KMS, "lake-access-logs", "Bucket 'lake-access-logs' (dataplatform-prod-access-logs) is not encrypted with "
            "a customer-managed KMS key; set sseAlgorithm aws:kms and kmsMasterKeyId in its encryption configuration.")
LOCK_FAIL = (LOCK, "lake-access-logs", "Audit bucket 'lake-access-logs' (dataplatform-prod-access-logs) has no object "
             "lock; set objectLockEnabled to true on it.")


def entry(**changes: str) -> dict[str, str]:
    return {"policy": KMS, "resource": BUCKET, "reason": "S3 cannot deliver access logs into it",
            "expires": "2027-06-30", **changes}


def allow(*kms_entries: dict[str, str]) -> dict:
    """prod's fixture allow-list with the access-logs bucket's KMS exemption replaced by `kms_entries`."""
    lock = [e for e in S3_ALLOW_LIST["exemptions"] if e["policy"] == LOCK]
    return {"exemptions": [*kms_entries, *lock], "exceptions": S3_ALLOW_LIST["exceptions"]}


def refused(what: str, problem: str, name: str = "lake-access-logs") -> tuple[str, str, str]:
    return (ALLOW, name, f"{what} is refused: {problem} {CONFIG}.")


KMS_ENTRY = f"The exemption of `{BUCKET}` from `{KMS}`"
CASES = {
    "pass_listed": (allow(entry()), set()),
    "pass_on_its_last_day": (allow(entry(expires=EVALUATION_DATE)), set()),
    "fail_blank_reason": (allow(entry(reason="  ")), {KMS_FAIL, refused(
        KMS_ENTRY, "the reason is blank; say why in one sentence")}),
    "fail_code_instead_of_id": (allow(entry(policy="DP-S3-002")), {KMS_FAIL, refused(
        f"The exemption of `{BUCKET}` from `DP-S3-002`",
        f"`DP-S3-002` is a code; give the policy id `{KMS}`")}),
    "fail_unknown_policy": (allow(entry(policy="aws-s3-bucket-require-kms")), {KMS_FAIL, refused(
        f"The exemption of `{BUCKET}` from `aws-s3-bucket-require-kms`",
        "no policy `aws-s3-bucket-require-kms` in the pack (docs/policies.md lists them)")}),
    "fail_policy_that_cannot_be_exempted": (
        {**allow(entry()), "exemptions": [*allow(entry())["exemptions"],
                                          entry(policy="aws-s3-bucket-disallow-public-access")]},
        {refused(f"The exemption of `{BUCKET}` from `aws-s3-bucket-disallow-public-access`",
                 "`aws-s3-bucket-disallow-public-access` cannot be exempted; fix the resource instead")}),
    "fail_expired": (allow(entry(expires="2027-01-14")), {KMS_FAIL, refused(
        KMS_ENTRY, "expired on 2027-01-14; renew it with a new date or fix the resource")}),
    "fail_more_than_a_year_ahead": (allow(entry(expires="2028-01-17")), {KMS_FAIL, refused(
        KMS_ENTRY, "expires 2028-01-17, more than 366 days after 2027-01-15; list it for a year at most")}),
    "fail_no_expiry": (allow(entry(expires="")), {KMS_FAIL, refused(
        KMS_ENTRY, "expires '' is not a date (YYYY-MM-DD); every exemption has an expiry date")}),
    "fail_resource_not_a_key": (allow(entry(resource="lake-access-logs")), {KMS_FAIL, refused(
        f"The exemption of `lake-access-logs` from `{KMS}`",
        "resource 'lake-access-logs' is not `<type>::<logical name>` (the end of the resource's URN)", "<stack>")}),
    "fail_names_no_resource": (allow(entry(), entry(resource="aws:s3/bucket:Bucket::lake-gone")), {(
        ALLOW, "<stack>", f"The exemption of `aws:s3/bucket:Bucket::lake-gone` from `{KMS}` names no resource of this "
        "stack; remove it from policies/config/<stack>.json, or give the resource as `<type>::<logical name>` (a "
        "release's objects: the release).")}),
    "fail_listed_twice": (allow(entry(), entry(reason="again")), {refused(
        KMS_ENTRY, "listed twice; keep one entry")}),
    "fail_unlisted": (allow(), {KMS_FAIL}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_exact_violations(case: str) -> None:
    allow_list, expected = CASES[case]
    assert violations(s3_stack(), allow_list=allow_list) == expected


def claim(name: str, policies: str):
    return set_input(name, "tags.dataplatform:policy-exemptions", policies)


def claim_violation(name: str, policy: str) -> tuple[str, str, str]:
    return (ALLOW, name, f"`aws:s3/bucket:Bucket::{name}` claims an exemption from `{policy}` that "
            "policies/config/<stack>.json does not list; remove its `dataplatform:policy-exemptions` tag or "
            "`dataplatform/policy-exemptions` annotation, or have the security team list the exemption with its "
            "reason and expiry.")


def test_a_claim_the_list_gives_is_no_violation() -> None:
    assert violations(claim("lake-access-logs", f"{KMS} {LOCK}")(s3_stack()), allow_list=S3_ALLOW_LIST) == set()


def test_tags_copied_onto_another_bucket_exempt_nothing_and_are_reported() -> None:
    recording = claim("lake-gold", KMS)(set_input(
        "lake-gold-encryption", "rules.0.applyServerSideEncryptionByDefault", {"sseAlgorithm": "AES256"})(s3_stack()))
    assert violations(recording, allow_list=S3_ALLOW_LIST) == {
        (KMS, "lake-gold", "Bucket 'lake-gold' (dataplatform-prod-gold) is not encrypted with a customer-managed KMS "
         "key; set sseAlgorithm aws:kms and kmsMasterKeyId in its encryption configuration."),
        claim_violation("lake-gold", KMS),
    }


def test_an_access_key_not_listed_as_an_exception_is_a_violation() -> None:
    kept = [e for e in S3_ALLOW_LIST["exceptions"] if "lake-bronze-" not in e["resource"]]
    assert violations(s3_stack(), allow_list={**S3_ALLOW_LIST, "exceptions": kept}) == {(
        ALLOW, "lake-bronze-writer-key", "`aws:iam/accessKey:AccessKey::lake-bronze-writer-key` is a long-lived cloud "
        "key that policies/config/<stack>.json does not list as an exception; give its workload an identity of its "
        "own (IRSA or EKS Pod Identity) instead, or have the security team list it under `exceptions` with the reason "
        "and an expiry date.")}


def test_an_expired_exception_is_refused_and_its_key_reported() -> None:
    listed = [{**e, "expires": "2027-01-01"} if "lake-gold-" in e["resource"] else e
              for e in S3_ALLOW_LIST["exceptions"]]
    found = violations(s3_stack(), allow_list={**S3_ALLOW_LIST, "exceptions": listed})
    assert {(policy, name) for policy, name, _ in found} == {(ALLOW, "lake-gold-writer-key")}
    assert len(found) == 2  # the refused entry, and the key no entry covers


def test_judging_is_by_date() -> None:
    on = datetime.date(2027, 6, 1)
    judged = exemptions.judge([entry(), entry(policy=LOCK, expires="2027-08-01")], on, {KMS: True, LOCK: True})
    assert [(j.policy, j.status, j.days_left) for j in judged] == [(KMS, "expiring", 29), (LOCK, "honoured", 61)]
    assert exemptions.judge([entry()], datetime.date(2027, 7, 1), {KMS: True})[0].status == "refused"


def test_a_resource_key_is_the_end_of_its_urn() -> None:
    urn = "urn:pulumi:prod::dataplatform::dataplatform:storage:DataLake$aws:s3/bucket:Bucket::platform-lake-logs"
    assert exemptions.resource_key(urn) == "aws:s3/bucket:Bucket::platform-lake-logs"


@pytest.fixture(scope="module")
def pack():
    with PolicyPackProcess("dataplatform", "prod", preview=False) as process:
        yield process


def gate(pack: PolicyPackProcess, path: Path, recording: Recording, on: datetime.date):
    config = reconcile(pack.policies.values(), load_config_file(path), origin=str(path), evaluation_date=on)
    return pack.analyze(recording, config, on)


@pytest.mark.integration
def test_the_gate_reports_the_date_and_warns_of_exemptions_near_their_expiry(pack, tmp_path: Path) -> None:
    path = write_fixture_config("prod", tmp_path)
    # Keys rotated in time for these later dates (the rotation policy judges their age too).
    recording = keys_issued_on(s3_stack(), "2027-06-01")
    report = gate(pack, path, recording, datetime.date(2027, 6, 10))
    assert report.passed and report.evaluation_date == "2027-06-10"
    assert report.exemption_summary() == ("evaluated on 2027-06-10: 2 exemption(s) honoured (2 expiring within 30 "
                                          "days), 0 refused")
    assert report.exemption_warnings()[0] == (
        f"warning: the exemption of `{BUCKET}` from `{KMS}` expires on 2027-06-30 (20 days); renew it in "
        "policies/config/prod.json or fix the resource")
    expired = gate(pack, path, recording, datetime.date(2027, 7, 1))
    assert {(v["policy"], v["level"]) for v in expired.mandatory} == {(KMS, "mandatory"), (LOCK, "mandatory"),
                                                                      (ALLOW, "mandatory")}
    assert [e["status"] for e in expired.exemptions] == ["refused", "refused"]


@pytest.mark.integration
def test_the_gate_refuses_a_date_in_the_file_and_copies_that_differ(pack, tmp_path: Path) -> None:
    path = write_fixture_config("prod", tmp_path)
    document = json.loads(path.read_text())
    document[ALLOW]["evaluationDate"] = "2027-01-01"
    path.write_text(json.dumps(document))
    with pytest.raises(GateError, match="evaluationDate is the gate's input"):
        reconcile(pack.policies.values(), load_config_file(path))
    document = json.loads(write_fixture_config("prod", tmp_path).read_text())
    document[KMS]["exemptions"][0]["expires"] = "2027-12-31"  # extended in the copy, not in the list
    path.write_text(json.dumps(document))
    with pytest.raises(GateError, match=f"{KMS}: its `exemptions` differ from its entries in the allow-list"):
        reconcile(pack.policies.values(), load_config_file(path))


@pytest.mark.integration
def test_a_resource_policy_tells_the_engine_what_it_does_not_judge(pack, tmp_path: Path) -> None:
    recording = mutated(s3_stack())
    report = gate(pack, write_fixture_config("prod", tmp_path), recording, EVALUATION_DATE_OBJECT)
    skipped = {(policy, urn) for policy, urn, _ in report.not_applicable}
    kms = recording.named("lake-kms").urn
    assert ("aws-kms-key-enable-rotation", kms) not in skipped
    assert ("aws-kms-key-enable-rotation", recording.named("lake-gold").urn) in skipped


EVALUATION_DATE_OBJECT = datetime.date.fromisoformat(EVALUATION_DATE)


def test_a_malformed_evaluation_date_is_a_violation_never_today() -> None:
    found = violations(s3_stack(), {ALLOW: {"evaluationDate": "2027-13-01"}}, S3_ALLOW_LIST)
    assert found == {(ALLOW, "<stack>", "evaluationDate '2027-13-01' is not a date (YYYY-MM-DD); the gate sets it, or "
                      "leave it unset to judge on the day of the run.")}
