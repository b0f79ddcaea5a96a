"""The inhibitions hold in Alertmanager itself: Debian's Alertmanager runs on loopback with the inhibit rules the
program builds (components/runtime/alerting.py), takes the symptoms first (every one active), then their causes, and
reports exactly the expected symptoms as suppressed by exactly their cause; a symptom whose cause is in another
namespace stays active. The expectations below are written out, not derived from INHIBITIONS.

`amtool config routes test` resolves routes only; inhibition is judged by the running Alertmanager (its API reports
each alert's `inhibitedBy`), so this test starts one (about 2 s)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from components.runtime.alerting import alertmanager_yaml
from components.runtime.config import AlertingSettings
from tests.support.system import require

WAIT_SECONDS = 30

# (alertname, severity, namespace, extra labels) as the plan's rules label them.
CAUSES = {
    "coordinator": ("DremioCoordinatorDown", "critical", "dp-lakehouse", {"statefulset": "dremio-coordinator"}),
    "superset": ("SupersetDown", "critical", "dp-presentation", {"deployment": "superset-web"}),
    "scrape": ("DataPlatformScrapeTargetDown", "warning", "dp-metadata", {"pod": "metadata-1"}),
    "critical": ("DataPlatformVolumeNearlyFull", "critical", "dp-storage", {"persistentvolumeclaim": "data-0"}),
    "exporter": ("ElasticsearchSnapshotsUnreadable", "warning", "dp-logs", {"job": "elasticsearch-exporter"}),
}
# Each symptom and the cause expected to suppress it (None: it stays active with every cause firing).
SYMPTOMS = [
    (("DremioBackupLate", "warning", "dp-lakehouse", {}), "coordinator"),
    (("DremioBackupFailed", "warning", "dp-lakehouse", {}), "coordinator"),
    (("BatchLate", "critical", "dp-lakehouse", {}), "coordinator"),
    (("BatchStepFailed", "critical", "dp-lakehouse", {"container": "reflections", "reason": "Error"}), "coordinator"),
    (("DataPlatformStatefulSetUnavailable", "critical", "dp-lakehouse", {"statefulset": "dremio-coordinator"}),
     "coordinator"),
    # Another workload of the same namespace: the generic alert names a different object.
    (("DataPlatformStatefulSetUnavailable", "critical", "dp-lakehouse", {"statefulset": "dremio-executor"}), None),
    (("SupersetApiErrors", "critical", "dp-presentation", {}), "superset"),
    (("DataPlatformDeploymentUnavailable", "critical", "dp-presentation", {"deployment": "superset-web"}), "superset"),
    (("PostgresBackupLate", "warning", "dp-metadata", {"cluster": "metadata"}), "scrape"),
    # Postgres's backup failure is not explained by an exporter that cannot be scraped.
    (("PostgresBackupFailed", "warning", "dp-metadata", {"cluster": "metadata"}), None),
    # The Dremio backup alerts are muted by Dremio's coordinator only, not by another layer's outage.
    (("DremioBackupLate", "warning", "dp-lakehouse-2", {}), None),
    (("DataPlatformVolumeNearlyFull", "warning", "dp-storage", {"persistentvolumeclaim": "data-0"}), "critical"),
    # With no series the snapshot exporter cannot tell: lateness is muted, a failure it did see is not.
    (("ElasticsearchSnapshotLate", "warning", "dp-logs",
      {"repository": "platform-audit-snapshots", "policy": "platform-audit-snapshots"}), "exporter"),
    (("ElasticsearchSnapshotLate", "warning", "dp-logs",
      {"repository": "job-log-snapshots", "policy": "job-log-snapshots"}), "exporter"),
    (("ElasticsearchSnapshotFailed", "warning", "dp-logs",
      {"repository": "platform-audit-snapshots", "policy": "platform-audit-snapshots"}), None),
]


def alert(name: str, severity: str, namespace: str, extra: dict[str, str]) -> dict:
    now = datetime.now(UTC)
    return {"labels": {"alertname": name, "severity": severity, "namespace": namespace, **extra},
            "annotations": {"summary": f"{name} for the inhibition test"},
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat()}


def key(labels: dict[str, str]) -> tuple:
    return tuple(sorted(labels.items()))


@pytest.fixture()
def alertmanager(tmp_path) -> Iterator[str]:
    require("alertmanager")
    settings = AlertingSettings.model_validate({"groupWait": "1s", "groupInterval": "1s", "repeatInterval": "1h"})
    (tmp_path / "alertmanager.yml").write_text(alertmanager_yaml(settings))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "alertmanager.log"
    process = subprocess.Popen(
        [shutil.which("prometheus-alertmanager"), f"--config.file={tmp_path / 'alertmanager.yml'}",
         f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/v2"
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                urllib.request.urlopen(f"{url}/status", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"Alertmanager did not start:\n{log.read_text()}")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def post(url: str, alerts: list[dict]) -> None:
    request = urllib.request.Request(f"{url}/alerts", data=json.dumps(alerts).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()


def states(url: str) -> dict[tuple, dict]:
    query = f"{url}/alerts?active=true&silenced=true&inhibited=true&unprocessed=true"
    with urllib.request.urlopen(query, timeout=5) as answer:
        return {key(item["labels"]): item for item in json.loads(answer.read())}


def settle(url: str, expected: dict[tuple, object]) -> dict[tuple, object]:
    """Poll until each alert's (state, inhibiting alert) is as expected, or give up with what it is."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        current = states(url)
        by_fingerprint = {item["fingerprint"]: labels for labels, item in current.items()}
        seen = {labels: (current[labels]["status"]["state"],
                         tuple(by_fingerprint.get(f, f) for f in current[labels]["status"]["inhibitedBy"]))
                if labels in current else None for labels in expected}
        if seen == expected or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def test_each_cause_mutes_its_symptoms_and_nothing_else(alertmanager):
    symptoms = [alert(*labels) for labels, _ in SYMPTOMS]
    post(alertmanager, symptoms)
    alone = {key(item["labels"]): ("active", ()) for item in symptoms}
    assert settle(alertmanager, alone) == alone  # no cause yet: every symptom is delivered

    causes = {name: alert(*labels) for name, labels in CAUSES.items()}
    post(alertmanager, list(causes.values()))
    expected: dict[tuple, object] = {key(item["labels"]): ("active", ()) for item in causes.values()}
    for item, (_, cause) in zip(symptoms, SYMPTOMS, strict=True):
        expected[key(item["labels"])] = (("suppressed", (key(causes[cause]["labels"]),)) if cause
                                         else ("active", ()))
    seen = settle(alertmanager, expected)
    wrong = {dict(labels)["alertname"] + " in " + dict(labels)["namespace"]: (seen[labels], want)
             for labels, want in expected.items() if seen[labels] != want}
    assert not wrong, f"(seen, expected) per alert: {wrong}"
