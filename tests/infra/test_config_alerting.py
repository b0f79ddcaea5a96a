"""The stack config's `alerting` section is judged before any resource is declared: a route to an unknown receiver,
a receiver without its secret, a secret in plain text, each is one line naming the key and the fix, and the plan
exits 2; a secret's value is never shown."""

from __future__ import annotations

import pulumi
import pytest

from infra.model.config import PROJECT, project_values
from infra.model.errors import ConfigError
from infra.model.inputs import validate_inputs
from infra.model.stackfiles import load_stack
from infra.offline import plan
from infra.offline.harness import run_program
from tests.infra.test_config_inputs import project, stack_document

KEY = f"{PROJECT}:alerting"
WEBHOOK_URL = "https://hooks.example.com/services/T0/B0/tok3n-9f2c"
RUNBOOKS = "https://git.example.com/data/dataplatform/blob/v1.0.0/"


def with_runbooks(alerting: dict) -> dict:
    """The section with a runbook base (required once receivers deliver), unless the test sets its own; a None
    value removes the key."""
    merged = {"runbookBaseUrl": RUNBOOKS, **alerting}
    return {key: value for key, value in merged.items() if value is not None}


def secret(value: str) -> dict:
    """A value as `pulumi config set --secret --path` leaves it in the stack file."""
    return {"secure": f"v1:{value}"}


def mail(**changes) -> dict:
    email = {"to": ["team@example.com"], "from": "alertmanager@example.com", "smarthost": "smtp.example.com:587",
             "username": "alertmanager", "password": secret("relay")}
    return {"email": {key: value for key, value in {**email, **changes}.items() if value is not None}}


def dev_with(alerting: dict, endpoints: dict | None = None) -> dict:
    document = stack_document("dev")
    document["config"][KEY] = with_runbooks(alerting)
    network = document["config"][f"{PROJECT}:kubernetes"]["network"]
    network["endpoints"].update(endpoints if endpoints is not None else {"smtp": ["198.51.100.25/32"]})
    return document


def plan_refusal(tmp_path, capsys, document: dict) -> list[str]:
    root = project(tmp_path, "dev", document)
    assert plan.run("dev", tmp_path / "out", preview=False, quiet=True, root=root) == 2
    error = capsys.readouterr().err.splitlines()
    assert error[0] == "plan dev: configuration error"
    assert not (tmp_path / "out").exists()
    return error[1:]


def test_a_route_naming_an_unknown_receiver_exits_2_naming_the_route(tmp_path, capsys):
    document = dev_with({"receivers": {"team": mail()}, "routes": {"critical": ["team", "oncall"],
                                                                    "warning": ["team"]}})
    assert plan_refusal(tmp_path, capsys, document) == [
        f"Pulumi.dev.yaml: {KEY}.routes.critical[1]: no receiver of that name under `alerting.receivers` "
        "(receivers: team); add it there or remove it from the route (got 'oncall')"]


def test_an_email_receiver_without_its_password_says_how_to_set_it(tmp_path, capsys):
    document = dev_with({"receivers": {"team": mail(password=None)}, "routes": {"warning": ["team"]}})
    assert plan_refusal(tmp_path, capsys, document) == [
        f"Pulumi.dev.yaml: {KEY}.receivers.team.email.password: required: the relay login's password, set as a "
        "secret with `pulumi config set --secret --path 'dataplatform:alerting.receivers.team.email.password' "
        "<password>`"]


@pytest.mark.parametrize(("receiver", "path"), [
    ({"webhook": {"url": WEBHOOK_URL}}, "webhook.url"),
    (mail(password="relay-password"), "email.password"),
])
def test_a_secret_in_plain_text_is_refused_without_showing_it(tmp_path, capsys, receiver, path):
    document = dev_with({"receivers": {"team": receiver}, "routes": {"critical": ["team"]}},
                        {"alert-webhook": ["0.0.0.0/0"]} if "webhook" in receiver else None)
    lines = plan_refusal(tmp_path, capsys, document)
    assert lines == [
        f"Pulumi.dev.yaml: {KEY}.receivers.team.{path}: a secret in plain text in the stack file: set it encrypted "
        f"with `pulumi config set --secret --path 'dataplatform:alerting.receivers.team.{path}' "
        f"<{path.rsplit('.', 1)[-1]}>`"]
    assert WEBHOOK_URL not in "\n".join(lines) and "relay-password" not in "\n".join(lines)


def test_a_plain_secret_beside_an_encrypted_one_under_the_same_key_is_refused(tmp_path, capsys):
    """The engine marks the whole top-level key secret when any leaf of it is; the plan reads the file's own
    `secure:` leaves, so a plain-text webhook next to the encrypted mail password is still refused."""
    document = dev_with({"receivers": {"team": mail(), "oncall": {"webhook": {"url": WEBHOOK_URL}}},
                         "routes": {"critical": ["oncall"], "warning": ["team"]}},
                        {"alert-webhook": ["0.0.0.0/0"], "smtp": ["198.51.100.25/32"]})
    lines = plan_refusal(tmp_path, capsys, document)
    assert lines == [
        f"Pulumi.dev.yaml: {KEY}.receivers.oncall.webhook.url: a secret in plain text in the stack file: set it "
        "encrypted with `pulumi config set --secret --path 'dataplatform:alerting.receivers.oncall.webhook.url' "
        "<url>`"]
    assert WEBHOOK_URL not in "\n".join(lines)


def test_a_password_inside_a_source_url_is_refused_masked(tmp_path, capsys):
    document = stack_document("dev")
    sources = document["config"][f"{PROJECT}:ingestion"]["sources"]
    name = next(key for key, value in sources.items() if "url" in value and "configuration" in value)
    sources[name]["url"] = "https://reader:s3cret-token@api.example.com/v1"
    lines = plan_refusal(tmp_path, capsys, document)
    assert lines == [
        f"Pulumi.dev.yaml: {PROJECT}:ingestion.sources.{name}.url: a password inside the URL "
        "(`https://user:password@host`) is a secret in plain text: remove it from the URL and set it encrypted "
        "under `password` (csv_files) or `secrets` (rest_api) with `pulumi config set --secret --path` "
        "(got 'https://reader:****@api.example.com/v1')"]
    assert "s3cret-token" not in "\n".join(lines)


def test_the_program_refuses_a_plain_secret_as_the_engine_marks_keys():
    """Under the engine the program learns which keys are secret from the engine itself, not from a file."""
    from infra.program import main

    settings = load_stack("dev")
    alerting = {"receivers": {"team": {"webhook": {"url": WEBHOOK_URL}}}, "routes": {"critical": ["team"]},
                "runbookBaseUrl": RUNBOOKS}
    kubernetes = stack_document("dev")["config"][f"{PROJECT}:kubernetes"]
    kubernetes["network"]["endpoints"]["alert-webhook"] = ["0.0.0.0/0"]
    plain = settings.with_overrides({KEY: alerting, f"{PROJECT}:kubernetes": kubernetes})
    with pytest.raises(pulumi.RunError) as raised:
        run_program(main, plain)
    assert str(raised.value).startswith(f"Pulumi.dev.yaml: {KEY}.receivers.team.webhook.url: a secret in plain text")
    encrypted = type(plain)(plain.project, plain.stack, plain.config, (*plain.secret_keys, KEY))
    recording = run_program(main, encrypted)
    assert recording.resources


def refusal(alerting: dict, endpoints: dict | None = None, **kubernetes) -> str:
    """What the validator says of dev with this `alerting` section, its secrets held as the engine holds them."""
    cluster = dev_with(alerting, endpoints)["config"][f"{PROJECT}:kubernetes"]
    settings = load_stack("dev").with_overrides({KEY: with_runbooks(alerting),
                                                 f"{PROJECT}:kubernetes": {**cluster, **kubernetes}})
    values = project_values(settings.config, PROJECT)
    with pytest.raises(ConfigError) as raised:
        validate_inputs(values, "dev", secret_keys={KEY})
    return str(raised.value)


def test_a_webhook_must_be_https_and_its_port_the_one_the_policies_open():
    lines = refusal({"receivers": {"a": {"webhook": {"url": "http://hooks.example.com/tok3n"}},
                                   "b": {"webhook": {"url": "https://hooks.example.com:8443/x"}}},
                     "routes": {"critical": ["a", "b"]}}, {"alert-webhook": ["0.0.0.0/0"]}).splitlines()
    assert lines == [
        f"Pulumi.dev.yaml: {KEY}.receivers.a.webhook.url: must be an https URL (https://host[:port]/path): "
        "Alertmanager sends alerts over TLS only; set it with `pulumi config set --secret --path "
        "'dataplatform:alerting.receivers.a.webhook.url' <https-url>`",
        f"Pulumi.dev.yaml: {KEY}.receivers.b.webhook.port: must be the port the URL names (8443; 443 when it names "
        "none): the NetworkPolicies open this one (got 443)"]
    assert "tok3n" not in "\n".join(lines)


def test_receivers_routes_and_intervals_that_cannot_work_are_named():
    lines = refusal({"receivers": {"team": mail(password="x"), "spare": mail(password="y"),
                                   "both": {"webhook": {"url": WEBHOOK_URL}, **mail(password="z")}},
                     "routes": {"critical": ["team", "team", "both"]},
                     "groupInterval": "10m", "repeatInterval": "5m"}).splitlines()
    assert lines == [
        f"Pulumi.dev.yaml: {KEY}.receivers.both: give exactly one of `webhook` (url) or `email` (to, from, "
        "smarthost, username, password)",
    ]
    lines = refusal({"receivers": {"team": mail(password="x"), "spare": mail(password="y")},
                     "routes": {"critical": ["team", "team"]},
                     "groupInterval": "10m", "repeatInterval": "5m"}).splitlines()
    assert lines == [
        f"Pulumi.dev.yaml: {KEY}.routes.critical: names receiver 'team' twice; list it once (got [\"team\", "
        "\"team\"])",
        f"Pulumi.dev.yaml: {KEY}.receivers.spare: no route uses it, so it would never get an alert: name it under "
        "`alerting.routes.critical` or `.warning`, or remove it",
        f"Pulumi.dev.yaml: {KEY}.repeatInterval: must be at least `groupInterval` (10m): Alertmanager repeats only "
        "when a group is flushed (got '5m')",
    ]


def test_receivers_for_an_existing_alertmanager_are_a_mistake():
    message = refusal({"receivers": {"team": mail(password="x")}, "routes": {"warning": ["team"]}},
                      alertmanager="existing")
    assert f"Pulumi.dev.yaml: {KEY}.receivers: only used when `kubernetes.alertmanager` is install" in message


def test_a_receiver_needs_the_cidrs_of_where_it_is(tmp_path, capsys):
    document = dev_with({"receivers": {"team": mail()}, "routes": {"warning": ["team"]}}, {})
    assert plan_refusal(tmp_path, capsys, document) == [
        f"Pulumi.dev.yaml: {PROJECT}:kubernetes.network.endpoints.smtp: required: the CIDRs of the SMTP relays of "
        "the e-mail receivers (`alerting.receivers`); the NetworkPolicies allow 587 to it, nowhere else "
        "(`[0.0.0.0/0]` allows any address)"]


def test_prods_receivers_plan_offline_with_their_secrets_encrypted():
    settings = load_stack("prod")
    assert f"{PROJECT}:alerting" in settings.secret_keys
    config = validate_inputs(project_values(settings.config), "prod", secret_keys=settings.secret_keys).config
    assert config.alerting.routes.critical and config.alerting.routes.warning
    assert sorted(config.alerting.secret_paths()) == [
        "alerting.receivers.oncall-webhook.webhook.url", "alerting.receivers.team-email.email.password"]


def test_delivered_alerts_need_a_runbook_base_that_opens_from_a_mail(tmp_path, capsys):
    document = dev_with({"receivers": {"team": mail()}, "routes": {"warning": ["team"]}, "runbookBaseUrl": None})
    assert plan_refusal(tmp_path, capsys, document) == [
        f"Pulumi.dev.yaml: {KEY}.runbookBaseUrl: required when receivers deliver alerts: a runbook link must open "
        "from a mail or a chat message; give the https URL under which this repository's files are browsable (e.g. "
        "`https://git.example.com/data/dataplatform/blob/main/`)"]


@pytest.mark.parametrize(("url", "message"), [
    ("docs/", "String should match pattern"),
    ("http://git.example.com/data/dataplatform/blob/main/", "String should match pattern"),
    ("https://git.example.com/blob/main/?plain=1", "must not carry a query or a fragment: each alert appends "
     "`<document>#<section>` to it (got 'https://git.example.com/blob/main/?plain=1')"),
    ("https://git.example.com/blob/main/#top", "must not carry a query or a fragment"),
])
def test_a_runbook_base_that_is_not_an_absolute_https_address_is_refused(url, message):
    lines = refusal({"runbookBaseUrl": url}).splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Pulumi.dev.yaml: {KEY}.runbookBaseUrl: "), lines
    assert message in lines[0]


def test_every_alert_links_its_runbook_under_the_base_with_one_slash():
    """With or without its trailing slash, the base and the document are joined by exactly one `/`."""
    from components.monitoring.component import AlertRule
    from components.runtime.config import AlertingSettings

    rule = AlertRule("DremioBackupLate", "vector(1)", "late", runbooks="docs/backup-and-restore.md")
    for base in (RUNBOOKS, RUNBOOKS.rstrip("/")):
        settings = AlertingSettings.model_validate({"runbookBaseUrl": base})
        assert rule.rule(settings.runbook_base)["annotations"]["runbook_url"] == (
            f"{RUNBOOKS}docs/backup-and-restore.md#dremiobackuplate")
    assert AlertingSettings().runbook_base == ""
    assert rule.rule()["annotations"]["runbook_url"] == "docs/backup-and-restore.md#dremiobackuplate"
