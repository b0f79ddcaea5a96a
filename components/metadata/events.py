"""RDS's events for the metadata instance: what RDS reports, to whom, through which encrypted SNS topic.

RDS runs prod's backups itself, and no Prometheus series reports them; RDS reports a backup, a failure or a failover
as an *event*. An event subscription sends the instance's events of the chosen categories to an SNS topic; the topic
is encrypted with a customer-managed KMS key of its own, whose policy lets RDS's event service use it, and e-mails
each address the stack names (`metadata.eventEmails`, by default the `alerting` e-mail receivers' addresses).

The categories are RDS's names for a `db-instance` source (the RDS User Guide, "Amazon RDS event categories and event
messages"; the source types are those of botocore's RDS definition, `SourceType`). What each brings is in
docs/backup-and-restore.md, "PostgreSQL in prod: RDS's events".
"""

from __future__ import annotations

import json

from components.metadata.keys import ADMIN_ACTIONS

SOURCE_TYPE = "db-instance"
REQUIRED_CATEGORIES = ("backup", "failure")
"""What the pack requires of every prod instance's subscription (aws-rds-instance-require-event-subscription)."""
CATEGORIES = (
    "availability",          # restarts, shut-downs, a shut-down for full storage
    "backup",                # each automated backup's start and end (a daily sign that backups run) and its failures
    "configuration change",  # automated backups disabled or enabled, class, storage, parameter group, Multi-AZ changed
    "deletion",              # the instance deleted
    "failover",              # a Multi-AZ failover started, completed, or refused
    "failure",               # the instance failed (storage, incompatible parameters or network), autoscaling failed
    "low storage",           # storage consumed, or above 90 %
    "maintenance",           # offline maintenance started and ended, a patch applied
    "notification",          # stopped, started again after 7 days stopped, storage approaching the autoscaling limit
    "recovery",              # recovery of the instance (or its Multi-AZ standby) started and completed
)
"""Every category that says the instance is, was or may soon be unavailable, unprotected or changed; left out:
`creation` (the program creates it), `read replica` (none is declared), `restoration` (a restore creates another
instance, which this subscription does not name), `security` (Oracle's CloudHSM only) and `security patching` (an
operating-system update is available: shown in the console's pending maintenance, acted on in the maintenance
window)."""
RDS_EVENTS_PRINCIPAL = "events.rds.amazonaws.com"
# Administration without kms:CreateGrant (components/metadata/keys.py): an administrator cannot grant itself use.
KEY_ADMIN_ACTIONS = ADMIN_ACTIONS
PUBLISH_KEY_ACTIONS = ("kms:GenerateDataKey*", "kms:Decrypt")
"""What a publisher to an encrypted topic needs on its key (the SNS Developer Guide, "Enable compatibility between
event sources from AWS services and encrypted topics": `events.rds.amazonaws.com` for RDS)."""


def instance_arn(partition: str, region: str, account: str, identifier: str) -> str:
    return f"arn:{partition}:rds:{region}:{account}:db:{identifier}"


def topic_name(identifier: str) -> str:
    return f"{identifier}-events"


def key_policy_document(partition: str, account: str, region: str, topic_arn: str) -> str:
    """The topic key's policy: the account administers the key; RDS's event service, only for this topic (SNS
    encrypts with the encryption context `aws:sns:topicArn`; the condition is the form AWS documents for service
    publishers to an encrypted topic, e.g. the GameLift FlexMatch guide, "Set up an SNS topic with server-side
    encryption"), and the account's principals through SNS only (an operator's test message), encrypt and decrypt
    with it."""
    statements = [
        {
            "Sid": "AccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
            "Action": list(KEY_ADMIN_ACTIONS),
            "Resource": "*",
        },
        {
            "Sid": "RdsEventsPublishToTheTopic",
            "Effect": "Allow",
            "Principal": {"Service": RDS_EVENTS_PRINCIPAL},
            "Action": list(PUBLISH_KEY_ACTIONS),
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:aws:sns:topicArn": topic_arn}},
        },
        {
            "Sid": "AccountPublishesThroughSns",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
            "Action": list(PUBLISH_KEY_ACTIONS),
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": f"sns.{region}.amazonaws.com",
                                           "kms:CallerAccount": account}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2)


def topic_policy_document(topic_arn: str, source_arn: str, account: str) -> str:
    """The topic's policy: RDS's event service may publish, for this instance of this account only (the RDS User
    Guide, "Granting permissions to publish notifications to an Amazon SNS topic"). The account's own principals
    reach the topic through their IAM policies."""
    statement = {
        "Sid": "RdsEventsOfTheInstance",
        "Effect": "Allow",
        "Principal": {"Service": RDS_EVENTS_PRINCIPAL},
        "Action": "sns:Publish",
        "Resource": topic_arn,
        "Condition": {"ArnLike": {"aws:SourceArn": source_arn}, "StringEquals": {"aws:SourceAccount": account}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=2)


def create_event_subscription_request(name: str, topic_arn: str, identifier: str) -> dict:
    """The RDS API request (CreateEventSubscription) the subscription amounts to: what the tests send to botocore's
    definition and moto."""
    return {"SubscriptionName": name, "SnsTopicArn": topic_arn, "SourceType": SOURCE_TYPE,
            "EventCategories": list(CATEGORIES), "SourceIds": [identifier], "Enabled": True}
