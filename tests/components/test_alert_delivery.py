"""Alerts reach people: Debian's Prometheus evaluates rules that fire and sends them over verified TLS to Debian's
Alertmanager, configured by the program's own builder (components/runtime/alerting.py) from an `alerting` section
whose receivers are a webhook (HTTPS) and an SMTP relay (STARTTLS and a login) the test runs on loopback. The
critical alert arrives at both, the warning by mail only, and the symptom its cause inhibits arrives nowhere."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from components.runtime.alerting import alertmanager_yaml
from components.runtime.config import AlertingSettings
from tests.support import tls
from tests.support.system import require

RELAY_USER, RELAY_PASSWORD = "alertmanager", "relay-password-test"
# The cause and its symptom (inhibition `dremiocoordinatordown-mutes-symptoms`), and a warning of another layer.
CAUSE = ("DremioCoordinatorDown", "critical", "dp-lakehouse")
SYMPTOM = ("BatchStepFailed", "critical", "dp-lakehouse")
WARNING = ("DataPlatformCertificateExpiresSoon", "warning", "dp-system")
WAIT_SECONDS = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Inbox:
    """What the receivers got: webhook payloads and parsed mails, with the SMTP logins they came with."""

    webhooks: list[dict] = field(default_factory=list)
    mails: list = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def webhook_alerts(self) -> set[str]:
        with self.lock:
            return {alert["labels"]["alertname"] for payload in self.webhooks for alert in payload["alerts"]}

    def mail_subjects(self) -> list[str]:
        with self.lock:
            return [str(mail["Subject"]) for mail in self.mails]


def server_context(pki: tls.TestPki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    return context


@pytest.fixture()
def webhook(tmp_path) -> Iterator[tuple[int, Inbox, tls.TestPki]]:
    pki = tls.make_pki(tmp_path / "pki")
    inbox = Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with inbox.lock:
                inbox.webhooks.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context(pki).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], inbox, pki
    server.shutdown()
    server.server_close()


@pytest.fixture()
def relay(webhook) -> Iterator[int]:
    """An SMTP relay on loopback that requires STARTTLS before anything and a login before mail."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    _, inbox, pki = webhook

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
            with inbox.lock:
                inbox.mails.append(message_from_bytes(envelope.content))
            return "250 OK"

    def authenticate(server, session, envelope, mechanism, auth_data):
        login = (auth_data.login.decode(), auth_data.password.decode())
        with inbox.lock:
            inbox.logins.append(login)
        return AuthResult(success=login == (RELAY_USER, RELAY_PASSWORD))

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=server_context(pki),
                            require_starttls=True, authenticator=authenticate, auth_require_tls=True,
                            # Alertmanager answers LOGIN's challenges only as "Username:"/"Password:", which
                            # aiosmtpd does not send; PLAIN is what it then uses.
                            auth_exclude_mechanism=["LOGIN"])
    controller.start()
    yield port
    controller.stop()


def rule(name: str, severity: str, namespace: str, expr: str = "vector(1)", duration: str = "0s") -> dict:
    return {"alert": name, "expr": expr, "for": duration,
            "labels": {"severity": severity, "namespace": namespace},
            "annotations": {"summary": f"{name} fires for the delivery test."}}


SYMPTOM_METRIC = "delivery_test_symptom"


def symptom_rule() -> dict:
    """The symptom fires once the test turns it on (a series Prometheus scrapes from the test), after its cause has
    reached the webhook: Alertmanager judges inhibition when it sends a group, against the causes it holds then, so
    the test makes the order certain instead of racing the two first sends."""
    return rule(*SYMPTOM, expr=f"{SYMPTOM_METRIC} == 1")


@pytest.fixture()
def symptom_switch() -> Iterator[tuple[int, threading.Event]]:
    """A metrics endpoint on loopback serving `delivery_test_symptom`: 0, then 1 once the event is set."""
    on = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"{SYMPTOM_METRIC} {1 if on.is_set() else 0}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], on
    server.shutdown()
    server.server_close()


def start(command: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_for(condition: Callable[[], bool], what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    tails = "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-15:]) for log in logs)
    pytest.fail(f"{what} within {WAIT_SECONDS} s\n{tails}")


def alertmanager_alerts(port: int, ca_file: Path) -> list[dict]:
    context = ssl.create_default_context(cafile=str(ca_file))
    url = f"https://127.0.0.1:{port}/api/v2/alerts?active=true&silenced=true&inhibited=true"
    with urllib.request.urlopen(url, context=context, timeout=5) as answer:
        return json.loads(answer.read())


def test_firing_alerts_reach_the_webhook_and_the_relay_and_an_inhibited_symptom_reaches_neither(
        tmp_path, webhook, relay, symptom_switch):
    require("promtool")
    require("alertmanager")
    hook_port, inbox, pki = webhook
    switch_port, symptom_on = symptom_switch
    ca_file = tmp_path / "pki" / "ca.pem"
    settings = AlertingSettings.model_validate({
        "receivers": {
            "chat": {"ca": "platform", "webhook": {"url": f"https://127.0.0.1:{hook_port}/alerts", "port": hook_port}},
            "team": {"ca": "platform", "email": {
                "to": ["oncall@example.com", "team@example.com"], "from": "alertmanager@example.com",
                "smarthost": f"127.0.0.1:{relay}", "username": RELAY_USER, "password": RELAY_PASSWORD}},
        },
        "routes": {"critical": ["chat", "team"], "warning": ["team"]},
        "groupWait": "1s", "groupInterval": "1s", "repeatInterval": "1h",
        "runbookBaseUrl": "https://git.example.com/data/dataplatform/blob/main/",
    })
    (tmp_path / "alertmanager.yml").write_text(alertmanager_yaml(settings, platform_ca_file=str(ca_file)))
    web = {"tls_server_config": {"cert_file": str(pki.cert_file), "key_file": str(pki.key_file)}}
    (tmp_path / "web.yml").write_text(yaml.safe_dump(web))
    am_port = free_port()
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(
        {"groups": [{"name": "delivery", "rules": [rule(*CAUSE), symptom_rule(), rule(*WARNING)]}]}))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"evaluation_interval": "1s", "scrape_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "scrape_configs": [{"job_name": "symptom", "static_configs": [{"targets": [f"127.0.0.1:{switch_port}"]}]}],
        "alerting": {"alertmanagers": [{
            "scheme": "https", "api_version": "v2",
            # Verified against the CA, by the name the certificate carries (as the platform's Prometheus does).
            "tls_config": {"ca_file": str(ca_file), "server_name": "localhost"},
            "static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}],
        }]},
    }))
    logs = [tmp_path / "alertmanager.log", tmp_path / "prometheus.log"]
    processes = [
        start([shutil.which("prometheus-alertmanager"), f"--config.file={tmp_path / 'alertmanager.yml'}",
               f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
               f"--web.config.file={tmp_path / 'web.yml'}", "--cluster.listen-address="], logs[0]),
        start([shutil.which("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
               f"--storage.tsdb.path={tmp_path / 'prom-data'}", f"--web.listen-address=127.0.0.1:{free_port()}",
               # Alerts evaluated before the notifier has discovered Alertmanager are dropped and sent again
               # after this delay (a minute by default).
               "--rules.alert.resend-delay=1s"], logs[1]),
    ]
    try:
        wait_for(lambda: CAUSE[0] in inbox.webhook_alerts(), "the critical alert did not reach the webhook", logs)
        wait_for(lambda: len(inbox.mails) >= 2, "the critical alert and the warning did not both arrive by mail",
                 logs)
        symptom_on.set()  # the cause is in Alertmanager: now its symptom fires

        def symptom_inhibited() -> bool:
            alerts = {alert["labels"]["alertname"]: alert for alert in alertmanager_alerts(am_port, ca_file)}
            symptom, cause = alerts.get(SYMPTOM[0]), alerts.get(CAUSE[0])
            return (symptom is not None and cause is not None and symptom["status"]["state"] == "suppressed"
                    and symptom["status"]["inhibitedBy"] == [cause["fingerprint"]])

        wait_for(symptom_inhibited, "Alertmanager did not hold the symptom as inhibited by its cause", logs)
        # With a one-second group wait and interval, its group is flushed every second from now on; give it three.
        time.sleep(3)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)

    assert inbox.webhook_alerts() == {CAUSE[0]}  # the warning goes by mail only; the symptom nowhere
    subjects = inbox.mail_subjects()
    assert len(subjects) == 2
    assert sum(CAUSE[0] in subject for subject in subjects) == 1
    assert sum(WARNING[0] in subject for subject in subjects) == 1
    assert not any(SYMPTOM[0] in subject for subject in subjects)
    with inbox.lock:
        assert {mail["To"] for mail in inbox.mails} == {"oncall@example.com, team@example.com"}
        assert set(inbox.logins) == {(RELAY_USER, RELAY_PASSWORD)}
        payload = next(payload for payload in inbox.webhooks if payload["alerts"][0]["labels"]["alertname"] == CAUSE[0])
    assert payload["receiver"] == "chat" and payload["status"] == "firing"
    assert payload["alerts"][0]["labels"]["namespace"] == CAUSE[2]
