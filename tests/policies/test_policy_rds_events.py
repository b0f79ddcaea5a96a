"""Proves `aws-rds-instance-require-event-subscription` passes prod's metadata layer as declared (also at preview) and
flags exactly the instance, with the exact reason, for each way its events could reach no one."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import pytest
from policy_eval import SKIPPED, violations

from infra.offline.harness import Recording
from tests.support.recordings import record_metadata

POLICY = "aws-rds-instance-require-event-subscription"
INSTANCE = "metadata-instance"
SUBSCRIPTION = "metadata-events"
TOPIC = "metadata-events-topic"
KEY = "metadata-events-key"
EMAIL = "metadata-events-data-platform-team@example.com"
SUBSCRIBED = "subscription 'dataplatform-prod-metadata-events'"
TOPIC_LABEL = "topic 'dataplatform-prod-metadata-events'"


def message(problems: str) -> str:
    return (f"RDS instance 'dataplatform-prod-metadata' reports its events to no one who would see them ({problems}): "
            "a failed backup or a failed instance would go unnoticed. Subscribe it to the backup and failure "
            "categories, to an SNS topic encrypted with a customer-managed key that admits events.rds.amazonaws.com, "
            "with at least one subscriber (components/metadata/events.py).")


@pytest.fixture(scope="module")
def baselines() -> dict[str, Recording]:
    return {"prod": record_metadata("prod"), "prod-preview": record_metadata("prod", preview=True),
            "dev": record_metadata("dev")}


def ours(recording: Recording) -> set[tuple[str, str, str]]:
    return {found for found in violations(recording) if found[0] == POLICY}


def changed(name: str, mutate: Callable[[dict], None], drop_dependency: str | None = None):
    """The recording with one resource's inputs changed (and, when named, one input's property dependency dropped:
    what a literal value in the program gives)."""
    def apply(recording: Recording) -> Recording:
        resources = copy.deepcopy(recording.resources)
        (target,) = [resource for resource in resources if resource.name == name]
        mutate(target.inputs)
        if drop_dependency:
            target.property_dependencies.pop(drop_dependency, None)
        return Recording(recording.project, recording.stack, recording.preview, resources)
    return apply


def without(*names: str):
    return lambda recording: Recording(recording.project, recording.stack, recording.preview,
                                       [resource for resource in recording.resources if resource.name not in names])


def rds_grant_removed(inputs: dict) -> None:
    document = json.loads(inputs["policy"])
    document["Statement"] = [statement for statement in document["Statement"]
                             if statement["Principal"] != {"Service": "events.rds.amazonaws.com"}]
    inputs["policy"] = json.dumps(document)


def rds_grant_without_decrypt(inputs: dict) -> None:
    document = json.loads(inputs["policy"])
    for statement in document["Statement"]:
        if statement["Principal"] == {"Service": "events.rds.amazonaws.com"}:
            statement["Action"] = ["kms:GenerateDataKey*"]
    inputs["policy"] = json.dumps(document)


CASES = {
    "pass_prod": ("prod", lambda r: r, set()),
    "pass_prod_at_preview": ("prod-preview", lambda r: r, set()),
    "pass_dev_without_rds": ("dev", lambda r: r, set()),
    "pass_subscription_to_every_category": ("prod", changed(SUBSCRIPTION, lambda i: i.pop("eventCategories")), set()),
    "pass_subscription_to_every_instance": (
        "prod", changed(SUBSCRIPTION, lambda i: i.pop("sourceIds"), drop_dependency="sourceIds"), set()),
    "pass_rds_grant_with_a_condition": (
        "prod", changed(KEY, lambda i: i.update(policy=json.dumps({"Statement": [{
            "Effect": "Allow", "Principal": {"Service": "events.rds.amazonaws.com"},
            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}}}]}))), set()),
    "fail_no_subscription": (
        "prod", without(SUBSCRIPTION), {(POLICY, INSTANCE, message("no enabled event subscription names it"))}),
    "fail_subscription_disabled": (
        "prod", changed(SUBSCRIPTION, lambda i: i.update(enabled=False)),
        {(POLICY, INSTANCE, message("no enabled event subscription names it"))}),
    "fail_subscription_for_another_instance": (
        "prod", changed(SUBSCRIPTION, lambda i: i.update(sourceIds=["another-instance"]), drop_dependency="sourceIds"),
        {(POLICY, INSTANCE, message("no enabled event subscription names it"))}),
    "fail_subscription_for_snapshots": (
        "prod", changed(SUBSCRIPTION, lambda i: i.update(sourceType="db-snapshot")),
        {(POLICY, INSTANCE, message("no enabled event subscription names it"))}),
    "fail_subscription_without_failure": (
        "prod", changed(SUBSCRIPTION, lambda i: i.update(eventCategories=["backup", "availability"])),
        {(POLICY, INSTANCE, message(f"{SUBSCRIBED} leaves out failure"))}),
    "fail_subscription_without_backup_or_failure": (
        "prod", changed(SUBSCRIPTION, lambda i: i.update(eventCategories=["maintenance"])),
        {(POLICY, INSTANCE, message(f"{SUBSCRIBED} leaves out backup, failure"))}),
    "fail_subscription_to_a_topic_outside_the_stack": (
        "prod", changed(SUBSCRIPTION, lambda i: i.update(snsTopic="arn:aws:sns:eu-west-1:111122223333:elsewhere"),
                        drop_dependency="snsTopic"),
        {(POLICY, INSTANCE, message(f"{SUBSCRIBED} sends to a topic the stack does not declare, whose encryption "
                                    "cannot be checked"))}),
    "fail_topic_unencrypted": (
        "prod", changed(TOPIC, lambda i: i.pop("kmsMasterKeyId"), drop_dependency="kmsMasterKeyId"),
        {(POLICY, INSTANCE, message(f"{TOPIC_LABEL} is not encrypted (no kmsMasterKeyId)"))}),
    "fail_topic_with_the_aws_managed_key": (
        "prod", changed(TOPIC, lambda i: i.update(kmsMasterKeyId="alias/aws/sns"), drop_dependency="kmsMasterKeyId"),
        {(POLICY, INSTANCE, message(f"{TOPIC_LABEL} is encrypted with the AWS-managed key alias/aws/sns, whose policy "
                                    "cannot let events.rds.amazonaws.com use it"))}),
    "fail_key_without_the_rds_grant": (
        "prod", changed(KEY, rds_grant_removed),
        {(POLICY, INSTANCE, message(f"the key of {TOPIC_LABEL} does not let events.rds.amazonaws.com use it "
                                    "(kms:GenerateDataKey* and kms:Decrypt), so RDS cannot publish to it"))}),
    "fail_key_grant_without_decrypt": (
        "prod", changed(KEY, rds_grant_without_decrypt),
        {(POLICY, INSTANCE, message(f"the key of {TOPIC_LABEL} does not let events.rds.amazonaws.com use it "
                                    "(kms:GenerateDataKey* and kms:Decrypt), so RDS cannot publish to it"))}),
    "fail_topic_without_subscriber": (
        "prod", without(EMAIL),
        {(POLICY, INSTANCE, message(f"{TOPIC_LABEL} has no subscription, so its events reach no one"))}),
    "fail_several_problems_at_once": (
        "prod", lambda r: without(EMAIL)(changed(SUBSCRIPTION, lambda i: i.update(eventCategories=["backup"]))(r)),
        {(POLICY, INSTANCE, message(f"{SUBSCRIBED} leaves out failure; {TOPIC_LABEL} has no subscription, so its "
                                    "events reach no one"))}),
    "fail_at_preview_without_failure": (
        "prod-preview", changed(SUBSCRIPTION, lambda i: i.update(eventCategories=["backup"])),
        {(POLICY, INSTANCE, message(f"{SUBSCRIBED} leaves out failure"))}),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_exact_violations(baselines, case):
    baseline, mutate, expected = CASES[case]
    found = ours(mutate(baselines[baseline]))
    assert found == expected
    assert not [item for item in found if item[2] == SKIPPED]


def test_a_second_subscription_that_covers_the_instance_is_enough(baselines):
    """Coverage is by any one subscription: a broken extra one does not make the instance fail."""
    recording = baselines["prod"]
    resources = copy.deepcopy(recording.resources)
    (extra,) = copy.deepcopy([resource for resource in resources if resource.name == SUBSCRIPTION])
    extra.name, extra.urn = "extra-events", extra.urn.replace(SUBSCRIPTION, "extra-events")
    extra.inputs["eventCategories"] = ["maintenance"]
    found = ours(Recording(recording.project, recording.stack, recording.preview, [*resources, extra]))
    assert found == set()
