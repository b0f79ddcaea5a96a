"""The metadata key's policy: who may use the KMS key that encrypts the RDS instance, its master-user secret and its
CloudWatch log group. Pure: no resources.

Each AWS service that uses the key gets a statement of its own, bound by the condition that service documents:

- RDS (storage, snapshots, automated backups): callers of this account, only through RDS
  (`kms:ViaService` = `rds.<region>.amazonaws.com`, `kms:CallerAccount`), with the grants RDS creates for the
  instance (RDS User Guide, "Overview of encrypting Amazon RDS resources"; KMS Developer Guide, "kms:ViaService").
- Secrets Manager (the master-user secret RDS manages): callers of this account, only through Secrets Manager
  (`kms:ViaService` = `secretsmanager.<region>.amazonaws.com`, `kms:CallerAccount`; Secrets Manager User Guide,
  "Secret encryption and decryption in AWS Secrets Manager").
- CloudWatch Logs (the instance's log group): the regional service principal `logs.<region>.amazonaws.com`, only
  for that log group (`ArnLike` `kms:EncryptionContext:aws:logs:arn`; CloudWatch Logs User Guide, "Encrypt log data
  in CloudWatch Logs using AWS Key Management Service").

The account administers the key without the cryptographic actions and without `kms:CreateGrant`, so no IAM policy
alone lets an administrator encrypt or decrypt with it, or grant itself that.
"""

from __future__ import annotations

import json

ADMIN_ACTIONS = (
    "kms:CreateAlias", "kms:DescribeKey", "kms:EnableKey", "kms:EnableKeyRotation", "kms:ListAliases",
    "kms:ListGrants", "kms:ListKeyPolicies", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:UpdateAlias",
    "kms:UpdateKeyDescription", "kms:RevokeGrant", "kms:DisableKey", "kms:DisableKeyRotation", "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus", "kms:DeleteAlias", "kms:TagResource", "kms:UntagResource",
    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
)
# What RDS does with the key on the caller's behalf (the actions of the AWS managed key aws/rds's policy).
RDS_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant",
               "kms:ListGrants", "kms:DescribeKey")
SECRETS_MANAGER_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                           "kms:CreateGrant", "kms:DescribeKey")
# The CloudWatch Logs guide's statement also lists kms:Describe*, under the same encryption-context condition; no
# Describe request carries an encryption context, so that condition never matches them and they grant nothing:
# left out (parliament: UNKNOWN_CONDITION_FOR_ACTION).
LOGS_ACTIONS = ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*")


def log_group_name(identifier: str) -> str:
    """The log group RDS exports the instance's PostgreSQL log to."""
    return f"/aws/rds/instance/{identifier}/postgresql"


def log_group_arn(partition: str, region: str, account: str, identifier: str) -> str:
    return f"arn:{partition}:logs:{region}:{account}:log-group:{log_group_name(identifier)}"


def key_policy_document(partition: str, account: str, region: str, identifier: str) -> str:
    root = f"arn:{partition}:iam::{account}:root"

    def through(service: str, sid: str, actions: tuple[str, ...]) -> dict:
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": list(actions),
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": f"{service}.{region}.amazonaws.com",
                                           "kms:CallerAccount": account}},
        }

    statements = [
        {"Sid": "AccountAdministersKey", "Effect": "Allow", "Principal": {"AWS": root},
         "Action": list(ADMIN_ACTIONS), "Resource": "*"},
        through("rds", "RdsUsesKeyForThisAccount", RDS_ACTIONS),
        through("secretsmanager", "SecretsManagerUsesKeyForThisAccount", SECRETS_MANAGER_ACTIONS),
        {
            "Sid": "CloudWatchLogsUsesKeyForTheInstanceLogGroup",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": list(LOGS_ACTIONS),
            "Resource": "*",
            "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                      log_group_arn(partition, region, account, identifier)}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)
