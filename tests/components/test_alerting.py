"""Alertmanager's configuration as each plan declares it: a Secret the chart's Alertmanager reads instead of the
chart's own, accepted by Alertmanager's `amtool`, whose routes deliver each severity to the receivers the stack
config names and nowhere else; dev, with no receiver, keeps every alert in Alertmanager's UI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.runtime.alerting import INHIBITIONS, PLATFORM_CA_FILE, inhibited_alerts
from components.runtime.config import UI_ONLY_RECEIVER
from infra.model.config import PROJECT
from infra.model.stackfiles import load_stack
from infra.offline.harness import SECRET_SIG, run_program, unwrap_secret
from tests.conftest import run_stack
from tests.support.amtool import (
    check_config,
    configuration_secret,
    plan_configuration,
    routed_receivers,
    with_test_secrets,
)
from tests.support.promtool import alerts_of, plan_rule_groups
from tests.support.system import require

RELEASE = "kubernetes:helm.sh/v3:Release"


def written(tmp_path: Path, recording, name: str = "alertmanager.yaml") -> Path:
    path = tmp_path / name
    path.write_text(with_test_secrets(plan_configuration(recording)))
    return path


def prometheus_release(recording):
    (release,) = [resource for resource in recording.of_type(RELEASE) if resource.input("name") == "prometheus"]
    return release


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_configuration_is_a_secret_the_charts_alertmanager_reads_instead_of_its_own(stack, stack_recording):
    recording = stack_recording(stack)
    secret = configuration_secret(recording)
    assert secret.input("metadata.namespace") == "dp-monitoring"
    assert secret.inputs["stringData"][SECRET_SIG] == "1b47061264138c4ac30d75fd1eb44270"  # secret in the state
    assert {"stringData", "data"} <= set(secret.additional_secret_outputs)
    release = prometheus_release(recording)
    spec = unwrap_secret(release.inputs["values"])["alertmanager"]["alertmanagerSpec"]
    assert spec["useExistingSecret"] is True
    assert spec["configSecret"] == secret.input("metadata.name")
    assert secret.urn in release.dependencies  # the Secret exists before Alertmanager starts


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_amtool_accepts_the_configuration_each_plan_declares(stack, stack_recording, tmp_path):
    require("alertmanager")
    result = check_config(written(tmp_path, stack_recording(stack)))
    assert result.returncode == 0, result.output
    assert f"{len(INHIBITIONS)} inhibit rules" in result.output


def test_each_severity_reaches_the_receivers_prod_names_and_nothing_else_is_sent(prod, tmp_path):
    require("alertmanager")
    path = written(tmp_path, prod)
    routes = yaml.safe_load(Path("Pulumi.prod.yaml").read_text())["config"][f"{PROJECT}:alerting"]["routes"]
    assert routed_receivers(path, alertname="DremioCoordinatorDown", severity="critical") == routes["critical"]
    assert routed_receivers(path, alertname="DbtSourceStale", severity="warning") == routes["warning"]
    # A severity no route names (another team's rule in the cluster) is kept in the UI, not sent.
    assert routed_receivers(path, alertname="SomethingElse", severity="info") == [UI_ONLY_RECEIVER]
    assert routed_receivers(path, alertname="NoSeverity") == [UI_ONLY_RECEIVER]


def test_prods_relay_is_verified_with_the_organisations_ca_and_tls_is_required(prod):
    document = yaml.safe_load(plan_configuration(prod))
    (email,) = [config for receiver in document["receivers"] for config in receiver.get("email_configs", [])]
    assert email["require_tls"] is True
    assert email["tls_config"] == {"ca_file": PLATFORM_CA_FILE}
    spec = unwrap_secret(prometheus_release(prod).inputs["values"])["alertmanager"]["alertmanagerSpec"]
    name, key = Path(PLATFORM_CA_FILE).parent.name, Path(PLATFORM_CA_FILE).name
    assert spec["configMaps"] == [name]  # mounted by the operator at /etc/alertmanager/configmaps/<name>
    (config_map,) = [resource for resource in prod.of_type("kubernetes:core/v1:ConfigMap")
                     if resource.input("metadata.name") == name]
    assert key in config_map.input("data")


def test_dev_sends_nothing_and_its_one_receiver_says_so(dev, tmp_path):
    require("alertmanager")
    path = written(tmp_path, dev)
    document = yaml.safe_load(path.read_text())
    assert document["receivers"] == [{"name": UI_ONLY_RECEIVER}]  # no integration: shown in the UI, sent nowhere
    for severity in ("critical", "warning"):
        assert routed_receivers(path, alertname="DremioCoordinatorDown", severity=severity) == [UI_ONLY_RECEIVER]


def test_every_alert_an_inhibition_names_is_a_rule_of_a_plan(dev, prod):
    declared = set(alerts_of(plan_rule_groups(dev))) | set(alerts_of(plan_rule_groups(prod)))
    assert inhibited_alerts() - declared == set()
    referenced = {name for rule in INHIBITIONS for matcher in (*rule.source, *rule.target)
                  if matcher.startswith("alertname") for name in matcher.split('"')[1].split("|")}
    assert referenced == inhibited_alerts()


def test_an_existing_alertmanager_gets_no_configuration_from_the_stack():
    recording = run_stack("dev", {f"{PROJECT}:kubernetes": {**json.loads(load_stack("dev").config[
        f"{PROJECT}:kubernetes"]), "alertmanager": "existing"}})
    assert [resource for resource in recording.of_type("kubernetes:core/v1:Secret")
            if resource.input("metadata.name") == "alertmanager-config"] == []


def test_a_receivers_secrets_reach_only_the_secret_configuration():
    """With real values set, the webhook's token and the relay's password are in the configuration Secret and
    nowhere else (the NetworkPolicies take the webhook's port from its own, plain key)."""
    from infra.program import main

    token, password = "hook-token-5be0c1", "relay-password-93ad7e"
    alerting = {
        "receivers": {
            "chat": {"webhook": {"url": f"https://chat.example.com:8443/hooks/{token}", "port": 8443}},
            "mail": {"email": {"to": ["team@example.com"], "from": "am@example.com",
                               "smarthost": "smtp.example.com:465", "username": "am", "password": password}},
        },
        "routes": {"critical": ["chat", "mail"], "warning": ["mail"]},
        "runbookBaseUrl": "https://git.example.com/data/dataplatform/blob/main/",
    }
    settings = load_stack("dev")
    kubernetes = json.loads(settings.config[f"{PROJECT}:kubernetes"])
    kubernetes["network"]["endpoints"].update({"alert-webhook": ["0.0.0.0/0"], "smtp": ["198.51.100.25/32"]})
    settings = settings.with_overrides({f"{PROJECT}:alerting": alerting, f"{PROJECT}:kubernetes": kubernetes})
    settings = type(settings)(settings.project, settings.stack, settings.config,
                              (*settings.secret_keys, f"{PROJECT}:alerting"))
    recording = run_program(main, settings)
    secret = configuration_secret(recording)
    text = plan_configuration(recording)
    assert token in text and password in text
    for resource in recording.resources:
        if resource is secret:
            continue
        plain = json.dumps(_without_secrets(resource.inputs))
        assert token not in plain and password not in plain, resource.name
    egress = [rule for resource in recording.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
              if resource.input("metadata.name") == "alertmanager-egress" for rule in resource.input("spec.egress")]
    opened = {(rule["to"][0]["ipBlock"]["cidr"], int(rule["ports"][0]["port"])) for rule in egress
              if "ipBlock" in rule["to"][0]}
    assert opened == {("0.0.0.0/0", 8443), ("198.51.100.25/32", 465)}


def _without_secrets(value):
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return "[secret]"
        return {key: _without_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_secrets(item) for item in value]
    return value
