"""Dremio policies: the real prod lakehouse passes, each bad variant fails with exactly the expected violations, and
a Community stack reports its missing access control."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.model.stackfiles import load_stack
from infra.offline.harness import Recording, run_program
from policies import lakehouse
from tests.policies import policy_eval
from tests.policies.policy_fixtures import set_input, without
from tests.support.lakehouse import lakehouse_program

IDS = {policy.name for policy in lakehouse.POLICIES}


@pytest.fixture(scope="module")
def prod() -> Recording:
    return run_program(lakehouse_program("prod"), load_stack("prod"))


@pytest.fixture(scope="module")
def dev() -> Recording:
    return run_program(lakehouse_program("dev"), load_stack("dev"))


def dremio_violations(recording: Recording, monkeypatch) -> set[tuple[str, str, str]]:
    monkeypatch.setattr(policy_eval, "POLICIES", lakehouse.POLICIES)
    return {found for found in policy_eval.violations(recording) if found[0] in IDS}


def grants_of(recording: Recording, layer: str) -> list[dict]:
    (resource,) = [r for r in recording.of_type(lakehouse.GRANTS) if r.inputs["path"] == [layer]]
    return resource.inputs["grants"]


def with_grant(layer: str, name: str, privileges: list[str]) -> Callable[[Recording], Recording]:
    def mutate(recording: Recording) -> Recording:
        grants = [dict(grant) for grant in grants_of(recording, layer)]
        grants = [grant for grant in grants if grant["name"] != name]
        grants.append({"granteeType": "ROLE", "name": name, "privileges": privileges})
        return set_input(f"lakehouse-grants-{layer}", "grants", grants)(recording)

    return mutate


FLIGHT_OFF = ("ConfigMap 'dremio-config' leaves Dremio's Flight without TLS; set services.flight.ssl.enabled: true "
              "(the last assignment in dremio.conf wins) with a keystore.")


def with_dremio_conf(change: Callable[[str], str]) -> Callable[[Recording], Recording]:
    """The plan's own dremio.conf, changed as a person might edit it."""
    def mutate(recording: Recording) -> Recording:
        conf = recording.named("lakehouse-config").inputs["data"]["dremio.conf"]
        return set_input("lakehouse-config", "data", {"dremio.conf": change(conf)})(recording)

    return mutate


def test_pass_prod_lakehouse_has_no_dremio_violation(prod, monkeypatch):
    assert dremio_violations(prod, monkeypatch) == set()


def test_fail_dev_community_reports_the_access_control_gap(dev, monkeypatch):
    assert dremio_violations(dev, monkeypatch) == {
        (lakehouse.ACCESS_CONTROL, "lakehouse-source-lake",
         "Dremio has sources but no grants: on the Community edition any Dremio user can read and write every layer; "
         "run the Enterprise edition (`lakehouse.edition: enterprise`) so the catalog's grants apply."),
    }


CASES = {
    "fail_s3_source_without_tls": (
        set_input("lakehouse-source-lake", "entity.config.secure", False),
        {(lakehouse.SOURCE_TLS, "lakehouse-source-lake",
          "Dremio source 'lake' does not verify TLS (`secure` is not true); connect over TLS with certificate and "
          "hostname validation.")},
    ),
    "fail_postgres_source_without_hostname_validation": (
        set_input("lakehouse-source-metadata", "entity.config.encryptionValidationMode",
                  "CERTIFICATE_ONLY_VALIDATION"),
        {(lakehouse.SOURCE_TLS, "lakehouse-source-metadata",
          "Dremio source 'metadata' does not verify TLS (`encryptionValidationMode` is "
          "'CERTIFICATE_ONLY_VALIDATION', not CERTIFICATE_AND_HOSTNAME_VALIDATION); connect over TLS with "
          "certificate and hostname validation.")},
    ),
    # The plans declare no Elasticsearch source (decision 0028); one declared without `sslEnabled` still fails.
    "fail_elastic_source_without_ssl": (
        set_input("lakehouse-source-metadata", "entity.type", "ELASTIC"),
        {(lakehouse.SOURCE_TLS, "lakehouse-source-metadata",
          "Dremio source 'metadata' does not verify TLS (`sslEnabled` is not true); connect over TLS with "
          "certificate and hostname validation.")},
    ),
    "fail_flight_without_tls": (
        lambda recording: set_input("lakehouse-config", "data", {"dremio.conf": recording.named(
            "lakehouse-config").inputs["data"]["dremio.conf"].replace("services.flight.ssl.enabled: true",
                                                                       "services.flight.ssl.enabled: false")})(
            recording),
        {(lakehouse.SERVER_TLS, "lakehouse-config", FLIGHT_OFF)},
    ),
    # HOCON: the last assignment wins, whatever its form.
    "fail_flight_turned_off_by_a_later_line": (
        with_dremio_conf(lambda conf: conf + "services { flight.ssl { enabled = false } }\n"),
        {(lakehouse.SERVER_TLS, "lakehouse-config", FLIGHT_OFF)},
    ),
    "fail_both_surfaces_off_as_strings": (
        with_dremio_conf(lambda conf: conf + 'services.flight.ssl.enabled = "false"\n'
                         "services.coordinator.web.ssl.enabled: false\n"),
        {(lakehouse.SERVER_TLS, "lakehouse-config",
          "ConfigMap 'dremio-config' leaves Dremio's web and Flight without TLS; set "
          "services.coordinator.web.ssl.enabled: true and services.flight.ssl.enabled: true (the last assignment in "
          "dremio.conf wins) with a keystore.")},
    ),
    "pass_flight_written_on_one_line_with_equals": (
        with_dremio_conf(lambda conf: conf.replace("services.flight.ssl.enabled: true", "")
                         + "services.flight.ssl.enabled = true\n"),
        set(),
    ),
    "pass_flight_as_a_nested_object": (
        with_dremio_conf(lambda conf: conf.replace("services.flight.ssl.enabled: true", "")
                         + "services { flight { ssl { enabled: true } } }\n"),
        set(),
    ),
    "fail_password_in_the_payload": (
        set_input("lakehouse-source-metadata", "entity.config.password", "hunter2-in-clear"),
        {(lakehouse.PLAINTEXT, "lakehouse-source-metadata",
          "Dremio resource 'lakehouse-source-metadata' carries password in its payload; pass credentials through "
          "`secret_config` so they stay secret and out of state.")},
    ),
    "fail_analyst_may_write_gold": (
        with_grant("gold", "analyst", ["SELECT", "ALTER"]),
        {(lakehouse.LEAST_PRIVILEGE, "lakehouse-grants-gold",
          "Dremio grants give consumer 'analyst' ALTER on gold; consumers read only gold.")},
    ),
    "fail_analyst_reads_upstream_silver": (
        with_grant("silver", "analyst", ["SELECT"]),
        {(lakehouse.LEAST_PRIVILEGE, "lakehouse-grants-silver",
          "Dremio grants give consumer 'analyst' access to silver; consumers read only gold.")},
    ),
    "fail_data_engineer_writes_upstream_of_what_it_reads": (
        with_grant("gold", "data_engineer", ["SELECT"]),
        {(lakehouse.LEAST_PRIVILEGE, "lakehouse-grants-bronze",
          "Dremio grants let 'data_engineer' write bronze, upstream of gold that it reads; the flow is one-way.")},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fail_variants_report_exactly(case, prod, monkeypatch):
    mutate, expected = CASES[case]
    assert dremio_violations(mutate(prod), monkeypatch) == expected


BACKUP_CASES = {
    "fail_prod_without_the_backup_cronjob": (
        lambda recording: without(recording, "lakehouse-dremio-backup"),
        {(lakehouse.BACKUP, "lakehouse-dremio-coordinator",
          "Dremio's coordinator 'dremio-coordinator' has no scheduled backup (no CronJob labelled "
          "app.kubernetes.io/name: dremio-backup beside it): its KV store (sources, spaces, users, grants, "
          "reflections) dies with its volume.")},
    ),
    "fail_suspended_backup": (
        set_input("lakehouse-dremio-backup", "spec.suspend", True),
        {(lakehouse.BACKUP, "lakehouse-dremio-backup",
          "Dremio's backup CronJob 'dremio-backup' is suspended; the coordinator's KV store is not backed up to the "
          "object store.")},
    ),
    "fail_backup_to_the_coordinators_volume": (
        set_input("lakehouse-dremio-backup", "spec.jobTemplate.spec.template.spec.containers.0.env.0.value",
                  "/opt/dremio/data/backups"),
        {(lakehouse.BACKUP, "lakehouse-dremio-backup",
          "Dremio's backup CronJob 'dremio-backup' writes to '/opt/dremio/data/backups', on the coordinator's own "
          "volume, not to the object store; the coordinator's KV store is not backed up to the object store.")},
    ),
}


@pytest.mark.parametrize("case", sorted(BACKUP_CASES))
def test_fail_backup_variants_report_exactly(case, prod, monkeypatch):
    mutate, expected = BACKUP_CASES[case]
    assert dremio_violations(mutate(prod), monkeypatch) == expected


def test_pass_dev_has_its_backup_too(dev, monkeypatch):
    assert not {found for found in dremio_violations(dev, monkeypatch) if found[0] == lakehouse.BACKUP}


def test_fail_a_dremio_conf_dremio_could_not_read(prod, monkeypatch):
    broken = with_dremio_conf(lambda conf: conf + "services.flight.ssl.enabled: {\n")(prod)
    ((policy, resource, message),) = dremio_violations(broken, monkeypatch)
    assert (policy, resource) == (lakehouse.SERVER_TLS, "lakehouse-config")
    assert message.startswith("ConfigMap 'dremio-config' holds a dremio.conf that cannot be read as HOCON (")
    assert message.endswith("); Dremio would not start with it, so fix its syntax.")
