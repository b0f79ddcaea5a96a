"""network-config-analyzer judges the program's NetworkPolicies against the vendors' flows: each defect it finds today
is a strict expected failure named after it (tests/infra/network_defects.yaml), and any other finding fails."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from infra.offline import nca
from infra.offline.harness import RecordedResource, Recording
from infra.offline.network import KINDS, NETWORK_POLICY, NetworkReport, check
from tests.support.render import rendered
from tests.support.system import in_ci

pytestmark = pytest.mark.integration

STACKS = ("dev", "prod")
KNOWN: dict[str, dict[str, str]] = yaml.safe_load(Path(__file__).with_name("network_defects.yaml").read_text())


def require_analyzer() -> None:
    try:
        nca.executable()
    except nca.AnalyzerMissingError as error:
        if in_ci():
            pytest.fail(f"{error} (CI=true: a missing analyzer fails instead of skipping)", pytrace=False)
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def network(stack_recording, tmp_path_factory) -> Callable[[str], NetworkReport]:
    reports: dict[str, NetworkReport] = {}

    def get(stack: str) -> NetworkReport:
        require_analyzer()
        if stack not in reports:
            recording = stack_recording(stack)
            reports[stack] = check(stack, recording, out=tmp_path_factory.mktemp("network"), render=rendered(recording))
        return reports[stack]

    return get


def known_defects() -> list:
    # Only the assertion is the expected failure: an analyzer that is missing or breaks fails the case.
    return [pytest.param(stack, case, id=f"{stack}-{case}",
                         marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=defect))
            for stack in STACKS for case, defect in KNOWN[stack].items()]


@pytest.mark.parametrize(("stack", "case"), known_defects())
def test_known_defect_is_fixed(network, stack, case):
    kind, _, subject = case.partition(":")
    finding = network(stack).of(kind, subject)
    assert finding is None, f"{case}\n    " + "\n    ".join(finding.details)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stack", STACKS)
def test_nothing_else_is_found(network, stack, kind):
    unknown = [finding for finding in network(stack).findings
               if finding.kind == kind and finding.case not in KNOWN[stack]]
    assert not unknown, "\n".join(f"{finding.case}\n    " + "\n    ".join(finding.details) for finding in unknown)


def test_every_known_defect_names_a_flow_workload_or_policy_the_check_knows(network):
    for stack in STACKS:
        report = network(stack)
        subjects = {"blocked": set(report.flows), "unserved": set(report.workloads),
                    "unneeded": set(report.workloads), "selects-nothing": set(report.policies)}
        cases = [case.partition(":") for case in KNOWN[stack]]
        stale = [f"{kind}:{subject}" for kind, _, subject in cases
                 if kind in subjects and subject not in subjects[kind]]
        assert not stale, f"{stack}: {stale} name nothing the check knows; remove them from network_defects.yaml"


# ---- the check is not vacuous: a policy that opens a blocked flow clears it, one that opens more is found ----


def with_policy(recording: Recording, name: str, namespace: str, spec: dict) -> Recording:
    changed = copy.copy(recording)
    manifest = {"metadata": {"name": name, "namespace": namespace}, "spec": spec}
    changed.resources = [*recording.resources, RecordedResource(
        urn=f"urn:test::{name}", type=NETWORK_POLICY, name=name, custom=True, parent="", dependencies=[],
        property_dependencies={}, protect=False, inputs=manifest, provider="", ignore_changes=[], aliases=[],
        additional_secret_outputs=[], delete_before_replace=False, retain_on_delete=False)]
    return changed


def pods(labels: dict[str, str]) -> dict:
    return {"podSelector": {"matchLabels": labels}}


def without_policy(recording: Recording, namespace: str, name: str) -> Recording:
    changed = copy.copy(recording)
    changed.resources = [resource for resource in recording.resources if not (
        resource.type == NETWORK_POLICY and resource.inputs["metadata"]["name"] == name
        and resource.inputs["metadata"]["namespace"] == namespace)]
    assert len(changed.resources) == len(recording.resources) - 1
    return changed


def test_without_prometheus_egress_its_flows_are_blocked_and_a_policy_restores_one(network, stack_recording, tmp_path):
    before = {finding.case for finding in network("dev").findings}
    recording = without_policy(stack_recording("dev"), "dp-monitoring", "prometheus-egress")
    blocked = {finding.case for finding in check("dev", recording, out=tmp_path / "without").findings} - before
    assert {"blocked:prometheus-to-alertmanager-9093", "blocked:prometheus-to-kube-state-metrics-8080",
            "blocked:prometheus-to-nodes-10250"} <= blocked
    assert all(case.startswith(("blocked:prometheus-", "catalog:prometheus-")) for case in blocked), blocked

    prometheus, alertmanager = {"app.kubernetes.io/name": "prometheus"}, {"app.kubernetes.io/name": "alertmanager"}
    restored = with_policy(recording, "alerts-out", "dp-monitoring", {
        "podSelector": {"matchLabels": prometheus}, "policyTypes": ["Egress"],
        "egress": [{"to": [pods(alertmanager)], "ports": [{"protocol": "TCP", "port": 9093}]}]})
    after = {finding.case for finding in check("dev", restored, out=tmp_path / "restored").findings} - before
    assert blocked - after == {"blocked:prometheus-to-alertmanager-9093", "catalog:prometheus-uses-alertmanager"}


def test_a_policy_opening_a_namespace_to_everything_is_found(network, stack_recording, tmp_path):
    recording = with_policy(stack_recording("dev"), "open", "dp-presentation", {
        "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]})
    report = check("dev", recording, out=tmp_path)
    valkey = report.of("unneeded", "valkey")
    assert valkey is not None and any(line.startswith("0.0.0.0/") for line in valkey.details)
    assert report.of("unserved", "valkey") is not None  # every other port of the pod is open too


@pytest.mark.parametrize("stack", STACKS)
def test_a_charts_pods_are_judged_as_the_chart_renders_them(network, stack):
    report = network(stack)
    if not report.rendered:
        pytest.skip(f"{stack}: no chart is in the chart cache (`make chart-cache`): every chart's pods are judged by "
                    "their tables' labels")
    # What only operators create at run time, and what the deployer is, cannot come from a chart.
    assert {"airbyte-jobs", "coredns", "deployer", "prometheus", "alertmanager"} <= set(report.documented)
    assert not set(report.rendered) & {"airbyte-jobs", "coredns", "deployer"}
    assert "stand-ins: " in report.text()


READERS = {"dev": "prometheus-reader-team-grafana", "prod": "prometheus-reader-analytics-grafana"}


@pytest.mark.parametrize("stack", STACKS)
def test_a_prometheus_reader_reaches_the_authenticating_front_only(network, stack):
    """The stack's `kubernetes.prometheusReaders` entry is a flow to Prometheus's front on 9443, which the policies
    allow (nothing is blocked) and which is all they allow it (nothing unneeded: not 9090, not the reloader)."""
    report = network(stack)
    flow = f"{READERS[stack]}-to-prometheus-9443"
    assert flow in report.flows
    assert report.of("blocked", flow) is None
    assert report.of("unneeded", "prometheus") is None


def test_a_reader_opened_to_prometheus_own_port_is_found(network, stack_recording, tmp_path):
    """A policy of one's own admitting the reader to Prometheus's unauthenticated 9090 is reported."""
    recording = with_policy(stack_recording("dev"), "grafana-direct", "dp-monitoring", {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}, "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "grafana"}},
                               "podSelector": {"matchLabels": {"app.kubernetes.io/name": "grafana"}}}],
                     "ports": [{"protocol": "TCP", "port": 9090}]}]})
    found = check("dev", recording, out=tmp_path).of("unneeded", "prometheus")
    assert found is not None and any("9090" in line for line in found.details), found
