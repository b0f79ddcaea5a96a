"""DataLake declares the exact bucket inventory per backend, secured, with the catalog's access matrix."""

from __future__ import annotations

import json
import re

import pytest

from components.lakehouse.spec import BACKUP_PREFIX
from components.logs.snapshots import SNAPSHOT_WRITER
from components.platform import PREFIX_WRITERS, SERVICE_BUCKETS
from components.storage.access import LIST_BUCKET_ACTIONS, WRITE_BUCKET_ACTIONS, identities
from infra.model.catalog import load_catalog
from infra.model.images import VENDOR_LOCK, parse_reference
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
    "log-shipper": {"access-logs": "append"},
    "airbyte": {"airbyte": "write"},
    "dremio": {"dremio-store": "write"},
    "backups": {"backups": "write"},
}
# identity -> {bucket role: the only prefix whose objects it reads and writes there} (components/storage/access.py
# PrefixGrant): it lists the bucket (Dremio's S3 file system confirms a bucket by listing it) and touches nothing else.
PREFIX_MATRIX = {"dremio": {"backups": "dremio/"}}
# prod's identities by how they reach S3: a role of their workload's service account (IRSA), or, where the client takes
# no web identity, an IAM user with a key listed as an exception (decision 0052).
WORKLOAD_IN_PROD = {"log-shipper": ("dp-logs", "fluent-bit"), "backups": ("dp-metadata", "metadata")}
KEYED_IN_PROD = ["ingestion", "transformation", "query-engine", "airbyte", "dremio"]
OIDC_ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
# MinIO's own images, which no longer get fixes: the community repository is archived, Docker Hub dropped
# minio/minio, quay.io's tags are frozen, Bitnami's moved to bitnamilegacy (decision 0022).
UNMAINTAINED_IMAGES = {"docker.io/minio/minio", "quay.io/minio/minio", "docker.io/minio/mc", "quay.io/minio/mc",
                       "docker.io/bitnami/minio", "docker.io/bitnamilegacy/minio"}
RELEASE_TAG = re.compile(r"RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z")
ROLES = ["bronze", "silver", "gold", "logs", "access-logs", "airbyte", "dremio-store", "backups"]
# No s3:GetObjectVersion: only a restore reads noncurrent versions, and an operator's role runs restores.
READ = {"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"}
APPEND = {"s3:PutObject", "s3:AbortMultipartUpload"}
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


def minio_release(recording):
    (release,) = [r for r in recording.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "minio"]
    return release


def test_dev_object_store_runs_a_maintained_server_build(dev):
    values = minio_release(dev).inputs["values"]
    locked = json.loads(VENDOR_LOCK.read_text())
    for key in ("image", "mcImage"):  # the server, and the client the chart's jobs would run
        image = parse_reference(f"{values[key]['repository']}:{values[key]['tag']}")
        assert image.repository not in UNMAINTAINED_IMAGES, key
        # An immutable release tag of the classic image: the chart starts the server through /bin/sh, which the
        # `-distroless` variants lack.
        assert RELEASE_TAG.fullmatch(image.tag), key
        # In the vendor lock, so the image-lock workflow proves the registry serves it.
        assert image.key in locked, key


def test_dev_object_store_keeps_its_data_volume(dev):
    release = minio_release(dev)
    values = release.inputs["values"]
    # Same release, chart and full name: the new pod mounts the PersistentVolumeClaim `minio` the chart made.
    assert (release.inputs["chart"], release.inputs["version"], release.inputs["namespace"]) == (
        "minio", "5.4.0", "dp-storage")
    assert values["fullnameOverride"] == "minio"
    assert values["persistence"]["enabled"] and "existingClaim" not in values["persistence"]
    # The old pod lets go of the ReadWriteOnce volume before the new server opens it.
    assert values["deploymentUpdate"] == {"type": "Recreate"}


def test_dev_identity_policies_fit_the_servers_iam_rules(dev):
    """The server grants bucket-level actions only on the bare bucket ARN and rejects bare ARN prefixes and
    NotResource next to Resource: every identity's policy names whole buckets for those, objects for the rest
    (every object of a bucket, or a lent prefix's objects and its own key)."""
    bucket_actions = {*LIST_BUCKET_ACTIONS, *WRITE_BUCKET_ACTIONS}
    bucket_arns = {f"arn:aws:s3:::{bucket}" for bucket in BUCKETS_DEV}
    object_arns = {f"{arn}/*" for arn in bucket_arns}
    backups = "arn:aws:s3:::dataplatform-dev-backups"
    object_arns |= {f"{backups}/{BACKUP_PREFIX}*", f"{backups}/{BACKUP_PREFIX.rstrip('/')}"}
    policies = [policy for policy in dev.of_type("minio:index/iamPolicy:IamPolicy")
                if policy.inputs["name"] not in {f"dataplatform-dev-{writer.name}" for writer in PREFIX_WRITERS}]
    assert len(policies) == len(ACCESS_MATRIX)
    for policy in policies:
        for statement in json.loads(policy.inputs["policy"])["Statement"]:
            where = (policy.inputs["name"], statement["Sid"])
            actions, resources = set(statement["Action"]), set(statement["Resource"])
            assert "NotResource" not in statement, where
            if actions & bucket_actions:
                assert actions <= bucket_actions and resources <= bucket_arns, where
            else:
                assert resources <= object_arns, where


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
    policy_types = (["minio:index/iamPolicy:IamPolicy"] if stack == "dev"
                    else ["aws:iam/userPolicy:UserPolicy", "aws:iam/rolePolicy:RolePolicy"])
    documents = {
        r.name.removeprefix("platform-lake-").removesuffix("-policy").removesuffix("-s3"): r.inputs["policy"]
        for policy_type in policy_types for r in recording.of_type(policy_type)
        if not r.name.endswith("-kms") and not any(writer.name in r.name for writer in PREFIX_WRITERS)
    }
    assert sorted(documents) == sorted(ACCESS_MATRIX)
    for identity, grants in ACCESS_MATRIX.items():
        for role in ROLES:
            actions = allowed_actions(documents[identity], f"dataplatform-{stack}-{role}")
            expected = {"write": READ | WRITE, "read": READ, "append": APPEND}.get(grants.get(role), set())
            if role in PREFIX_MATRIX.get(identity, {}):
                expected = {"s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"}
            assert actions == expected, (identity, role)
            prefix = PREFIX_MATRIX.get(identity, {}).get(role)
            bucket = f"arn:aws:s3:::dataplatform-{stack}-{role}"
            under = prefix_actions(documents[identity], bucket, prefix) if prefix else set()
            assert under == ((READ | WRITE) - expected if prefix else set()), (identity, role)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_platform_identity_reads_old_versions(stack, stack_recording):
    recording = stack_recording(stack)
    policy_types = ("minio:index/iamPolicy:IamPolicy", "aws:iam/userPolicy:UserPolicy", "aws:iam/rolePolicy:RolePolicy")
    documents = [r.inputs["policy"] for type_ in policy_types for r in recording.of_type(type_)]
    assert documents
    for document in documents:
        for statement in json.loads(document)["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not {"s3:GetObjectVersion", "s3:*", "s3:GetObject*"} & set(actions), statement


def test_prod_access_log_delivery_is_bound_to_the_account(prod):
    """S3 User Guide, "Permissions for log delivery" (enable-server-access-logging): the logging service's grant
    names both the source buckets (aws:SourceArn) and the account that owns them (aws:SourceAccount)."""
    policies = companions(prod, "aws:s3/bucketPolicy:BucketPolicy")
    statements = {s["Sid"]: s for s in json.loads(policies["access-logs"].inputs["policy"])["Statement"]}
    delivery = statements["AllowServerAccessLogDelivery"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": "111122223333"}
    assert sorted(delivery["Condition"]["ArnLike"]["aws:SourceArn"]) == sorted(
        f"arn:aws:s3:::dataplatform-prod-{role}" for role in ROLES if role != "access-logs")


def prefix_actions(document: str, bucket: str, prefix: str) -> set[str]:
    """The object actions an identity has under `prefix` of `bucket` (and on the prefix's own key), from the
    statements that name only those objects."""
    own = {f"{bucket}/{prefix}*", f"{bucket}/{prefix.rstrip('/')}"}
    actions = set()
    for statement in json.loads(document)["Statement"]:
        resources = set(statement["Resource"])
        if resources & own:
            assert resources == own, statement
            actions |= set(statement["Action"])
    return actions


def test_prod_kms_use_is_granted_by_the_key_policy(prod):
    assert not [r.name for r in prod.of_type("aws:iam/userPolicy:UserPolicy") if r.name.endswith("-kms")]
    (key_policy,) = prod.of_type("aws:kms/keyPolicy:KeyPolicy")
    statements = {s["Sid"]: s for s in json.loads(key_policy.inputs["policy"])["Statement"]}
    user = "arn:aws:iam::111122223333:user/dataplatform-prod-{}".format
    role = "arn:aws:iam::111122223333:role/dataplatform-prod-{}".format
    assert statements["LakeIdentitiesReadThroughS3"]["Principal"] == {"AWS": [user("query-engine")]}
    assert statements["LakeIdentitiesReadThroughS3"]["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    # The workload identities are their service accounts' roles; the keyed ones stay users.
    assert statements["LakeIdentitiesWriteThroughS3"]["Principal"] == {"AWS": sorted([
        *(user(name) for name in KEYED_IN_PROD if name != "query-engine"),
        # The log shipper writes only access-logs, whose SSE-S3 needs no key.
        *(role(name) for name in WORKLOAD_IN_PROD if name != "log-shipper"),
        *(role(writer.name) for writer in PREFIX_WRITERS)])}
    # AWS KMS Developer Guide, "kms:ViaService" and "kms:CallerAccount" (conditions-kms): use only through S3,
    # only by callers of this account.
    assert statements["LakeIdentitiesWriteThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com", "kms:CallerAccount": "111122223333"}}
    admin = statements["AccountAdministersKey"]["Action"]
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:*", "kms:CreateGrant", "kms:Create*"} & set(
        admin)
    principals = {r.urn for r in [*prod.of_type("aws:iam/user:User"), *prod.of_type("aws:iam/role:Role")]}
    assert principals <= set(key_policy.dependencies)


def test_prod_key_policy_is_known_at_preview(stack_recording):
    (key_policy,) = stack_recording("prod", preview=True).of_type("aws:kms/keyPolicy:KeyPolicy")
    assert key_policy.inputs["policy"] != UNKNOWN


def test_credentials_are_secret_outputs(dev, prod):
    for recording in (dev, prod):
        credentials = recording.stack_outputs["lakeCredentials"]
        assert is_secret(credentials)
        # On S3 the prefix writers and the workload identities have roles, no key.
        writers = [writer.name for writer in PREFIX_WRITERS]
        expected = [*ACCESS_MATRIX, *writers] if recording is dev else KEYED_IN_PROD
        assert sorted(credentials["value"]) == sorted(expected)
        assert all(c["secret_access_key"].startswith(SECRET_SENTINEL_PREFIX) for c in credentials["value"].values())


def test_preview_keeps_policy_documents_known(stack_recording):
    preview = stack_recording("prod", preview=True)
    for resource in preview.of_type("aws:s3/bucketPolicy:BucketPolicy"):
        assert resource.inputs["policy"] != UNKNOWN
    for resource in preview.of_type("aws:s3/bucket:Bucket"):
        assert resource.inputs["bucket"].startswith("dataplatform-prod-")


def test_the_snapshot_writer_reaches_only_its_prefix_of_the_backups_bucket(dev, prod):
    """Elasticsearch's identity lists, reads and writes `elasticsearch/` of the backups bucket and nothing else: a
    MinIO user in dev; in prod an IAM role only the nodes' service account assumes, with no access key."""
    (policy,) = [p for p in dev.of_type("minio:index/iamPolicy:IamPolicy")
                 if p.inputs["name"] == f"dataplatform-dev-{SNAPSHOT_WRITER.name}"]
    bucket = "arn:aws:s3:::dataplatform-dev-backups"
    # On the bucket as a whole: listing (under the prefix only, below), its location and uploads; no object.
    assert allowed_actions(policy.inputs["policy"], "dataplatform-dev-backups") == {
        "s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"}
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["ObjectsUnderOwnPrefix"]["Resource"] == [f"{bucket}/elasticsearch/*"]
    assert statements["ListOwnPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["elasticsearch/*"]}}
    (role,) = [r for r in prod.of_type("aws:iam/role:Role") if r.name == f"platform-lake-{SNAPSHOT_WRITER.name}"]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    issuer = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"] == {"StringEquals": {f"{issuer}:sub": "system:serviceaccount:dp-logs:logs-snapshots",
                                                   f"{issuer}:aud": "sts.amazonaws.com"}}
    assert not [key for key in prod.of_type("aws:iam/accessKey:AccessKey") if SNAPSHOT_WRITER.name in key.name]
    (role_policy,) = [p for p in prod.of_type("aws:iam/rolePolicy:RolePolicy")
                      if p.name == f"platform-lake-{SNAPSHOT_WRITER.name}-s3"]
    assert allowed_actions(role_policy.inputs["policy"], "dataplatform-prod-logs") == set()


def test_prod_workload_identities_are_roles_trusted_by_one_service_account(prod):
    """Each workload identity is an IAM role only its namespace's one service account assumes, with a token for STS,
    through the cluster's OIDC provider; it has no IAM user and no access key."""
    roles = {r.name.removeprefix("platform-lake-"): r for r in prod.of_type("aws:iam/role:Role")}
    for identity, (namespace, account) in WORKLOAD_IN_PROD.items():
        role = roles[identity]
        assert role.inputs["name"] == f"dataplatform-prod-{identity}"
        (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert statement == {
            "Sid": "ServiceAccountAssumesRole", "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": f"arn:aws:iam::111122223333:oidc-provider/{OIDC_ISSUER}"},
            "Condition": {"StringEquals": {f"{OIDC_ISSUER}:sub": f"system:serviceaccount:{namespace}:{account}",
                                           f"{OIDC_ISSUER}:aud": "sts.amazonaws.com"}}}
    users = sorted(r.inputs["name"].removeprefix("dataplatform-prod-") for r in prod.of_type("aws:iam/user:User"))
    assert users == sorted(KEYED_IN_PROD)
    keys = sorted(r.name.removeprefix("platform-lake-").removesuffix("-key")
                  for r in prod.of_type("aws:iam/accessKey:AccessKey"))
    assert keys == sorted(KEYED_IN_PROD)


def test_workload_role_arns_are_known_at_preview_and_name_the_declared_roles(stack_recording):
    """The ARN a service account is annotated with is derived from the stack config (`workload_role_arn`); it must be
    the ARN of the role the lake declares under that name, in the OIDC provider's account."""
    from components.platform import WORKLOAD_ACCOUNTS
    from components.storage.access import workload_role_arn
    from infra.model.config import parse_stack_config, project_values
    from infra.model.stackfiles import load_stack

    for stack in ("dev", "prod"):
        config = parse_stack_config(project_values(load_stack(stack).config), stack)
        arns = {account.identity: workload_role_arn(config.storage, config.identity, account)
                for account in WORKLOAD_ACCOUNTS}
        if stack == "dev":
            assert arns == {account.identity: None for account in WORKLOAD_ACCOUNTS}
            continue
        names = {r.inputs["name"] for r in stack_recording(stack, preview=True).of_type("aws:iam/role:Role")}
        for identity, arn in arns.items():
            assert arn == f"arn:aws:iam::111122223333:role/dataplatform-prod-{identity}"
            assert arn.rsplit("/", 1)[1] in names


def test_prod_keys_left_are_replaced_when_their_issue_date_changes(prod):
    """The keys that remain carry `storage.s3.accessKeysIssued`: as the engine's replacement trigger (a new date
    replaces the key) and as their user's tag (the pack judges the key's age from it)."""
    for key in prod.of_type("aws:iam/accessKey:AccessKey"):
        assert key.replacement_trigger == "2026-12-01", key.name
    for user in prod.of_type("aws:iam/user:User"):
        assert user.inputs["tags"]["dataplatform:keys-issued"] == "2026-12-01"


def test_a_new_issue_date_moves_the_trigger():
    from tests.conftest import run_stack

    recording = run_stack("prod", {"dataplatform:storage": {
        "backend": "s3", "s3": {"oidcProviderArn": f"arn:aws:iam::111122223333:oidc-provider/{OIDC_ISSUER}",
                                "accessKeysIssued": "2027-01-10"}}})
    assert {key.replacement_trigger for key in recording.of_type("aws:iam/accessKey:AccessKey")} == {"2027-01-10"}


@pytest.mark.parametrize("provider, expected_role", [
    ("arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC",
     "arn:aws:iam::111122223333:role/dataplatform-prod-backups"),
    ("arn:aws-cn:iam::444455556666:oidc-provider/oidc.eks.cn-north-1.amazonaws.com.cn/id/ABC",
     "arn:aws-cn:iam::444455556666:role/dataplatform-prod-backups"),
])
def test_trust_document_and_role_arn_follow_the_provider(provider, expected_role):
    """The trust names the provider as federated principal and its issuer (the ARN's part after `oidc-provider/`) as
    the condition keys' prefix; the role lives in the provider's partition and account."""
    from components.storage.access import role_arn, web_identity_trust_document

    issuer = provider.split(":oidc-provider/", 1)[1]
    (statement,) = json.loads(web_identity_trust_document(provider, "dp-metadata", "metadata"))["Statement"]
    assert statement["Principal"] == {"Federated": provider}
    assert statement["Condition"] == {"StringEquals": {f"{issuer}:sub": "system:serviceaccount:dp-metadata:metadata",
                                                       f"{issuer}:aud": "sts.amazonaws.com"}}
    assert role_arn(provider, "dataplatform-prod-backups") == expected_role
