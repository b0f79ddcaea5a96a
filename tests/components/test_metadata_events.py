"""prod's RDS instance reports its events (backup, failure, ...) to an SNS topic encrypted with a key of its own, mailed
to the stack's addresses. What is checked by whom:

- the subscription request against botocore's RDS service definition (its input shape, and the source type against
  the definition's `SourceType` enumeration) and then run, with the key, topic, topic policy and e-mail subscription,
  through moto's AWS implementation (which accepts any category name: it proves the call shapes, not the names);
- the category names against AWS's list for a `db-instance` source: our reading of the RDS User Guide, "Amazon RDS
  event categories and event messages" (awsdocs/amazon-rds-user-guide/doc_source/USER_Events.Messages.md@07f207aa),
  which no definition that runs here enumerates;
- the key and topic policies against the SNS Developer Guide ("Enable compatibility between event sources from AWS
  services and encrypted topics": `events.rds.amazonaws.com`, `kms:GenerateDataKey*`, `kms:Decrypt`) and the RDS User
  Guide ("Granting permissions to publish notifications to an Amazon SNS topic"): our reading as well.
"""

from __future__ import annotations

import json

import boto3
import botocore.session
import pytest
from botocore.validate import validate_parameters
from moto import mock_aws

from components.metadata import events
from infra.model.config import parse_stack_config, project_values
from infra.model.errors import ConfigError
from infra.model.stackfiles import load_stack
from tests.support.recordings import record_metadata

IDENTIFIER = "dataplatform-prod-metadata"
ACCOUNT = "111122223333"
REGION = "eu-west-1"
EMAIL_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
# AWS's categories for a DB instance source (the RDS User Guide's table cited above; our reading).
AWS_DB_INSTANCE_CATEGORIES = {
    "availability", "backup", "configuration change", "creation", "deletion", "failover", "failure", "low storage",
    "maintenance", "notification", "read replica", "recovery", "restoration", "security", "security patching",
}


@pytest.fixture(scope="module")
def prod():
    return record_metadata("prod")


def statements(document: str) -> list[dict]:
    return json.loads(document)["Statement"]


def test_prod_subscribes_the_instance_to_its_categories_through_an_encrypted_topic(prod):
    subscription = prod.named("metadata-events")
    topic, key = prod.named("metadata-events-topic"), prod.named("metadata-events-key")
    assert subscription.type == "aws:rds/eventSubscription:EventSubscription"
    assert subscription.inputs["name"] == f"{IDENTIFIER}-events"
    assert subscription.inputs["sourceType"] == "db-instance"
    assert subscription.inputs["sourceIds"] == [IDENTIFIER]
    assert subscription.inputs["enabled"] is True
    assert subscription.inputs["eventCategories"] == list(events.CATEGORIES)
    assert set(events.REQUIRED_CATEGORIES) <= set(events.CATEGORIES)
    # The subscription sends to the topic, the topic is encrypted with the events key.
    assert subscription.property_dependencies["snsTopic"] == [topic.urn]
    assert topic.inputs["name"] == f"{IDENTIFIER}-events"
    assert topic.property_dependencies["kmsMasterKeyId"] == [key.urn]
    assert key.inputs["enableKeyRotation"] is True and key.protect


def test_the_categories_are_aws_s_names_for_an_instance():
    assert set(events.CATEGORIES) <= AWS_DB_INSTANCE_CATEGORIES
    assert len(set(events.CATEGORIES)) == len(events.CATEGORIES)


def test_the_key_lets_rds_events_encrypt_and_the_account_only_administer_or_go_through_sns(prod):
    policy = prod.named("metadata-events-key").inputs["policy"]
    found = {statement["Sid"]: statement for statement in statements(policy)}
    assert set(found) == {"AccountAdministersKey", "RdsEventsPublishToTheTopic", "AccountPublishesThroughSns"}
    rds = found["RdsEventsPublishToTheTopic"]
    assert rds["Principal"] == {"Service": "events.rds.amazonaws.com"}
    assert sorted(rds["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert rds["Condition"] == {"StringEquals": {
        "kms:EncryptionContext:aws:sns:topicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{IDENTIFIER}-events"}}
    admin = found["AccountAdministersKey"]
    assert admin["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert not [action for action in admin["Action"] if action in ("kms:*", "kms:Decrypt", "kms:Encrypt",
                                                                   "kms:CreateGrant", "kms:Create*")
                or action.startswith(("kms:GenerateDataKey", "kms:ReEncrypt"))]
    through_sns = found["AccountPublishesThroughSns"]
    assert through_sns["Condition"] == {"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com",
                                                         "kms:CallerAccount": ACCOUNT}}


def test_only_rds_events_of_this_instance_may_publish_to_the_topic(prod):
    policy = prod.named("metadata-events-topic-policy")
    assert policy.property_dependencies["arn"] == [prod.named("metadata-events-topic").urn]
    (statement,) = statements(policy.inputs["policy"])
    assert statement["Principal"] == {"Service": "events.rds.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Resource"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:{IDENTIFIER}-events"
    assert statement["Condition"] == {"ArnLike": {"aws:SourceArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{IDENTIFIER}"},
                                      "StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_the_email_receivers_are_subscribed_and_the_webhook_receivers_are_not(prod):
    """prod's stack file names an e-mail receiver (team-email) and a webhook (oncall-webhook): only the first's
    address gets RDS's events; SNS would post its own envelope to the webhook, not Alertmanager's payload."""
    subscriptions = [resource for resource in prod.resources if resource.type == EMAIL_SUBSCRIPTION]
    assert [(s.name, s.inputs["protocol"], s.inputs["endpoint"]) for s in subscriptions] == [
        ("metadata-events-data-platform-team@example.com", "email", "data-platform-team@example.com")]
    assert subscriptions[0].property_dependencies["topic"] == [prod.named("metadata-events-topic").urn]


def test_dev_declares_no_rds_events():
    dev = record_metadata("dev")
    assert not [resource for resource in dev.resources if resource.type.startswith(("aws:sns/", "aws:rds/"))]


def test_the_request_is_checked_against_the_rds_api_definition(prod):
    model = botocore.session.get_session().get_service_model("rds")
    request = events.create_event_subscription_request(
        f"{IDENTIFIER}-events", f"arn:aws:sns:{REGION}:{ACCOUNT}:{IDENTIFIER}-events", IDENTIFIER)
    subscription = prod.named("metadata-events").inputs
    assert (request["SourceType"], request["EventCategories"], request["SourceIds"]) == (
        subscription["sourceType"], subscription["eventCategories"], subscription["sourceIds"])
    validate_parameters(request, model.operation_model("CreateEventSubscription").input_shape)
    assert events.SOURCE_TYPE in model.shape_for("SourceType").enum


@mock_aws
def test_the_key_topic_and_subscriptions_are_accepted_by_moto(prod):
    """The plan's key policy, topic, topic policy, e-mail subscription and event subscription, created in that order
    through boto3 against moto: the request shapes are what the services take."""
    kms = boto3.client("kms", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    rds = boto3.client("rds", region_name=REGION)
    key = kms.create_key(Policy=prod.named("metadata-events-key").inputs["policy"],
                         Description="RDS events topic")["KeyMetadata"]
    topic_arn = sns.create_topic(Name=f"{IDENTIFIER}-events",
                                 Attributes={"KmsMasterKeyId": key["Arn"]})["TopicArn"]
    account = topic_arn.split(":")[4]
    document = prod.named("metadata-events-topic-policy").inputs["policy"].replace(ACCOUNT, account)
    sns.set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy", AttributeValue=document)
    (email,) = [resource for resource in prod.resources if resource.type == EMAIL_SUBSCRIPTION]
    sns.subscribe(TopicArn=topic_arn, Protocol=email.inputs["protocol"], Endpoint=email.inputs["endpoint"])
    created = rds.create_event_subscription(
        **events.create_event_subscription_request(f"{IDENTIFIER}-events", topic_arn, IDENTIFIER))["EventSubscription"]
    assert created["SnsTopicArn"] == topic_arn
    assert created["EventCategoriesList"] == list(events.CATEGORIES)
    assert created["SourceIdsList"] == [IDENTIFIER] and created["Enabled"] is True
    attributes = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert attributes["KmsMasterKeyId"] == key["Arn"]
    assert json.loads(attributes["Policy"]) == json.loads(document)
    (listed,) = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert (listed["Protocol"], listed["Endpoint"]) == ("email", "data-platform-team@example.com")


# ---- who gets the mail: the stack config ---------------------------------------------------------------------

def decoded(stack: str) -> dict:
    """The stack file's values as the config model reads them (the engine hands objects over as JSON text)."""
    return {key: json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value
            for key, value in project_values(load_stack(stack).config).items()}


def prod_config(**metadata):
    values = decoded("prod")
    values["metadata"] = {**values["metadata"], **metadata}
    return values


def test_by_default_every_email_receiver_address_once():
    values = prod_config()
    receivers = values["alerting"]["receivers"]
    receivers["second-email"] = {"email": {**receivers["team-email"]["email"],
                                           "to": ["dba@example.com", "data-platform-team@example.com"]}}
    values["alerting"]["routes"]["warning"] = ["team-email", "second-email"]
    config = parse_stack_config(values, "prod")
    assert config.rds_event_emails == ("data-platform-team@example.com", "dba@example.com")


def test_event_emails_replace_the_receivers_addresses():
    config = parse_stack_config(prod_config(eventEmails=["dba@example.com"]), "prod")
    assert config.rds_event_emails == ("dba@example.com",)


def test_prod_without_any_address_is_refused_naming_both_ways_to_give_one():
    values = prod_config()
    values["alerting"] = {"receivers": {"oncall-webhook": values["alerting"]["receivers"]["oncall-webhook"]},
                          "routes": {"critical": ["oncall-webhook"]},
                          "runbookBaseUrl": values["alerting"]["runbookBaseUrl"]}
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(values, "prod")
    assert str(raised.value) == (
        "Pulumi.prod.yaml: dataplatform:metadata.eventEmails: prod requires at least one address for RDS's events (a "
        "failed backup or a failed instance must reach someone): list them here, or give `alerting` an e-mail "
        "receiver")
    with pytest.raises(ConfigError, match=r"metadata.eventEmails: prod requires at least one address .* \(got \[\]\)"):
        parse_stack_config(prod_config(eventEmails=[]), "prod")


@pytest.mark.parametrize(("emails", "message"), [
    (["dba@example.com", "dba@example.com"], "lists dba@example.com twice; list each address once"),
    (["not-an-address"], "String should match pattern"),
])
def test_bad_addresses_are_refused(emails, message):
    with pytest.raises(ConfigError, match=f"dataplatform:metadata.eventEmails.*{message}"):
        parse_stack_config(prod_config(eventEmails=emails), "prod")


def test_event_emails_without_rds_are_refused():
    values = decoded("dev")
    values["metadata"] = {**values.get("metadata", {}), "eventEmails": ["dba@example.com"]}
    with pytest.raises(ConfigError, match=r"dataplatform:metadata.eventEmails: only used when `metadata.backend` is "
                                          r"rds \(RDS's events\); remove it"):
        parse_stack_config(values, "dev")
