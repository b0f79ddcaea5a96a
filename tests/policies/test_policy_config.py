"""Proves the per-stack policy config carries the program's chart facts exactly as `make policy-config` writes them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from infra.model.charts import CHARTS, ChartPaths, TlsSwitch
from infra.offline import policy_config
from policies.common import REGISTRY
from policies.registry import POLICIES

CONFIG_DIR = Path(__file__).resolve().parents[2] / "policies" / "config"
STACK_FILES = sorted(CONFIG_DIR.glob("*.json"))
BY_NAME = {policy.name: policy for policy in POLICIES}


def schema_of(name: str) -> dict:
    policy = BY_NAME[name]
    return {"type": "object", "properties": policy.config_schema.properties if policy.config_schema else {}}


def test_both_stacks_have_a_config_file() -> None:
    assert [path.stem for path in STACK_FILES] == ["dev", "prod"]


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda path: path.stem)
def test_committed_config_is_what_the_generator_writes(path: Path) -> None:
    assert path.read_text() == policy_config.expected(path), f"{path} is stale; run `make policy-config`"


def test_check_mode_reports_a_stale_file_and_changes_nothing(tmp_path: Path, capsys) -> None:
    stale = tmp_path / "prod.json"
    stale.write_text('{"all": "mandatory"}\n')
    current = tmp_path / "dev.json"
    current.write_text(policy_config.expected(CONFIG_DIR / "dev.json"))
    assert policy_config.main(["--check", "--config-dir", str(tmp_path)]) == 1
    assert stale.read_text() == '{"all": "mandatory"}\n'
    assert capsys.readouterr().out == f"{stale}: differs from the program's facts\n"
    assert policy_config.main(["--config-dir", str(tmp_path)]) == 0
    assert policy_config.main(["--check", "--config-dir", str(tmp_path)]) == 0


def test_generator_keeps_levels_and_settings_and_owns_only_charts() -> None:
    given = {
        "all": "mandatory",
        "kubernetes-image-require-digest": "advisory",
        "kubernetes-endpoint-require-tls": {"enforcementLevel": "disabled", "charts": {"stale": {"tls": []}}},
        "aws-rds-instance-configure-backup-retention": {"minDays": 7},
    }
    generated = policy_config.generate(given)
    settings = policy_config.charts_settings()
    assert generated["all"] == "mandatory"
    assert generated["aws-rds-instance-configure-backup-retention"] == {"minDays": 7}
    assert generated["kubernetes-image-require-digest"] == {
        "enforcementLevel": "advisory", "charts": settings["kubernetes-image-require-digest"]}
    assert generated["kubernetes-endpoint-require-tls"] == {
        "enforcementLevel": "disabled", "charts": settings["kubernetes-endpoint-require-tls"]}
    assert list(generated)[:4] == list(given)
    assert set(generated) == set(given) | set(policy_config.CHART_FACTS) | set(policy_config.audit_settings("prod"))


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda path: path.stem)
def test_committed_levels_are_unchanged_by_the_facts(path: Path) -> None:
    """Without its `charts` settings, the role-to-layer matrix, the allow-list and its copies, each file is the list
    of levels and settings it was, plus the audit facts."""
    document = json.loads(path.read_text())
    document.pop("pack-exemption-require-allow-list")
    matrix = policy_config.matrix_settings(policy_config.stack_config(path.stem))
    kept = {}
    for name, value in document.items():
        if isinstance(value, dict):
            value = {key: item for key, item in value.items()
                     if key not in ("charts", "exemptions", *matrix.get(name, {}))}
            if not value:
                continue
        kept[name] = value
    levels = {
        "dev": {
            "all": "advisory",
            "minio-s3-bucket-require-deletion-protection": "disabled",
            "aws-storage-require-deletion-protection": "disabled",
            "platform-data-require-protect": "disabled",
            "elasticsearch-ilm-configure-audit-retention": {"minDays": 30, "auditPolicies": ["platform-audit"]},
            "aws-s3-bucket-configure-log-retention": {"auditRoles": ["logs", "access-logs"], **buckets("dev")},
            "aws-s3-bucket-enable-object-lock": {"auditRoles": ["logs", "access-logs"], **buckets("dev")},
            "minio-s3-bucket-configure-log-retention": {"auditRoles": ["logs", "access-logs"], **buckets("dev")},
            "elasticsearch-cluster-require-snapshots": {"minDays": 30, "auditIndices": ["platform-audit-*"]},
            **AUDIT_ROLES,
        },
        "prod": {
            "all": "mandatory",
            "aws-s3-bucket-configure-log-retention": {"minDays": 90, "auditRoles": ["logs", "access-logs"],
                                                      **buckets("prod")},
            "aws-s3-bucket-enable-object-lock": {"minDays": 90, "auditRoles": ["logs", "access-logs"],
                                                 **buckets("prod")},
            "minio-s3-bucket-configure-log-retention": {"minDays": 90, "auditRoles": ["logs", "access-logs"],
                                                        **buckets("prod")},
            "kubernetes-image-require-digest": {"enforcementLevel": "advisory"},
            "aws-rds-instance-configure-backup-retention": {"minDays": 7},
            "elasticsearch-ilm-configure-audit-retention": {"minDays": 90, "auditPolicies": ["platform-audit"]},
            "elasticsearch-cluster-require-snapshots": {"minDays": 90, "auditIndices": ["platform-audit-*"]},
            **AUDIT_ROLES,
        },
    }
    levels[path.stem]["aws-iam-policy-require-append-only-audit-writes"] = {
        "auditRoles": ["logs", "access-logs"], **buckets(path.stem)}
    assert kept == levels[path.stem]


# The Elasticsearch roles that may append to and read the audit indices (components/logs/spec.py), in every stack.
AUDIT_ROLES = {
    "aws-iam-policy-require-append-only-audit-writes": {"auditRoles": ["logs", "access-logs"]},
    "elasticsearch-role-disallow-audit-tampering": {"auditIndices": ["platform-audit-*"],
                                                    "auditWriters": ["log-writer"]},
    "elasticsearch-role-disallow-audit-reads": {"auditIndices": ["platform-audit-*"], "auditReaders": ["log-reader"]},
}


def buckets(stack: str) -> dict[str, list[str]]:
    """The stack's audit buckets by physical name, as the facts give them to the bucket policies."""
    return {"auditBuckets": [f"dataplatform-{stack}-logs", f"dataplatform-{stack}-access-logs"]}


def test_every_policy_that_takes_chart_facts_gets_exactly_the_facts_it_declares() -> None:
    takes_charts = {
        policy.name: tuple(policy.config_schema.properties["charts"]["additionalProperties"]["required"])
        for policy in POLICIES
        if policy.config_schema and "charts" in policy.config_schema.properties
    }
    assert takes_charts == policy_config.CHART_FACTS


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda path: path.stem)
def test_committed_settings_are_valid_for_the_pack(path: Path) -> None:
    for name, value in json.loads(path.read_text()).items():
        if isinstance(value, dict):
            settings = {key: item for key, item in value.items() if key != "enforcementLevel"}
            jsonschema.validate(settings, schema_of(name))


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda path: path.stem)
def test_every_pinned_chart_is_in_every_charts_setting(path: Path) -> None:
    document = json.loads(path.read_text())
    for name in policy_config.CHART_FACTS:
        assert sorted(document[name]["charts"]) == sorted(CHARTS), name


def test_a_chart_reaches_the_config_with_every_kind_of_tls_switch() -> None:
    chart = ChartPaths(
        chart="example", version="1.0.0", repository="https://charts.example.org",
        pod_security=("podSecurityContext",), container_security=("securityContext",), resources=("resources",),
        service_types=("service.type",), plaintext_secrets=("auth.password",), images=("image",),
        tls=(TlsSwitch("tls.enabled", equals=True), TlsSwitch("tls.secretName"),
             TlsSwitch("config", contains="tls On")),
    )
    settings = policy_config.charts_settings({"example": chart})
    assert settings["kubernetes-pod-require-restricted-security"] == {
        "example": {"podSecurity": ["podSecurityContext"], "containerSecurity": ["securityContext"]}}
    assert settings["kubernetes-endpoint-require-tls"] == {"example": {"tls": [
        {"path": "tls.enabled", "equals": True}, {"path": "tls.secretName", "set": True},
        {"path": "config", "contains": "tls On"}]}}
    assert settings["kubernetes-secret-disallow-plaintext"] == {"example": {"plaintextSecrets": ["auth.password"]}}
    jsonschema.validate({"charts": settings["kubernetes-endpoint-require-tls"]},
                        schema_of("kubernetes-endpoint-require-tls"))


@pytest.mark.parametrize("switch", [
    {"path": "tls.enabled"},
    {"path": "tls.enabled", "equals": True, "set": True},
    {"path": "tls.enabled", "set": False},
    {"path": "", "set": True},
    {"path": "tls.enabled", "contains": ""},
])
def test_the_pack_refuses_a_malformed_tls_switch(switch: dict) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"charts": {"minio": {"tls": [switch]}}}, schema_of("kubernetes-endpoint-require-tls"))


def test_the_pack_refuses_a_chart_entry_that_lacks_a_fact() -> None:
    with pytest.raises(jsonschema.ValidationError, match="'containerSecurity' is a required property"):
        jsonschema.validate({"charts": {"minio": {"podSecurity": ["securityContext"]}}},
                            schema_of("kubernetes-pod-require-restricted-security"))


def test_prod_stacks_get_the_models_audit_minimum_and_other_stages_keep_theirs(monkeypatch) -> None:
    document = {"elasticsearch-ilm-configure-audit-retention": {"minDays": 30, "auditPolicies": ["old"]}}
    dev = policy_config.generate(document, stage="dev")
    assert dev["elasticsearch-ilm-configure-audit-retention"] == {"minDays": 30, "auditPolicies": ["platform-audit"]}
    assert dev["aws-s3-bucket-enable-object-lock"] == {"auditRoles": ["logs", "access-logs"]}
    monkeypatch.setattr(policy_config, "MIN_AUDIT_DAYS_PROD", 120)
    prod = policy_config.generate(document, stage="prod")
    for name in ("aws-s3-bucket-configure-log-retention", "aws-s3-bucket-enable-object-lock",
                 "minio-s3-bucket-configure-log-retention", "elasticsearch-ilm-configure-audit-retention"):
        assert prod[name]["minDays"] == 120, name


def test_the_snapshot_rule_gets_the_stacks_own_audit_retention_in_every_stage() -> None:
    document = {"elasticsearch-cluster-require-snapshots": {"minDays": 7, "auditIndices": ["old-*"]}}
    for stage in ("dev", "prod"):
        generated = policy_config.generate(document, stage=stage, audit_days=120)
        assert generated["elasticsearch-cluster-require-snapshots"] == {"minDays": 120,
                                                                        "auditIndices": ["platform-audit-*"]}
    assert [policy_config.stack_facts(stack) for stack in ("dev", "prod")] == [("dev", 30), ("prod", 90)]


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda path: path.stem)
def test_each_exemptable_policy_carries_exactly_its_allow_list_entries(path: Path) -> None:
    document = json.loads(path.read_text())
    listed = document["pack-exemption-require-allow-list"]["exemptions"]
    exemptable = {meta.id for meta in REGISTRY.values() if meta.exemptable}
    copies = {name: entry["exemptions"] for name, entry in document.items()
              if isinstance(entry, dict) and "exemptions" in entry and name != "pack-exemption-require-allow-list"}
    expected: dict[str, list] = {}
    for entry in listed:
        if entry["policy"] in exemptable:
            expected.setdefault(entry["policy"], []).append(entry)
    assert copies == expected and expected, "run `make policy-config`"


def test_the_generator_copies_an_exemption_to_its_policy_and_never_to_one_that_cannot_be_exempted() -> None:
    entry = {"policy": "aws-s3-bucket-require-kms-encryption", "resource": "aws:s3/bucket:Bucket::b", "reason": "r",
             "expires": "2027-01-01"}
    refused = {**entry, "policy": "aws-s3-bucket-enable-versioning"}
    given = {"all": "mandatory", "pack-exemption-require-allow-list": {"exemptions": [entry, refused]},
             "kubernetes-namespace-require-restricted-pod-security": {"exemptions": [entry]}}
    generated = policy_config.generate(given)
    assert generated["aws-s3-bucket-require-kms-encryption"] == {"exemptions": [entry]}
    assert "aws-s3-bucket-enable-versioning" not in generated
    assert "kubernetes-namespace-require-restricted-pod-security" not in generated  # a stale copy is dropped
