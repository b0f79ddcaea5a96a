"""LogIndices declares a TLS-only ECK cluster sized per stage and its objects as typed dynamic resources whose request
bodies match the golden files; the shipper's credentials reach the runtime only through a Secret; each snapshot
policy writes to a repository of its own, and an upgraded stack can keep the former shared one read-only."""

from __future__ import annotations

import json

import pytest

from components.logs import spec as logs_spec
from infra.offline.harness import SECRET_SENTINEL_PREFIX, is_secret
from tests.support.fluentbit import platform_config
from tests.support.golden import check_golden
from tests.support.recordings import record_logs

DYNAMIC = "pulumi-python:dynamic/elasticsearch:"


def rendered_objects(stack: str) -> dict[str, object]:
    recording = record_logs(stack)
    objects = {}
    for resource in recording:
        if resource.type.startswith(DYNAMIC):
            kind = resource.type.removeprefix(DYNAMIC)
            body = {key: resource.input(key) for key in ("body", "policy", "role", "roles", "full_name")
                    if resource.input(key) is not None}
            objects[f"{kind}/{resource.input('name')}"] = body
    return objects


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_object_payloads_match_the_golden_files(stack):
    check_golden(f"logs/{stack}-objects.json", json.dumps(rendered_objects(stack), indent=2, sort_keys=True) + "\n")


def test_fluent_bit_config_matches_the_golden_files():
    for section, text in platform_config().items():
        check_golden(f"logs/fluent-bit-{section}.conf", text)


def test_the_seed_mapping_is_exact():
    template = logs_spec.index_template(logs_spec.families(7, 90)[0], replicas=0)
    assert template["index_patterns"] == ["airbyte-logs-*"]
    assert template["template"]["mappings"]["properties"] == {
        "timestamp": {"type": "date"}, "level": {"type": "keyword"}, "service": {"type": "keyword"},
        "message": {"type": "text"}, "job_id": {"type": "keyword"}, "connection_id": {"type": "keyword"},
        "records_synced": {"type": "integer"}, "bytes_synced": {"type": "long"},
    }


@pytest.mark.parametrize(("stack", "node_sets", "audit_days"), [
    ("dev", [("default", 1.0, ["master", "data", "ingest"])], "30d"),
    ("prod", [("masters", 3.0, ["master"]), ("data", 3.0, ["data", "ingest"])], "90d"),
])
def test_cluster_is_tls_only_sized_per_stage_and_needs_no_privileged_container(stack, node_sets, audit_days):
    recording = record_logs(stack)
    cluster = recording.named("logs-elasticsearch")
    spec = cluster.inputs["spec"]
    assert spec["version"].split(".")[0] == "9"
    assert spec["http"]["tls"] == {"certificate": {"secretName": "logs-es-http-tls"}}
    assert [(s["name"], s["count"], s["config"]["node.roles"]) for s in spec["nodeSets"]] == node_sets
    for node_set in spec["nodeSets"]:
        assert node_set["config"]["node.store.allow_mmap"] is False
        pod = node_set["podTemplate"]["spec"]
        # Only dev builds a trust store (the stack CA for MinIO), unprivileged like the node itself.
        init = pod.get("initContainers", [])
        assert [container["name"] for container in init] == (["snapshot-truststore"] if stack == "dev" else [])
        assert all(container["securityContext"]["allowPrivilegeEscalation"] is False for container in init)
        assert pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False
    assert cluster.protect is (stack == "prod")
    audit = recording.named("logs-ilm-platform-audit")
    assert audit.input("policy.phases.delete.min_age") == audit_days


def test_objects_are_typed_and_connect_over_verified_https_with_a_secret_connection():
    recording = record_logs("prod")
    kinds = sorted({r.type for r in recording if r.type.startswith(DYNAMIC)})
    assert kinds == [f"{DYNAMIC}{kind}" for kind in ("IlmPolicy", "IndexTemplate", "Role", "SlmPolicy",
                                                     "SnapshotRepository", "User")]
    for resource in recording:
        if resource.type.startswith(DYNAMIC):
            assert is_secret(resource.inputs["connection"]) and resource.additional_secret_outputs == ["connection"]
            connection = resource.input("connection")
            assert connection["url"] == "https://logs-es-http.dp-logs.svc.cluster.local:9200"
            assert connection["ca_pem"].startswith("-----BEGIN CERTIFICATE-----")
    user = recording.named("logs-user-shipper")
    assert is_secret(user.inputs["password"]) and user.input("roles") == ["log-writer"]
    secret = recording.named("logs-shipper-secret")
    assert secret.input("metadata.name") == "log-shipper-credentials"
    assert secret.input("metadata.namespace") == "dp-logs"
    assert is_secret(secret.inputs["stringData"])
    assert secret.input("stringData.password").startswith(SECRET_SENTINEL_PREFIX)


def test_each_snapshot_policy_writes_to_a_repository_of_its_own_under_the_snapshot_prefix():
    recording = record_logs("prod")
    repositories = {resource.input("name"): resource.inputs["repository"] for resource in recording
                    if resource.type == f"{DYNAMIC}SnapshotRepository"}
    targets = {resource.input("name"): resource.inputs["policy"]["repository"] for resource in recording
               if resource.type == f"{DYNAMIC}SlmPolicy"}
    assert targets == {"platform-audit-snapshots": "platform-audit-snapshots", "job-log-snapshots": "job-log-snapshots"}
    assert repositories == {
        name: {"type": "s3", "settings": {"bucket": "dataplatform-prod-backups", "client": "backups",
                                          "base_path": f"elasticsearch/{name}"}}
        for name in targets.values()}


def test_an_upgraded_stack_keeps_the_former_shared_repository_read_only_under_its_old_resource_name():
    recording = record_logs("prod", overrides={"dataplatform:logs": {"snapshots": {"legacyRepository": True}}})
    # The name the one repository had before, so that `pulumi up` updates it in place instead of replacing it.
    legacy = recording.named("logs-snapshot-repository")
    assert legacy.input("name") == "platform-backups"
    assert legacy.inputs["repository"] == {"type": "s3", "settings": {
        "bucket": "dataplatform-prod-backups", "client": "backups", "base_path": "elasticsearch", "readonly": "true"}}
    assert "platform-backups" not in {resource.inputs["policy"]["repository"] for resource in recording
                                      if resource.type == f"{DYNAMIC}SlmPolicy"}
