"""The installed Alertmanager's configuration, built from the stack config's `alerting` section: pure, no resources.

    text = alertmanager_yaml(settings)      # what the runtime puts, as a secret, in the Secret `alertmanager-config`

Routes: every alert goes to the receivers its `severity` label names in `alerting.routes` (one child route per
receiver, each with `continue`, so a severity reaches all of its receivers); an alert no route delivers (no receiver
for its severity, or a severity other than critical and warning) reaches `alertmanager-ui-only`, a receiver without
any integration: it is shown in Alertmanager's UI and API and sent nowhere. Alerts are grouped by alert name and
namespace. INHIBITIONS mutes symptoms while their cause fires (docs/runtime.md, "Alerting").

Only fields Alertmanager 0.25 (Debian's, which the tests run) and 0.34 (what the platform deploys) both read are
written: `matchers` and `source_matchers`/`target_matchers` (0.22+), `require_tls`, `auth_password`, `tls_config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from components.runtime.config import SEVERITIES, UI_ONLY_RECEIVER, AlertingSettings, ReceiverSettings
from components.runtime.values import (
    ALERTMANAGER_CONFIG_KEY,
    ALERTMANAGER_CONFIG_SECRET,
    MONITORING_CA_CONFIG_MAP,
    MONITORING_CA_KEY,
)

# The Secret (in `dp-monitoring`) the chart's Alertmanager reads its configuration from, and its key.
CONFIG_SECRET, CONFIG_KEY = ALERTMANAGER_CONFIG_SECRET, ALERTMANAGER_CONFIG_KEY
# Where the operator mounts a ConfigMap named in `alertmanagerSpec.configMaps` (the Alertmanager CRD's
# `configMaps`: /etc/alertmanager/configmaps/<name>): the stack's CA, for receivers with `ca: platform`.
PLATFORM_CA_FILE = f"/etc/alertmanager/configmaps/{MONITORING_CA_CONFIG_MAP}/{MONITORING_CA_KEY}"
GROUP_BY = ("alertname", "namespace")


@dataclass(frozen=True)
class Inhibition:
    """While an alert matching `source` fires, alerts matching `target` with the same `equal` labels are muted."""

    name: str
    why: str
    source: tuple[str, ...]
    target: tuple[str, ...]
    equal: tuple[str, ...]

    def rule(self) -> dict[str, Any]:
        return {"source_matchers": list(self.source), "target_matchers": list(self.target), "equal": list(self.equal)}


def _names(*alerts: str) -> str:
    return f'alertname=~"{"|".join(alerts)}"'


# A product's "down" alert and the alerts that follow from it. The names are the alert rules' own
# (components/<product>/spec.py); tests/components/test_alerting.py requires each to be a rule of a plan.
SERVICE_DOWN: dict[str, tuple[str, ...]] = {
    # The batch's failed syncs while Airbyte is down are in another namespace (the batch's): not muted by this.
    "AirbyteServerDown": (),
    # Dremio's backup is taken by the coordinator itself (decision 0035): while it is down, no backup can run.
    "DremioCoordinatorDown": ("DremioSlowQueries", "DremioExecutorsDegraded", "BatchStepFailed", "BatchLate",
                              "DremioBackupLate", "DremioBackupFailed"),
    "SupersetDown": ("SupersetApiErrors",),
}
GENERIC_WORKLOAD = ("DataPlatformDeploymentUnavailable", "DataPlatformStatefulSetUnavailable")

INHIBITIONS: tuple[Inhibition, ...] = (
    Inhibition(
        "critical-mutes-warning",
        "an alert that fires as critical says all its warning says, for the same alert name and namespace",
        ('severity="critical"',), ('severity="warning"',), ("alertname", "namespace"),
    ),
    Inhibition(
        "service-down-mutes-workload",
        "a product's own down alert names the same Deployment or StatefulSet as the generic workload alert, with "
        "what is lost",
        (_names(*SERVICE_DOWN),), (_names(*GENERIC_WORKLOAD),), ("namespace", "deployment", "statefulset"),
    ),
    *(
        Inhibition(
            f"{cause.lower()}-mutes-symptoms",
            f"while {cause} fires, what depends on the service fails with it: {', '.join(symptoms)}",
            (f'alertname="{cause}"',), (_names(*symptoms),), ("namespace",),
        )
        for cause, symptoms in SERVICE_DOWN.items() if symptoms
    ),
    Inhibition(
        "scrape-down-mutes-backup-late",
        "PostgresBackupLate also fires when no series says when the last backup was; while the exporter in the "
        "same namespace cannot be scraped, that is the cause to fix",
        ('alertname="DataPlatformScrapeTargetDown"',), ('alertname="PostgresBackupLate"',), ("namespace",),
    ),
    Inhibition(
        "exporter-blind-mutes-snapshot-late",
        "ElasticsearchSnapshotLate also fires when no series says when the last snapshot was; while the snapshot "
        "exporter cannot be scraped or cannot read the repositories, that is the cause to fix",
        (_names("DataPlatformScrapeTargetDown", "ElasticsearchSnapshotsUnreadable"), 'job="elasticsearch-exporter"'),
        ('alertname="ElasticsearchSnapshotLate"',), ("namespace",),
    ),
)


def inhibited_alerts() -> set[str]:
    """Every alert name an inhibition refers to."""
    return {*SERVICE_DOWN, *(name for names in SERVICE_DOWN.values() for name in names), *GENERIC_WORKLOAD,
            "DataPlatformScrapeTargetDown", "PostgresBackupLate", "ElasticsearchSnapshotsUnreadable",
            "ElasticsearchSnapshotLate"}


def _receiver(name: str, receiver: ReceiverSettings, platform_ca_file: str) -> dict[str, Any]:
    tls = {"ca_file": platform_ca_file} if receiver.ca == "platform" else {}
    if receiver.webhook is not None:
        assert receiver.webhook.url is not None  # the model requires it
        webhook: dict[str, Any] = {"url": receiver.webhook.url.get_secret_value(), "send_resolved": True}
        if tls:
            webhook["http_config"] = {"tls_config": tls}
        return {"name": name, "webhook_configs": [webhook]}
    email = receiver.email
    assert email is not None and email.password is not None  # the model requires both
    config: dict[str, Any] = {
        "to": ", ".join(email.to),
        "from": email.from_,
        "smarthost": email.smarthost,
        "auth_username": email.username,
        "auth_password": email.password.get_secret_value(),
        "require_tls": True,
        "send_resolved": True,
    }
    if tls:
        config["tls_config"] = tls
    return {"name": name, "email_configs": [config]}


def alertmanager_config(settings: AlertingSettings, platform_ca_file: str = PLATFORM_CA_FILE) -> dict[str, Any]:
    """Alertmanager's configuration document, secrets in place (the caller keeps it secret)."""
    routes = [
        {"matchers": [f'severity="{severity}"'], "receiver": receiver, "continue": True}
        for severity in SEVERITIES for receiver in settings.receivers_of(severity)
    ]
    route: dict[str, Any] = {
        "receiver": UI_ONLY_RECEIVER,
        "group_by": list(GROUP_BY),
        "group_wait": settings.group_wait,
        "group_interval": settings.group_interval,
        "repeat_interval": settings.repeat_interval,
    }
    if routes:
        route["routes"] = routes
    receivers = [{"name": UI_ONLY_RECEIVER}]
    receivers += [_receiver(name, receiver, platform_ca_file) for name, receiver in sorted(settings.receivers.items())]
    return {"route": route, "receivers": receivers, "inhibit_rules": [rule.rule() for rule in INHIBITIONS]}


def alertmanager_yaml(settings: AlertingSettings, platform_ca_file: str = PLATFORM_CA_FILE) -> str:
    return yaml.safe_dump(alertmanager_config(settings, platform_ca_file), sort_keys=False, width=120)


def delivery(settings: AlertingSettings) -> dict[str, str]:
    """Where each severity goes, in words: the receivers, or that it stays in Alertmanager's UI."""
    return {severity: ", ".join(settings.receivers_of(severity)) or "nowhere: Alertmanager's UI only"
            for severity in SEVERITIES}
