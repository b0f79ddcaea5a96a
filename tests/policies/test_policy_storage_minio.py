"""Proves each MinIO storage policy passes the compliant dev baseline and flags exactly the mutated resources."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from policy_eval import violations
from policy_fixtures import minio_stack, mutated, set_input, unprotect, without

from infra.offline.harness import Recording


def b(role: str) -> str:
    return f"'lake-{role}' (dataplatform-dev-{role})"


def add_bucket_policy(recording: Recording) -> Recording:
    copied = mutated(recording)
    template = copied.named("lake-gold-versioning")
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::x/*"]}
        ],
    }
    policy = type(template)(
        **{
            **template.__dict__,
            "name": "lake-gold-public",
            "type": "minio:index/s3BucketPolicy:S3BucketPolicy",
            "urn": template.urn.replace("lake-gold-versioning", "lake-gold-public"),
            "inputs": {"bucket": "dataplatform-dev-gold", "policy": json.dumps(document)},
        }
    )
    copied.resources.append(policy)
    return copied


CASES: dict[str, tuple[Callable[[Recording], Recording], set[tuple[str, str, str]]]] = {
    "pass_baseline": (lambda recording: recording, set()),
    "fail_missing_encryption": (
        lambda r: without(r, "lake-bronze-encryption"),
        {
            (
                "minio-s3-bucket-enable-encryption",
                "lake-bronze",
                f"Bucket {b('bronze')} has no SSE-KMS default "
                "encryption; add an S3BucketServerSideEncryption with encryptionType aws:kms and the MinIO KMS key id "
                "for it.",
            ),
        },
    ),
    "fail_missing_versioning": (
        lambda r: without(r, "lake-silver-versioning"),
        {
            (
                "minio-s3-bucket-enable-versioning",
                "lake-silver",
                f"Bucket {b('silver')} is not versioned; add an S3BucketVersioning with status Enabled for it.",
            ),
        },
    ),
    "fail_missing_ilm": (
        lambda r: without(r, "lake-gold-lifecycle"),
        {
            (
                "minio-s3-bucket-configure-noncurrent-version-expiry",
                "lake-gold",
                f"Bucket {b('gold')} keeps noncurrent "
                "versions forever; add an IlmPolicy rule with noncurrentVersionExpirationDays for it.",
            ),
        },
    ),
    "fail_logs_short_retention": (
        set_input("lake-logs-lifecycle", "rules.1.expiration", "30d"),
        {
            (
                "minio-s3-bucket-configure-log-retention",
                "lake-logs",
                f"Audit bucket {b('logs')} expires objects after 30 days; keep them at least 90 days.",
            ),
        },
    ),
    "fail_logs_expire_on_date": (
        set_input("lake-access-logs-lifecycle", "rules.1.expiration", "2027-01-01"),
        {
            (
                "minio-s3-bucket-configure-log-retention",
                "lake-access-logs",
                f"Audit bucket {b('access-logs')} expires objects on a fixed date; keep them at least 90 days.",
            ),
        },
    ),
    "fail_public_acl": (
        set_input("lake-gold", "acl", "public-read"),
        {
            (
                "minio-s3-bucket-disallow-public-access",
                "lake-gold",
                "Bucket 'lake-gold' has acl public-read; set acl to private on it.",
            ),
        },
    ),
    "fail_wildcard_bucket_policy": (
        add_bucket_policy,
        {
            (
                "minio-s3-bucket-disallow-public-access",
                "lake-gold-public",
                "Bucket policy 'lake-gold-public' allows a "
                "wildcard principal; grant access to named MinIO users instead.",
            ),
        },
    ),
    "fail_provider_without_tls": (
        set_input("lake-minio", "minioSsl", "false"),
        {
            (
                "minio-provider-require-tls",
                "lake-minio",
                "MinIO provider 'lake-minio' talks to MinIO without TLS; set minioSsl to true on it.",
            ),
        },
    ),
    "fail_iam_wildcard": (
        set_input(
            "lake-bronze-writer-policy",
            "policy",
            json.dumps(
                {
                    "Statement": [
                        {"Effect": "Allow", "Action": "*", "Resource": ["arn:aws:s3:::dataplatform-dev-bronze"]}
                    ]
                }
            ),
        ),
        {
            (
                "minio-iam-policy-disallow-wildcard-access",
                "lake-bronze-writer-policy",
                "MinIO policy "
                "'lake-bronze-writer-policy' allows action *; list the exact actions and buckets the user needs.",
            ),
        },
    ),
    "fail_unprotected_bucket": (
        unprotect("lake-backups"),
        {
            (
                "minio-s3-bucket-require-deletion-protection",
                "lake-backups",
                "Bucket 'lake-backups' is not protected; set protect=True on it.",
            ),
        },
    ),
    "fail_force_destroy": (
        set_input("lake-airbyte", "forceDestroy", True),
        {
            (
                "minio-s3-bucket-require-deletion-protection",
                "lake-airbyte",
                "Bucket 'lake-airbyte' sets forceDestroy; set forceDestroy to false on it.",
            ),
        },
    ),
}


@pytest.fixture(scope="module", params=[False, True], ids=["update", "preview"])
def baseline(request) -> Recording:
    return minio_stack(preview=request.param)


@pytest.mark.parametrize("case", list(CASES))
def test_exact_violations(baseline: Recording, case: str) -> None:
    mutate, expected = CASES[case]
    assert violations(mutate(baseline)) == expected
