"""DataLake declares the exact bucket inventory per backend, secured, with the catalog's access matrix."""

from __future__ import annotations

import json

import pytest

from components.platform import SERVICE_BUCKETS
from components.storage.access import identities
from infra.model.catalog import load_catalog
from infra.offline.harness import SECRET_SENTINEL_PREFIX, UNKNOWN, is_secret

BUCKETS_DEV = [
    "dataplatform-dev-bronze", "dataplatform-dev-silver", "dataplatform-dev-gold", "dataplatform-dev-logs",
    "dataplatform-dev-access-logs", "dataplatform-dev-airbyte", "dataplatform-dev-dremio-store",
    "dataplatform-dev-backups",
]
BUCKETS_PROD = [name.replace("-dev-", "-prod-") for name in BUCKETS_DEV]

# identity -> {bucket role: access}; everything absent is no access at all.
ACCESS_MATRIX = {
    "ingestion": {"bronze": "write"},
    "transformation": {"bronze": "read", "silver": "write", "gold": "write"},
    "query-engine": {"bronze": "read", "silver": "read", "gold": "read"},
    "log-shipper": {"logs": "write", "access-logs": "write"},
    "airbyte": {"airbyte": "write"},
    "dremio": {"dremio-store": "write"},
    "backups": {"backups": "write"},
}
ROLES = ["bronze", "silver", "gold", "logs", "access-logs", "airbyte", "dremio-store", "backups"]
READ = {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:GetBucketLocation"}
WRITE = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
         "s3:ListBucketMultipartUploads"}


def companions(recording, type_: str) -> dict[str, object]:
    """Companion resources keyed by the bucket role they depend on."""
    by_urn = recording.by_urn()
    found = {}
    for resource in recording.of_type(type_):
        (bucket_urn,) = resource.property_dependencies["bucket"]
        found[by_urn[bucket_urn].name.removeprefix("platform-lake-")] = resource
    return found


def allowed_actions(document: str, bucket: str) -> set[str]:
    actions = set()
    for statement in json.loads(document)["Statement"]:
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"]
        if f"arn:aws:s3:::{bucket}" in resources or f"arn:aws:s3:::{bucket}/*" in resources:
            actions |= set(statement["Action"])
    return actions


def test_matrix_is_derived_from_the_catalog():
    derived = {identity.name: dict(identity.grants) for identity in identities(load_catalog(), SERVICE_BUCKETS)}
    assert derived == ACCESS_MATRIX


def test_dev_bucket_inventory(dev):
    assert sorted(r.inputs["bucket"] for r in dev.of_type("minio:index/s3Bucket:S3Bucket")) == sorted(BUCKETS_DEV)
    assert all(r.inputs["acl"] == "private" for r in dev.of_type("minio:index/s3Bucket:S3Bucket"))


def test_prod_bucket_inventory(prod):
    assert sorted(r.inputs["bucket"] for r in prod.of_type("aws:s3/bucket:Bucket")) == sorted(BUCKETS_PROD)


def test_minio_provider_uses_tls(dev):
    (provider,) = dev.of_type("pulumi:providers:minio")
    assert provider.inputs["minioSsl"] == "true"
    assert provider.inputs["minioServer"] == "minio.dp-storage.svc.cluster.local:9000"


def test_dev_every_bucket_encrypted_versioned_with_lifecycle(dev):
    encryption = companions(dev, "minio:index/s3BucketServerSideEncryption:S3BucketServerSideEncryption")
    versioning = companions(dev, "minio:index/s3BucketVersioning:S3BucketVersioning")
    lifecycle = companions(dev, "minio:index/ilmPolicy:IlmPolicy")
    assert sorted(encryption) == sorted(versioning) == sorted(lifecycle) == sorted(ROLES)
    for role in ROLES:
        assert encryption[role].inputs["encryptionType"] == "aws:kms"
        assert encryption[role].inputs["kmsKeyId"] == "dataplatform-dev-sse"
        assert versioning[role].inputs["versioningConfiguration"] == {"status": "Enabled"}
        rules = {rule["id"]: rule for rule in lifecycle[role].inputs["rules"]}
        assert rules["expire-noncurrent-versions"]["noncurrentVersionExpirationDays"] == 30.0
    assert lifecycle["logs"].input("rules.1.expiration") == "90d"
    assert lifecycle["access-logs"].input("rules.1.expiration") == "90d"
    assert len(lifecycle["bronze"].inputs["rules"]) == 1  # bronze keeps current objects


def test_prod_every_bucket_secured(prod):
    kinds = {
        kind: companions(prod, f"aws:s3/{kind[0].lower() + kind[1:]}:{kind}")
        for kind in ("BucketServerSideEncryptionConfiguration", "BucketVersioning", "BucketPublicAccessBlock",
                     "BucketOwnershipControls", "BucketLifecycleConfiguration", "BucketPolicy")
    }
    for kind, found in kinds.items():
        assert sorted(found) == sorted(ROLES), kind
    (key,) = [key for key in prod.of_type("aws:kms/key:Key") if key.name.startswith("platform-lake-")]
    assert key.inputs["enableKeyRotation"] is True and key.protect
    for role in ROLES:
        encryption = kinds["BucketServerSideEncryptionConfiguration"][role]
        default = encryption.input("rules.0.applyServerSideEncryptionByDefault")
        if role == "access-logs":
            assert default == {"sseAlgorithm": "AES256"}
        else:
            assert default["sseAlgorithm"] == "aws:kms" and default["kmsMasterKeyId"].startswith("arn:aws:kms:")
        block = kinds["BucketPublicAccessBlock"][role].inputs
        assert [block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                   "restrictPublicBuckets")] == [True] * 4
        policy = json.loads(kinds["BucketPolicy"][role].inputs["policy"])
        deny = policy["Statement"][0]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        rules = {rule["id"]: rule for rule in kinds["BucketLifecycleConfiguration"][role].inputs["rules"]}
        assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {
            "daysAfterInitiation": 7.0}
        assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 30.0}
    logs_rules = {r["id"]: r for r in kinds["BucketLifecycleConfiguration"]["logs"].inputs["rules"]}
    assert logs_rules["expire-current-objects"]["expiration"] == {"days": 90.0}


def test_prod_access_logging_and_object_lock(prod):
    logging = companions(prod, "aws:s3/bucketLogging:BucketLogging")
    assert sorted(logging) == sorted(set(ROLES) - {"access-logs"})
    assert all(r.inputs["targetPrefix"] == f"{role}/" for role, r in logging.items())
    (lock,) = prod.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["rule"] == {"defaultRetention": {"mode": "COMPLIANCE", "days": 90.0}}
    buckets = {r.inputs["bucket"]: r for r in prod.of_type("aws:s3/bucket:Bucket")}
    assert buckets["dataplatform-prod-logs"].inputs["objectLockEnabled"] is True
    assert "objectLockEnabled" not in buckets["dataplatform-prod-access-logs"].inputs


def test_protect_only_in_prod(dev, prod):
    assert all(r.protect for r in prod.of_type("aws:s3/bucket:Bucket"))
    assert not any(r.protect for r in dev)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_identity_against_every_bucket(stack, stack_recording):
    recording = stack_recording(stack)
    policy_type = "minio:index/iamPolicy:IamPolicy" if stack == "dev" else "aws:iam/userPolicy:UserPolicy"
    documents = {
        r.name.removeprefix("platform-lake-").removesuffix("-policy").removesuffix("-s3"): r.inputs["policy"]
        for r in recording.of_type(policy_type) if not r.name.endswith("-kms")
    }
    assert sorted(documents) == sorted(ACCESS_MATRIX)
    for identity, grants in ACCESS_MATRIX.items():
        for role in ROLES:
            actions = allowed_actions(documents[identity], f"dataplatform-{stack}-{role}")
            expected = {"write": READ | WRITE, "read": READ}.get(grants.get(role), set())
            assert actions == expected, (identity, role)


def test_prod_kms_use_is_granted_by_the_key_policy(prod):
    assert not [r.name for r in prod.of_type("aws:iam/userPolicy:UserPolicy") if r.name.endswith("-kms")]
    (key_policy,) = prod.of_type("aws:kms/keyPolicy:KeyPolicy")
    statements = {s["Sid"]: s for s in json.loads(key_policy.inputs["policy"])["Statement"]}
    user = "arn:aws:iam::111122223333:user/dataplatform-prod-{}".format
    assert statements["LakeIdentitiesReadThroughS3"]["Principal"] == {"AWS": [user("query-engine")]}
    assert statements["LakeIdentitiesReadThroughS3"]["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    assert statements["LakeIdentitiesWriteThroughS3"]["Principal"] == {"AWS": sorted(
        user(name) for name in ("ingestion", "transformation", "log-shipper", "airbyte", "dremio", "backups"))}
    assert statements["LakeIdentitiesWriteThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}
    admin = statements["AccountAdministersKey"]["Action"]
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:*"} & set(admin)
    users = {r.urn for r in prod.of_type("aws:iam/user:User")}
    assert users <= set(key_policy.dependencies)


def test_prod_key_policy_is_known_at_preview(stack_recording):
    (key_policy,) = stack_recording("prod", preview=True).of_type("aws:kms/keyPolicy:KeyPolicy")
    assert key_policy.inputs["policy"] != UNKNOWN


def test_credentials_are_secret_outputs(dev, prod):
    for recording in (dev, prod):
        credentials = recording.stack_outputs["lakeCredentials"]
        assert is_secret(credentials)
        assert sorted(credentials["value"]) == sorted(ACCESS_MATRIX)
        assert all(c["secret_access_key"].startswith(SECRET_SENTINEL_PREFIX) for c in credentials["value"].values())


def test_preview_keeps_policy_documents_known(stack_recording):
    preview = stack_recording("prod", preview=True)
    for resource in preview.of_type("aws:s3/bucketPolicy:BucketPolicy"):
        assert resource.inputs["policy"] != UNKNOWN
    for resource in preview.of_type("aws:s3/bucket:Bucket"):
        assert resource.inputs["bucket"].startswith("dataplatform-prod-")
