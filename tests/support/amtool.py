"""The Alertmanager configuration a plan declares, judged by Alertmanager's own `amtool` (Debian's
`prometheus-alertmanager`, 0.25; the platform deploys 0.34, see docs/runtime.md "Alerting").

    text = plan_configuration(recording)            # the Secret's `alertmanager.yaml`, as deployed
    text = with_test_secrets(text)                  # the offline placeholders replaced by values amtool can parse
    check_config(path)                              # `amtool check-config`
    routed_receivers(path, severity="critical")     # `amtool config routes test`: the receivers it reaches
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.runtime.values import ALERTMANAGER_CONFIG_KEY, ALERTMANAGER_CONFIG_SECRET
from infra.model.stackfiles import OFFLINE_SECRET_PLACEHOLDER
from infra.offline.harness import Recording
from tests.support.system import executable

SECRET = "kubernetes:core/v1:Secret"
TEST_WEBHOOK_URL = "https://hooks.example.test/alerts"
TEST_PASSWORD = "test-relay-password"


def amtool() -> str:
    return executable("amtool", "alertmanager")


def configuration_secret(recording: Recording):
    (secret,) = [resource for resource in recording.of_type(SECRET)
                 if resource.input("metadata.name") == ALERTMANAGER_CONFIG_SECRET]
    return secret


def plan_configuration(recording: Recording) -> str:
    return configuration_secret(recording).input("stringData")[ALERTMANAGER_CONFIG_KEY]


def with_test_secrets(text: str) -> str:
    """The configuration with each offline secret placeholder replaced by a test value of its field's kind."""
    document = yaml.safe_load(text)
    for receiver in document["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            if webhook["url"] == OFFLINE_SECRET_PLACEHOLDER:
                webhook["url"] = TEST_WEBHOOK_URL
        for email in receiver.get("email_configs", []):
            if email["auth_password"] == OFFLINE_SECRET_PLACEHOLDER:
                email["auth_password"] = TEST_PASSWORD
    replaced = yaml.safe_dump(document, sort_keys=False)
    assert OFFLINE_SECRET_PLACEHOLDER not in replaced, "a secret field this helper does not know"
    return replaced


@dataclass(frozen=True)
class AmtoolResult:
    returncode: int
    output: str


def check_config(path: Path) -> AmtoolResult:
    answer = subprocess.run([amtool(), "check-config", str(path)], capture_output=True, text=True)
    return AmtoolResult(answer.returncode, answer.stdout + answer.stderr)


def routed_receivers(path: Path, **labels: str) -> list[str]:
    """The receivers an alert with `labels` reaches, as `amtool config routes test` resolves them."""
    answer = subprocess.run(
        [amtool(), "config", "routes", "test", f"--config.file={path}",
         *(f"{name}={value}" for name, value in labels.items())],
        capture_output=True, text=True, check=True)
    return answer.stdout.strip().split(",")
