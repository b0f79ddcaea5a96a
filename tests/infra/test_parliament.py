"""parliament (PyPI, duo-labs/parliament 1.6.4, with its community auditors) lints every AWS policy document the dev
and prod plans hold: IAM identity and trust policies, bucket, key and topic policies, MinIO's IAM-grammar policies.
The documents are collected from the offline harness's recording by shape (infra/offline/iam_documents.py), not
from a list. Any finding fails the test unless the ignore list below covers it; each ignore says why the finding is
parliament's limit and not a defect, and is narrowed to the finding's place (an ignore that no longer matches
anything fails too, so the list cannot go stale).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from parliament import analyze_policy_string

from infra.offline.iam_documents import PolicyDocument, policy_documents

KEY_TYPES = {"aws:kms/key:Key", "aws:kms/keyPolicy:KeyPolicy"}
LOGS_CONTEXT = "kms:EncryptionContext:aws:logs:arn"
# What a key's administrators must keep: KMS refuses a key policy that would take PutKeyPolicy from the principal
# setting it (the policy lockout safety check, KMS Developer Guide "Default key policy"), and revoking grants is how
# an administrator takes use away. kms:CreateGrant is allowed only to a service acting for the account
# (kms:ViaService), as RDS and Secrets Manager need (components/metadata/keys.py).
ADMIN_PERMISSION_ACTIONS = {"kms:putkeypolicy", "kms:revokegrant"}


@dataclass(frozen=True)
class Ignore:
    issue: str
    why: str
    applies: Callable[[PolicyDocument, object], bool]


def _statements(document: PolicyDocument) -> list[dict]:
    statements = json.loads(document.text)["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _grants_only_through_services(document: PolicyDocument, finding) -> bool:
    actions = set(finding.location.get("actions", []))
    if not actions - ADMIN_PERMISSION_ACTIONS <= {"kms:creategrant"}:
        return False
    for statement in _statements(document):
        allowed = {action.lower() for action in statement.get("Action", [])} if isinstance(
            statement.get("Action"), list) else {str(statement.get("Action", "")).lower()}
        if {"kms:creategrant", "kms:create*", "kms:*"} & allowed and "kms:ViaService" not in statement.get(
                "Condition", {}).get("StringEquals", {}):
            return False
    return True


IGNORES = (
    Ignore("RESOURCE_STAR", "In a key policy, Resource \"*\" means the key the policy is attached to (KMS Developer "
           "Guide, \"Key policies in AWS KMS\"); it can name nothing else.",
           lambda document, finding: document.type in KEY_TYPES),
    Ignore("UNKNOWN_FEDERATION_SOURCE", "parliament knows only Cognito, Google, Facebook and Amazon as federated "
           "principals; an IAM OIDC provider (the EKS cluster's, for IRSA) is the EKS User Guide's form.",
           lambda document, finding: document.kind == "trust" and ":oidc-provider/" in str(finding.detail)),
    Ignore("MALFORMED", "A role's trust policy has no Resource (IAM User Guide, \"Role trust policy\"); parliament "
           "reads every document as an identity policy.",
           lambda document, finding: document.kind == "trust"
           and finding.detail == "Statement contains neither Resource nor NotResource"),
    Ignore("MISMATCHED_TYPE", "The CloudWatch Logs User Guide's key-policy condition is ArnLike on "
           f"{LOGS_CONTEXT}; parliament types that context key as a string.",
           lambda document, finding: document.type in KEY_TYPES and LOGS_CONTEXT in document.text
           and "ArnLike requires a value of type Arn" in str(finding.detail)),
    Ignore("PERMISSIONS_MANAGEMENT_ACTIONS", "Key administrators keep kms:PutKeyPolicy and kms:RevokeGrant (see "
           "ADMIN_PERMISSION_ACTIONS); kms:CreateGrant only through a service (kms:ViaService).",
           lambda document, finding: document.type in KEY_TYPES and _grants_only_through_services(document, finding)),
)


def findings(documents: list[PolicyDocument]) -> tuple[list[str], set[str]]:
    """(findings no ignore covers, the ignores used)."""
    left, used = [], set()
    for document in documents:
        for finding in analyze_policy_string(document.text, include_community_auditors=True).findings:
            ignore = next((rule for rule in IGNORES if rule.issue == finding.issue
                           and rule.applies(document, finding)), None)
            if ignore is None:
                left.append(f"{document.resource} ({document.type}, {document.path}): {finding.issue} "
                            f"{finding.detail} {finding.location}")
            else:
                used.add(ignore.issue)
    return left, used


@pytest.fixture(scope="module")
def documents(request) -> dict[str, list[PolicyDocument]]:
    recording = request.getfixturevalue("stack_recording")
    return {stack: policy_documents(recording(stack)) for stack in ("dev", "prod")}


def test_the_plans_hold_the_documents_of_every_kind(documents):
    kinds = {(document.type, document.kind) for document in documents["prod"]}
    assert {("aws:iam/userPolicy:UserPolicy", "identity"), ("aws:iam/role:Role", "trust"),
            ("aws:s3/bucketPolicy:BucketPolicy", "resource"), ("aws:kms/keyPolicy:KeyPolicy", "resource"),
            ("aws:kms/key:Key", "resource"), ("aws:sns/topicPolicy:TopicPolicy", "resource")} <= kinds
    assert {document.type for document in documents["dev"]} == {"minio:index/iamPolicy:IamPolicy"}


def test_every_document_passes_parliament(documents):
    left, used = findings([*documents["dev"], *documents["prod"]])
    assert left == []
    assert used == {rule.issue for rule in IGNORES}, "an ignore that matches nothing: remove it"


@pytest.mark.parametrize(("statement", "issue"), [
    ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, "RESOURCE_STAR"),
    ({"Effect": "Allow", "Action": "s3:GetObjects", "Resource": "arn:aws:s3:::b/*"}, "UNKNOWN_ACTION"),
    ({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b"}, "RESOURCE_MISMATCH"),
])
def test_a_mistake_in_an_identity_policy_is_a_finding(documents, statement, issue):
    (policy,) = [d for d in documents["prod"] if d.resource == "platform-lake-ingestion-s3"]
    document = json.loads(policy.text)
    document["Statement"].append(statement)
    mutated = PolicyDocument(policy.resource, policy.type, policy.path, json.dumps(document))
    left, _ = findings([mutated])
    assert any(f": {issue} " in line for line in left), left


def test_a_key_policy_letting_the_account_create_grants_directly_is_a_finding(documents):
    (policy,) = [d for d in documents["prod"] if d.resource == "platform-metadata-key"]
    document = json.loads(policy.text)
    admin = next(s for s in document["Statement"] if s["Sid"] == "AccountAdministersKey")
    admin["Action"].append("kms:CreateGrant")
    left, _ = findings([PolicyDocument(policy.resource, policy.type, policy.path, json.dumps(document))])
    assert any("PERMISSIONS_MANAGEMENT_ACTIONS" in line for line in left), left
