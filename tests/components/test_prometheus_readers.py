"""Who may query Prometheus from outside the stack (`kubernetes.prometheusReaders`), as the plans declare it: the
authenticating TLS front in Prometheus's pod and its port on the Service, one generated login per reader kept secret
(its bcrypt hash in the front's Secret, its password in the reader's own Secret and the stack output), and a flow to
the front only. The front itself runs for real in tests/components/test_prometheus_front.py; the flow is judged by
network-config-analyzer in tests/infra/test_network_analyzer.py."""

from __future__ import annotations

import json

import pytest

from components.platform import flow_tables, network_problems, outside_networks
from components.runtime import flows as runtime_flows
from components.runtime import prometheus_front
from infra.model.catalog import load_catalog
from infra.model.config import PROJECT
from infra.model.errors import ConfigError
from infra.model.stackfiles import load_stack
from infra.offline.harness import SECRET_SIG, secret_sentinel, unwrap_secret
from tests.conftest import run_stack
from tests.support.ingestion import stack_config

RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
READERS = {"dev": "team-grafana", "prod": "analytics-grafana"}


def by_name(recording, kind: str, name: str):
    (found,) = [resource for resource in recording.of_type(kind) if resource.input("metadata.name") == name
                and resource.input("metadata.namespace") == "dp-monitoring"]
    return found


def prometheus_values(recording) -> dict:
    (release,) = [resource for resource in recording.of_type(RELEASE) if resource.input("name") == "prometheus"]
    return unwrap_secret(release.inputs["values"]), release


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_front_runs_in_prometheus_pod_with_its_logins_secret(stack, stack_recording):
    recording = stack_recording(stack)
    values, release = prometheus_values(recording)
    spec = values["prometheus"]["prometheusSpec"]
    assert [container["name"] for container in spec["containers"]] == [prometheus_front.CONTAINER]
    (container,) = spec["containers"]
    assert container["ports"] == [{"name": "web-auth", "containerPort": 9443, "protocol": "TCP"}]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"].startswith("nginxinc/nginx-unprivileged:1.27-alpine")
    mounted = {mount["name"] for mount in container["volumeMounts"]}
    assert mounted == {volume["name"] for volume in spec["volumes"]}
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["auth-proxy-tls"]["secret"]["secretName"] == spec["web"]["tlsConfig"]["keySecret"]["name"]
    assert values["prometheus"]["service"]["additionalPorts"] == [
        {"name": "web-auth", "port": 9443, "targetPort": "web-auth", "protocol": "TCP"}]

    logins = by_name(recording, SECRET, prometheus_front.HTPASSWD_SECRET)
    assert logins.input("metadata.namespace") == "dp-monitoring"
    assert SECRET_SIG in logins.inputs["stringData"]  # the hashes are secret in the state
    assert {"stringData", "data"} <= set(logins.additional_secret_outputs)
    reader = by_name(recording, SECRET, prometheus_front.reader_secret(READERS[stack]))
    assert SECRET_SIG in reader.inputs["stringData"]
    conf = by_name(recording, CONFIG_MAP, prometheus_front.CONFIG_MAP)
    assert conf.inputs["data"] == {"default.conf": prometheus_front.nginx_conf()}
    ca = by_name(recording, CONFIG_MAP, "platform-ca")
    for needed in (logins, conf, ca):
        assert needed.urn in release.dependencies  # Prometheus's pod starts with its front's files in place


def test_the_reader_password_and_its_hash_reach_only_their_secrets(dev):
    """The password (the mocks' sentinel for it) is only in the reader's Secret, its bcrypt hash only in the front's
    logins, both secret; no other input of the plan carries either."""
    (password,) = [resource for resource in dev.of_type("random:index/randomPassword:RandomPassword")
                   if "prometheus-reader-team-grafana" in resource.name]
    assert password.input("length") == 40
    plain = secret_sentinel(password.type, password.name)
    hashed = secret_sentinel(password.type, password.name, "bcrypt")
    reader = by_name(dev, SECRET, prometheus_front.reader_secret("team-grafana"))
    logins = by_name(dev, SECRET, prometheus_front.HTPASSWD_SECRET)
    assert unwrap_secret(reader.inputs["stringData"])["password"] == plain
    assert unwrap_secret(logins.inputs["stringData"])[prometheus_front.HTPASSWD_KEY] == f"team-grafana:{hashed}\n"
    for resource in dev.resources:
        if resource in (reader, logins):
            continue
        text = json.dumps(resource.inputs)
        assert plain not in text and hashed not in text, resource.name


def test_without_readers_there_is_no_front_and_no_flow():
    kubernetes = json.loads(load_stack("dev").config[f"{PROJECT}:kubernetes"])
    kubernetes.pop("prometheusReaders")
    recording = run_stack("dev", {f"{PROJECT}:kubernetes": kubernetes})
    values, _ = prometheus_values(recording)
    assert "containers" not in values["prometheus"]["prometheusSpec"]
    assert "additionalPorts" not in values["prometheus"].get("service", {})
    assert not [resource for resource in recording.of_type(SECRET)
                if resource.input("metadata.name") == prometheus_front.HTPASSWD_SECRET]
    config = stack_config("dev", kubernetes=kubernetes)
    tables = flow_tables(config, load_catalog())
    assert not [flow for table in tables for flow in table.flows if flow.server.name == "prometheus"
                and flow.port == prometheus_front.PORT]
    assert not [port for table in tables for workload in table.workloads if workload.name == "prometheus"
                for port in workload.ports if port.number == prometheus_front.PORT]


def test_a_reader_outside_the_pod_network_is_admitted_from_its_cidrs_only():
    kubernetes = json.loads(load_stack("dev").config[f"{PROJECT}:kubernetes"])
    kubernetes["prometheusReaders"] = {"ops-grafana": {"cidrs": ["10.20.0.0/24"]}}
    config = stack_config("dev", kubernetes=kubernetes)
    table = runtime_flows.flow_table(config.kubernetes, on_aws=False)
    (flow,) = [flow for flow in table.flows if flow.server.name == "prometheus" and flow.port == prometheus_front.PORT]
    assert flow.client.key == "kubernetes.prometheusReaders.ops-grafana.cidrs"
    assert flow.server.name == "prometheus"
    assert outside_networks(config)["kubernetes.prometheusReaders.ops-grafana.cidrs"] == ("10.20.0.0/24",)
    assert network_problems(config, load_catalog()) == []
    (server,) = [table for table in flow_tables(config, load_catalog()) if table.product == "monitoring"]
    assert 9443 in {port.number for workload in server.workloads if workload.name == "prometheus"
                    for port in workload.ports}


@pytest.mark.parametrize(("reader", "message"), [
    # Either key may be the one the reader lost or should not have: both are named.
    ({}, "team-grafana.namespace: missing"),
    ({}, "team-grafana.cidrs: missing"),
    ({"namespace": "grafana", "cidrs": ["10.0.0.0/8"]}, "team-grafana.namespace: given with `cidrs`"),
    ({"namespace": "grafana", "cidrs": ["10.0.0.0/8"]}, "team-grafana.cidrs: given with `namespace`"),
    ({"namespace": "dp-monitoring"}, "one of the platform's own namespaces"),
    ({"namespace": "grafana", "podLabels": {}}, "podLabels"),
    ({"namespace": "grafana", "podLabels": {"app": "bad value!"}}, "podLabels"),
])
def test_a_wrong_reader_is_a_config_error_naming_its_key(reader, message):
    kubernetes = json.loads(load_stack("dev").config[f"{PROJECT}:kubernetes"])
    kubernetes["prometheusReaders"] = {"team-grafana": reader}
    with pytest.raises(ConfigError) as raised:
        stack_config("dev", kubernetes=kubernetes)
    text = str(raised.value)
    assert "prometheusReaders.team-grafana" in text and message in text, text
