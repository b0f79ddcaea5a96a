"""The snapshot exporter's Elasticsearch identity is exactly what its enabled collectors need, by the Elasticsearch
9.5 specification's own privilege list for each endpoint the exporter calls (elasticsearch_exporter v1.11.0), and
its release turns on only those collectors and TLS verified against the stack CA; its snapshot alerts are per SLM
policy, each on the policy's own repository and lateness from the policy's own schedule."""

from __future__ import annotations

import re

import pytest

from components.logs import exporter
from components.logs import spec as logs_spec
from tests.support.es_spec import SpecModel
from tests.support.vendor_specs import vendor_spec, vendor_spec_path

# The requests each collector makes at v1.11.0 (cluster/provider.go and pkg/clusterinfo/clusterinfo.go `GET /`,
# collector/cluster_health.go, collector/nodes.go without `--es.all`, collector/snapshots.go, collector/slm.go).
CALLS = {
    "cluster-info": ["/"],
    "cluster-health": ["/_cluster/health"],
    "nodes": ["/_nodes/_local/stats"],
    "snapshots": ["/_snapshot", "/_snapshot/platform-audit-snapshots/_all"],
    "slm": ["/_slm/status", "/_slm/stats"],
}
ENABLED = ("cluster-info", "cluster-health", "nodes", "snapshots")


@pytest.fixture(scope="module")
def spec() -> tuple[SpecModel, dict[str, dict]]:
    vendor_spec_path("elasticsearch/schema-9.5.json")
    compiled = vendor_spec("elasticsearch/schema-9.5.json")
    return SpecModel(compiled), {endpoint["name"]: endpoint for endpoint in compiled["endpoints"]}


def _endpoint(model: SpecModel, path: str) -> str:
    found = model.route("GET", path)
    assert found is not None, f"GET {path} is no endpoint of the specification"
    return found[0].name


def test_the_recorded_calls_are_the_endpoints_the_exporter_requests(spec):
    model, _ = spec
    for collector in ENABLED:
        assert [_endpoint(model, path) for path in CALLS[collector]] == list(exporter.EXPORTER_CALLS[collector])


def test_each_call_is_allowed_and_each_privilege_is_needed(spec):
    model, endpoints = spec
    granted = set(exporter.role()["cluster"])
    used = set()
    for collector in ENABLED:
        for path in CALLS[collector]:
            name = _endpoint(model, path)
            allowed = set(endpoints[name]["privileges"]["cluster"])
            assert allowed & granted, f"{collector}: {name} needs one of {sorted(allowed)}"
            used |= allowed & granted
    assert used == granted, f"privileges no enabled collector needs: {sorted(granted - used)}"
    assert exporter.role()["indices"] == [] and exporter.role()["run_as"] == []


def test_the_slm_collector_would_need_manage_slm_and_stays_off(spec):
    model, endpoints = spec
    stats = endpoints[_endpoint(model, "/_slm/stats")]["privileges"]["cluster"]
    assert stats == ["manage_slm"]
    assert not set(stats) & set(exporter.role()["cluster"])
    assert exporter.release("https://logs-es-http:9200").values["es"]["slm"] is False


def test_the_role_is_a_put_role_request_of_the_specification(spec):
    model, _ = spec
    endpoint, params = model.route("PUT", f"/_security/role/{exporter.EXPORTER_ROLE}")
    assert endpoint.name == "security.put_role"
    assert model.request_problems(endpoint, params, {}, exporter.role()) == []


def test_the_release_reads_only_snapshots_over_verified_tls():
    values = exporter.release("https://logs-es-http.dp-logs.svc.cluster.local:9200").rendered_values()
    es = values["es"]
    collectors = {key for key, on in es.items() if on is True}
    assert collectors == {"snapshots"}
    assert es["uri"].startswith("https://") and es["sslSkipVerify"] is False
    assert es["ssl"] == {"enabled": True, "useExistingSecrets": True, "ca": {"path": "/ssl/ca.crt"},
                         "client": {"enabled": False}}
    assert values["secretMounts"] == [{"name": "elasticsearch-ca", "secretName": exporter.CA_SECRET, "path": "/ssl"}]
    assert {env["secret"] for env in values["extraEnvSecrets"].values()} == {exporter.CREDENTIALS_SECRET}


def test_each_policy_has_its_own_snapshot_alerts_on_its_own_repository_and_schedule():
    families = logs_spec.families(7, 90)
    audit, jobs = logs_spec.snapshot_policies(families, 90, 7, 24)
    hourly_jobs = logs_spec.SnapshotPolicy(jobs.name, jobs.families, jobs.keep_days, 6)
    rules = exporter.snapshot_alert_rules([audit, hourly_jobs], "logs")
    per_policy = {(rule.alert, rule.labels.get("policy")): rule for rule in rules}
    assert sorted(per_policy) == [("ElasticsearchSnapshotFailed", "job-log-snapshots"),
                                  ("ElasticsearchSnapshotFailed", "platform-audit-snapshots"),
                                  ("ElasticsearchSnapshotLate", "job-log-snapshots"),
                                  ("ElasticsearchSnapshotLate", "platform-audit-snapshots"),
                                  ("ElasticsearchSnapshotsUnreadable", None)]
    for policy, hours in ((audit, 26), (hourly_jobs, 8)):
        late = per_policy[("ElasticsearchSnapshotLate", policy.name)]
        failed = per_policy[("ElasticsearchSnapshotFailed", policy.name)]
        for rule in (late, failed):
            assert set(re.findall(r'repository="([^"]+)"', rule.expr)) == {policy.repository}
            assert policy.name in rule.summary
        assert f"> {hours * 3600}" in late.expr and f"offset {hours}h" in late.expr
        assert f"the last {hours} h" in late.summary
    assert exporter.snapshot_alert_rules([], "logs") == []
