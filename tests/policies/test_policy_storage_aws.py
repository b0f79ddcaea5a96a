"""Proves each AWS storage policy passes the compliant prod baseline and flags exactly the mutated resources."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from policy_eval import SKIPPED
from policy_eval import violations as all_violations
from policy_fixtures import OIDC_PROVIDER, S3_ALLOW_LIST, mutated, s3_stack, set_input, unprotect, without

from infra.offline.harness import UNKNOWN, Recording


def violations(recording: Recording, config: dict | None = None) -> set[tuple[str, str, str]]:
    """What the pack reports with prod's allow-list as it applies to the fixture (policy_fixtures.S3_ALLOW_LIST)."""
    return all_violations(recording, config, S3_ALLOW_LIST)


def b(role: str) -> str:
    return f"'lake-{role}' (dataplatform-prod-{role})"


def remove(name: str) -> Callable[[Recording], Recording]:
    return lambda recording: without(recording, name)


def repoint(name: str, to_bucket: str) -> Callable[[Recording], Recording]:
    def mutate(recording: Recording) -> Recording:
        copied = mutated(recording)
        copied.named(name).property_dependencies["bucket"] = [copied.named(to_bucket).urn]
        return copied

    return mutate


def allow_everyone(recording: Recording) -> Recording:
    copied = mutated(recording)
    policy = json.loads(copied.named("lake-gold-policy").inputs["policy"])
    policy["Statement"].append(
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "*"}
    )
    copied.named("lake-gold-policy").inputs["policy"] = json.dumps(policy)
    return copied


def grant(action: str, resource: str) -> Callable[[Recording], Recording]:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]}
    return set_input("lake-bronze-writer-s3", "policy", json.dumps(document))


def trust(edit: Callable[[dict], None]) -> Callable[[Recording], Recording]:
    """The log shipper role's trust statement edited."""
    def mutate(recording: Recording) -> Recording:
        copied = mutated(recording)
        role = copied.named("lake-log-shipper")
        document = json.loads(role.inputs["assumeRolePolicy"])
        edit(document["Statement"][0])
        role.inputs["assumeRolePolicy"] = json.dumps(document)
        return copied

    return mutate


ISSUER = OIDC_PROVIDER.split(":oidc-provider/", 1)[1]
SUB, AUD = f"{ISSUER}:sub", f"{ISSUER}:aud"
TRUST = "aws-iam-role-configure-workload-trust"
TRUST_FIX = "trust one namespace's one service account through the cluster's OIDC provider."
ROTATION = "aws-iam-access-key-configure-rotation"


def issued(day: str | None) -> Callable[[Recording], Recording]:
    """The bronze writer's key issued on `day` (None: the user carries no issue date)."""
    if day is None:
        return set_input("lake-bronze-writer", "tags.dataplatform:keys-issued", None)
    return set_input("lake-bronze-writer", "tags.dataplatform:keys-issued", day)


KEY_OF = "Access key 'lake-bronze-writer-key' of IAM user 'dataplatform-prod-bronze-writer'"
KMS = "aws-s3-bucket-require-kms-encryption"
LOCK = "aws-s3-bucket-enable-object-lock"
TLS_FIX = "add a bucket policy statement that denies s3:* to every principal when aws:SecureTransport is false."
CASES: dict[str, tuple[Callable[[Recording], Recording], set[tuple[str, str, str]]]] = {
    "pass_baseline": (lambda recording: recording, set()),
    "fail_missing_encryption": (
        remove("lake-bronze-encryption"),
        {
            (
                "aws-s3-bucket-enable-encryption",
                "lake-bronze",
                f"Bucket {b('bronze')} has no default server-side "
                "encryption; add a BucketServerSideEncryptionConfiguration with sseAlgorithm aws:kms for it.",
            ),
            (
                KMS,
                "lake-bronze",
                f"Bucket {b('bronze')} is not encrypted with a customer-managed KMS key; set "
                "sseAlgorithm aws:kms and kmsMasterKeyId in its encryption configuration.",
            ),
        },
    ),
    "fail_sse_s3_without_exemption": (
        set_input("lake-silver-encryption", "rules.0.applyServerSideEncryptionByDefault", {"sseAlgorithm": "AES256"}),
        {
            (
                KMS,
                "lake-silver",
                f"Bucket {b('silver')} is not encrypted with a customer-managed KMS key; set "
                "sseAlgorithm aws:kms and kmsMasterKeyId in its encryption configuration.",
            )
        },
    ),
    "fail_kms_without_key_id": (
        set_input("lake-gold-encryption", "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId", None),
        {
            (
                KMS,
                "lake-gold",
                f"Bucket {b('gold')} is not encrypted with a customer-managed KMS key; set "
                "sseAlgorithm aws:kms and kmsMasterKeyId in its encryption configuration.",
            )
        },
    ),
    "fail_exemption_claimed_by_the_bucket": (
        lambda r: remove("lake-bronze-versioning")(
            set_input("lake-bronze", "tags.dataplatform:policy-exemptions", "aws-s3-bucket-enable-versioning")(r)
        ),
        {
            (
                "aws-s3-bucket-enable-versioning",
                "lake-bronze",
                f"Bucket {b('bronze')} is not versioned; add a BucketVersioning with status Enabled for it.",
            ),
            (
                "pack-exemption-require-allow-list",
                "lake-bronze",
                "`aws:s3/bucket:Bucket::lake-bronze` claims an exemption from `aws-s3-bucket-enable-versioning` that "
                "policies/config/<stack>.json does not list; remove its `dataplatform:policy-exemptions` tag or "
                "`dataplatform/policy-exemptions` annotation, or have the security team list the exemption with its "
                "reason and expiry.",
            ),
        },
    ),
    "fail_versioning_suspended": (
        set_input("lake-silver-versioning", "versioningConfiguration.status", "Suspended"),
        {
            (
                "aws-s3-bucket-enable-versioning",
                "lake-silver",
                f"Bucket {b('silver')} is not versioned; add a BucketVersioning with status Enabled for it.",
            )
        },
    ),
    "fail_companion_of_another_bucket": (
        repoint("lake-gold-versioning", "lake-silver"),
        {
            (
                "aws-s3-bucket-enable-versioning",
                "lake-gold",
                f"Bucket {b('gold')} is not versioned; add a BucketVersioning with status Enabled for it.",
            )
        },
    ),
    "fail_missing_public_access_block": (
        remove("lake-airbyte-public-access-block"),
        {
            (
                "aws-s3-bucket-disallow-public-access",
                "lake-airbyte",
                f"Bucket {b('airbyte')} does not block public access (it has no BucketPublicAccessBlock); add one "
                "with blockPublicAcls, blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets set to true.",
            ),
        },
    ),
    "fail_public_access_flag_off": (
        set_input("lake-gold-public-access-block", "restrictPublicBuckets", False),
        {
            (
                "aws-s3-bucket-disallow-public-access",
                "lake-gold",
                f"Bucket {b('gold')} does not block public access (restrictPublicBuckets not true on its "
                "BucketPublicAccessBlock); set restrictPublicBuckets to true.",
            ),
        },
    ),
    "fail_public_canned_acl": (
        set_input("lake-gold", "acl", "public-read"),
        {
            (
                "aws-s3-bucket-disallow-public-access",
                "lake-gold",
                f"Bucket {b('gold')} grants the canned ACL public-read; remove the acl input so it stays private.",
            ),
        },
    ),
    "fail_missing_ownership_controls": (
        remove("lake-backups-ownership"),
        {
            (
                "aws-s3-bucket-require-owner-enforced",
                "lake-backups",
                f"Bucket {b('backups')} still honours ACLs; add "
                "BucketOwnershipControls with objectOwnership BucketOwnerEnforced for it.",
            ),
        },
    ),
    "fail_missing_bucket_policy": (
        remove("lake-bronze-policy"),
        {
            (
                "aws-s3-bucket-require-tls",
                "lake-bronze",
                f"Bucket {b('bronze')} accepts requests without TLS; {TLS_FIX}",
            ),
        },
    ),
    "fail_bucket_policy_without_tls_rule": (
        set_input("lake-bronze-policy", "policy", json.dumps({"Version": "2012-10-17", "Statement": []})),
        {("aws-s3-bucket-require-tls", "lake-bronze", f"Bucket {b('bronze')} accepts requests without TLS; {TLS_FIX}")},
    ),
    "fail_bucket_policy_unknown_at_preview": (
        set_input("lake-silver-policy", "policy", UNKNOWN),
        {
            (
                "aws-s3-bucket-require-tls",
                "lake-silver",
                f"Bucket {b('silver')} has a bucket policy that is unknown at "
                "preview; render it from literal names and ARNs so the TLS rule can be checked.",
            ),
            (
                "aws-s3-bucket-disallow-wildcard-principals",
                "lake-silver-policy",
                "Bucket policy 'lake-silver-policy' is "
                "not a JSON document known at preview; render it from literal names and ARNs.",
            ),
        },
    ),
    "fail_wildcard_principal": (
        allow_everyone,
        {
            (
                "aws-s3-bucket-disallow-wildcard-principals",
                "lake-gold-policy",
                "Bucket policy 'lake-gold-policy' allows "
                "a wildcard principal; name the identities that need access instead.",
            ),
        },
    ),
    "fail_missing_access_logging": (
        remove("lake-gold-logging"),
        {
            (
                "aws-s3-bucket-enable-access-logging",
                "lake-gold",
                f"Bucket {b('gold')} has no server access logging; add "
                "a BucketLogging with targetBucket (the access-logs bucket) and a targetPrefix for it.",
            ),
        },
    ),
    "fail_missing_lifecycle": (
        remove("lake-bronze-lifecycle"),
        {
            (
                "aws-s3-bucket-configure-abort-incomplete-multipart",
                "lake-bronze",
                f"Bucket {b('bronze')} keeps incomplete "
                "multipart uploads forever; add an enabled lifecycle rule with "
                "abortIncompleteMultipartUpload.daysAfterInitiation for it.",
            ),
            (
                "aws-s3-bucket-configure-noncurrent-version-expiry",
                "lake-bronze",
                f"Bucket {b('bronze')} keeps noncurrent "
                "versions forever; add an enabled lifecycle rule with "
                "noncurrentVersionExpiration.noncurrentDays for it.",
            ),
        },
    ),
    "fail_noncurrent_rule_disabled": (
        set_input("lake-dremio-store-lifecycle", "rules.0.status", "Disabled"),
        {
            (
                "aws-s3-bucket-configure-noncurrent-version-expiry",
                "lake-dremio-store",
                f"Bucket {b('dremio-store')} keeps "
                "noncurrent versions forever; add an enabled lifecycle rule with "
                "noncurrentVersionExpiration.noncurrentDays for it.",
            ),
        },
    ),
    "fail_logs_short_retention": (
        set_input("lake-logs-lifecycle", "rules.2.expiration.days", 30.0),
        {
            (
                "aws-s3-bucket-configure-log-retention",
                "lake-logs",
                f"Audit bucket {b('logs')} expires objects after 30 days; keep them at least 90 days.",
            ),
        },
    ),
    "fail_access_logs_short_retention": (
        set_input("lake-access-logs-lifecycle", "rules.2.expiration.days", 14.0),
        {
            (
                "aws-s3-bucket-configure-log-retention",
                "lake-access-logs",
                f"Audit bucket {b('access-logs')} expires objects after 14 days; keep them at least 90 days.",
            ),
        },
    ),
    "fail_logs_without_lock_configuration": (
        remove("lake-logs-object-lock"),
        {
            (
                LOCK,
                "lake-logs",
                f"Audit bucket {b('logs')} has no COMPLIANCE default retention of at least 90 days; add a "
                "BucketObjectLockConfiguration with that retention for it.",
            ),
        },
    ),
    "fail_logs_lock_governance": (
        set_input("lake-logs-object-lock", "rule.defaultRetention.mode", "GOVERNANCE"),
        {
            (
                LOCK,
                "lake-logs",
                f"Audit bucket {b('logs')} has no COMPLIANCE default retention of at least 90 days; add "
                "a BucketObjectLockConfiguration with that retention for it.",
            )
        },
    ),
    "fail_logs_lock_disabled": (
        set_input("lake-logs", "objectLockEnabled", False),
        {
            (LOCK, "lake-logs", f"Audit bucket {b('logs')} has no object lock; set objectLockEnabled to true on it."),
        },
    ),
    "fail_missing_role_tag": (
        set_input("lake-bronze", "tags.dataplatform:role", None),
        {
            (
                "aws-s3-bucket-require-role-tag",
                "lake-bronze",
                "Bucket 'lake-bronze' has no dataplatform:role tag; tag it "
                "with its role so role-based policies apply to it.",
            ),
        },
    ),
    "fail_unprotected_bucket": (
        unprotect("lake-silver"),
        {
            (
                "aws-storage-require-deletion-protection",
                "lake-silver",
                "Bucket 'lake-silver' is not protected; set protect=True on it.",
            ),
        },
    ),
    "fail_force_destroy": (
        set_input("lake-gold", "forceDestroy", True),
        {
            (
                "aws-storage-require-deletion-protection",
                "lake-gold",
                "Bucket 'lake-gold' sets forceDestroy; set forceDestroy to false on it.",
            ),
        },
    ),
    "fail_unprotected_key": (
        unprotect("lake-kms"),
        {
            (
                "aws-storage-require-deletion-protection",
                "lake-kms",
                "KMS key 'lake-kms' is not protected; set protect=True on it.",
            ),
        },
    ),
    "fail_key_rotation_off": (
        set_input("lake-kms", "enableKeyRotation", False),
        {
            (
                "aws-kms-key-enable-rotation",
                "lake-kms",
                "KMS key 'lake-kms' does not rotate; set enableKeyRotation to true on it.",
            ),
        },
    ),
    "fail_iam_service_wildcard": (
        grant("s3:*", "arn:aws:s3:::dataplatform-prod-bronze/*"),
        {
            (
                "aws-iam-policy-disallow-wildcard-access",
                "lake-bronze-writer-s3",
                "IAM policy 'lake-bronze-writer-s3' "
                "allows action s3:*; list the exact actions and resources the identity needs.",
            ),
        },
    ),
    "fail_iam_any_resource": (
        grant("s3:GetObject", "*"),
        {
            (
                "aws-iam-policy-disallow-wildcard-access",
                "lake-bronze-writer-s3",
                "IAM policy 'lake-bronze-writer-s3' "
                "allows resource *; list the exact actions and resources the identity needs.",
            ),
        },
    ),
    "pass_trust_subject_as_one_item_list": (trust(lambda st: st["Condition"]["StringEquals"].__setitem__(
        SUB, ["system:serviceaccount:dp-logs:fluent-bit"])), set()),
    "fail_trust_any_service_account_of_the_namespace": (
        trust(lambda st: st["Condition"].__setitem__("StringLike", {
            SUB: st["Condition"]["StringEquals"].pop(SUB).rsplit(":", 1)[0] + ":*"})),
        {(TRUST, "lake-log-shipper", "IAM role 'lake-log-shipper' trust statement 'ServiceAccountAssumesRole' "
          f"matches the token's claims with StringLike; use StringEquals on `{SUB}` and `{AUD}`; {TRUST_FIX}")},
    ),
    "fail_trust_wildcard_subject": (
        trust(lambda st: st["Condition"]["StringEquals"].__setitem__(SUB, "system:serviceaccount:*:*")),
        {(TRUST, "lake-log-shipper", "IAM role 'lake-log-shipper' trust statement 'ServiceAccountAssumesRole' does "
          f"not limit `{SUB}` to one `system:serviceaccount:<namespace>:<service account>` with StringEquals (seen: "
          f"system:serviceaccount:*:*); {TRUST_FIX}")},
    ),
    "fail_trust_two_service_accounts": (
        trust(lambda st: st["Condition"]["StringEquals"].__setitem__(
            SUB, ["system:serviceaccount:dp-logs:fluent-bit", "system:serviceaccount:dp-logs:default"])),
        {(TRUST, "lake-log-shipper", "IAM role 'lake-log-shipper' trust statement 'ServiceAccountAssumesRole' does "
          f"not limit `{SUB}` to one `system:serviceaccount:<namespace>:<service account>` with StringEquals (seen: "
          f"system:serviceaccount:dp-logs:fluent-bit, system:serviceaccount:dp-logs:default); {TRUST_FIX}")},
    ),
    "fail_trust_without_audience": (
        trust(lambda st: st["Condition"]["StringEquals"].pop(AUD)),
        {(TRUST, "lake-log-shipper", "IAM role 'lake-log-shipper' trust statement 'ServiceAccountAssumesRole' does "
          f"not limit `{AUD}` to `sts.amazonaws.com` with StringEquals (seen: none); {TRUST_FIX}")},
    ),
    "fail_trust_without_condition": (
        trust(lambda st: st.pop("Condition")),
        {(TRUST, "lake-log-shipper", "IAM role 'lake-log-shipper' trust statement 'ServiceAccountAssumesRole' does "
          f"not limit `{SUB}` to one `system:serviceaccount:<namespace>:<service account>` with StringEquals (seen: "
          f"none); {TRUST_FIX}")},
    ),
    "fail_trust_web_identity_from_an_account": (
        trust(lambda st: st.__setitem__("Principal", {"AWS": "arn:aws:iam::444455556666:root"})),
        {(TRUST, "lake-log-shipper", "IAM role 'lake-log-shipper' trust statement 'ServiceAccountAssumesRole' "
          f"allows sts:AssumeRoleWithWebIdentity to a principal that is not the cluster's OIDC provider; {TRUST_FIX}"),
         ("aws-iam-role-trust-disallow-foreign-principals", "lake-log-shipper",
          "IAM role trust policy 'lake-log-shipper' statement ServiceAccountAssumesRole allows principals of AWS "
          "account(s) 444455556666, not the stack's (111122223333); share through the stack's own roles instead of "
          "another account's.")},
    ),
    "fail_trust_unknown_at_preview": (
        set_input("lake-log-shipper", "assumeRolePolicy", UNKNOWN),
        {(TRUST, "lake-log-shipper", "IAM role 'lake-log-shipper' has a trust policy that is not a JSON document "
          "known at preview; render it from the OIDC provider's ARN and the service account's name.")},
    ),
    "pass_key_issued_90_days_before": (issued("2026-10-17"), set()),
    "fail_key_issued_91_days_before": (
        issued("2026-10-16"),
        {(ROTATION, "lake-bronze-writer-key", f"{KEY_OF} was issued on 2026-10-16, 91 days before 2027-01-15 (at "
          "most 90); rotate it with `make rotate-keys` and `pulumi up`.")},
    ),
    "fail_key_issued_after_the_evaluation_date": (
        issued("2027-02-01"),
        {(ROTATION, "lake-bronze-writer-key", f"{KEY_OF} says it was issued on 2027-02-01, after the evaluation date "
          "2027-01-15; set `storage.s3.accessKeysIssued` to the day the keys were issued.")},
    ),
    "fail_key_without_issue_date": (
        issued(None),
        {(ROTATION, "lake-bronze-writer-key", f"{KEY_OF} has no issue date (its user's `dataplatform:keys-issued` "
          "tag, seen: none); set `storage.s3.accessKeysIssued` (make rotate-keys).")},
    ),
    "fail_iam_document_unknown_at_preview": (
        set_input("lake-bronze-writer-s3", "policy", UNKNOWN),
        {
            (
                "aws-iam-policy-disallow-wildcard-access",
                "lake-bronze-writer-s3",
                "IAM policy 'lake-bronze-writer-s3' is "
                "not a JSON document known at preview; render it from literal names and ARNs.",
            ),
        },
    ),
}


@pytest.fixture(scope="module", params=[False, True], ids=["update", "preview"])
def baseline(request) -> Recording:
    return s3_stack(preview=request.param)


@pytest.mark.parametrize("case", list(CASES))
def test_exact_violations(baseline: Recording, case: str) -> None:
    mutate, expected = CASES[case]
    assert violations(mutate(baseline)) == expected


def test_no_policy_is_skipped_at_preview() -> None:
    found = violations(s3_stack(preview=True))
    assert not {item for item in found if item[2] == SKIPPED}


def test_companion_joins_by_dependency_when_property_dependencies_are_missing() -> None:
    # A BucketLogging depends on two buckets (source and sink), so it keeps its property dependencies here.
    recording = mutated(s3_stack(preview=True))
    for resource in recording.resources:
        if resource.type != "aws:s3/bucketLogging:BucketLogging":
            resource.property_dependencies = {}
    assert violations(recording) == set()


def test_companion_joins_by_name_when_known() -> None:
    recording = mutated(s3_stack(preview=False))
    for resource in recording.resources:
        resource.property_dependencies, resource.dependencies = {}, []
    assert violations(recording) == set()


def test_config_raises_the_audit_period() -> None:
    found = violations(s3_stack(), {"aws-s3-bucket-configure-log-retention": {"minDays": 120}})
    assert found == {
        (
            "aws-s3-bucket-configure-log-retention",
            f"lake-{role}",
            f"Audit bucket {b(role)} expires objects after 90 days; keep them at least 120 days.",
        )
        for role in ("logs", "access-logs")
    }
