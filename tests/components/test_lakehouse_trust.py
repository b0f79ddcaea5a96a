"""What Dremio trusts and reads with: the logs layer's read-only `dremio-reader`, no Elasticsearch source in Dremio
(its connector cannot talk to the 9.x logs cluster, decision 0028), and a prod truststore that holds every
certificate of the RDS CA bundle, proved by running the rendered init-container commands with the real csplit and
keytool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components.kit.images import image_references
from components.kit.rest import Retry
from components.lakehouse import spec
from components.logs import spec as logs_spec
from components.logs.provider import RoleProvider, UserProvider
from infra.offline.harness import SECRET_SENTINEL_PREFIX, is_secret, unwrap_secret
from tests.support.elasticsearch_server import ADMIN, FakeElasticsearch
from tests.support.lakehouse import shape
from tests.support.recordings import record_logs
from tests.support.system import require
from tests.support.tls import make_pki

ES_ROLE = "pulumi-python:dynamic/elasticsearch:Role"


# ---- the logs layer's identity for Dremio ----------------------------------------------------------------


def test_dremio_reader_reads_job_logs_only_and_holds_no_write_or_admin_privilege():
    recording = record_logs("prod")
    role = recording.named("logs-role-dremio-reader")
    assert role.input("name") == "dremio-reader"
    assert role.input("role") == {
        "cluster": ["monitor"],
        "indices": [{"names": ["airbyte-logs-*", "dbt-runs-*"], "privileges": ["read", "view_index_metadata"],
                     "allow_restricted_indices": False}],
        "applications": [],
        "run_as": [],
        "metadata": {"managed_by": "dataplatform", "access": "read"},
        "description": role.input("role.description"),
    }
    audit = [family.pattern for family in logs_spec.families(30, 90) if family.audit]
    assert audit == ["platform-audit-*"] and not set(audit) & set(role.input("role.indices")[0]["names"])
    user = recording.named("logs-user-dremio-reader")
    assert user.input("name") == "dremio-reader" and user.input("roles") == ["dremio-reader"]
    assert "logs-role-dremio-reader" in {recording.by_urn()[urn].name for urn in user.dependencies}


def test_dremio_readers_password_is_generated_and_stays_secret():
    recording = record_logs("prod")
    user = recording.named("logs-user-dremio-reader")
    assert is_secret(user.inputs["password"])
    password = unwrap_secret(user.inputs["password"])
    assert password.startswith(SECRET_SENTINEL_PREFIX)
    assert recording.named("logs-dremio-reader-password").input("length") == 40
    for resource in recording:
        plain = {key: value for key, value in resource.inputs.items() if not is_secret(value)}
        assert password not in json.dumps(plain), resource.name


def test_the_role_and_user_apply_to_elasticsearch_and_read_back_without_drift(tmp_path):
    pki = make_pki(tmp_path / "pki")
    families = logs_spec.families(job_log_days=14, audit_days=90)
    with FakeElasticsearch.start(pki) as server:
        connection = {"url": server.url, "username": ADMIN[0], "password": ADMIN[1], "ca_pem": pki.ca_pem,
                      "timeout": 5.0}
        retry = Retry(sleep=lambda _: None)
        role_props = {"connection": connection, "name": logs_spec.DREMIO_READER,
                      "role": logs_spec.dremio_reader_role(families)}
        role = RoleProvider(retry).create(role_props)
        assert server.roles["dremio-reader"]["cluster"] == ["monitor"]
        assert RoleProvider(retry).read(role.id, role.outs).outs["spec_hash"] == role.outs["spec_hash"]
        user_props = {"connection": connection, "name": logs_spec.DREMIO_READER, "roles": ["dremio-reader"],
                      "full_name": "Dremio logs source (read-only)", "password": "a-generated-password-0001"}
        user = UserProvider(retry).create(user_props)
        assert UserProvider(retry).read(user.id, user.outs).outs["spec_hash"] == user.outs["spec_hash"]
        assert "a-generated-password-0001" not in json.dumps({k: v for k, v in user.outs.items()
                                                              if k != "connection"})


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_platform_declares_no_elasticsearch_source_in_dremio(stack_recording, stack):
    recording = stack_recording(stack)
    sources = {r.inputs["entity"]["name"]: r.inputs["entity"]["type"]
               for r in recording.of_type("pulumi-python:dynamic/dremio:Source")}
    assert "ELASTIC" not in sources.values(), "Dremio's Elasticsearch connector refuses a 9.x cluster"
    assert sources[spec.METADATA_SOURCE] == "POSTGRES"
    assert {sources[spec.LAKE_SOURCE], sources[spec.LAKE_WRITE_SOURCE]} == {"S3"}


# ---- the truststore ----------------------------------------------------------------------------------------


def init_containers(stack: str) -> dict[str, list[dict]]:
    return {manifest["metadata"]["name"]: manifest["spec"]["template"]["spec"]["initContainers"]
            for manifest in spec.workloads(shape(stack)) if manifest["kind"] == "StatefulSet"}


def test_prod_nodes_split_the_rds_bundle_from_the_migrations_image_and_dev_nodes_do_not():
    for containers in init_containers("prod").values():
        assert [container["name"] for container in containers] == ["rds-ca", "truststore"]
        split, truststore = containers
        assert split["image"] == image_references()["migrations"]
        assert "/etc/dataplatform/rds-global-bundle.pem" in split["command"]
        assert "rds-ca-" in truststore["command"][2]
        for container in containers:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
    for containers in init_containers("dev").values():
        assert [container["name"] for container in containers] == ["truststore"]
        assert "rds-ca" not in containers[0]["command"][2]


@pytest.fixture()
def sandbox(tmp_path: Path) -> Path:
    """A JAVA_HOME whose cacerts is the local JDK's, and the pod's truststore and tls directories."""
    require("java")
    java_home = tmp_path / "java"
    real = Path(shutil.which("java")).resolve().parent.parent / "lib" / "security" / "cacerts"
    (java_home / "lib" / "security").mkdir(parents=True)
    shutil.copy(real, java_home / "lib" / "security" / "cacerts")
    (tmp_path / "opt" / "dremio" / "truststore").mkdir(parents=True)
    (tmp_path / "opt" / "dremio" / "tls").mkdir(parents=True)
    (tmp_path / "opt" / "dremio" / "tls" / "ca.crt").write_text(make_pki(tmp_path / "platform", "platform").ca_pem)
    return tmp_path


def run_rendered(sandbox: Path, bundle: Path) -> subprocess.CompletedProcess:
    """Runs prod's two init containers as rendered, with the pod's absolute paths moved under `sandbox`."""
    split, truststore = init_containers("prod")[spec.COORDINATOR]
    home = str(sandbox / "opt" / "dremio")
    command = [part.replace(spec.DREMIO_HOME, home).replace("/etc/dataplatform/rds-global-bundle.pem", str(bundle))
               for part in split["command"]]
    subprocess.run(command, check=True, capture_output=True, text=True)
    script = truststore["command"][2].replace(spec.DREMIO_HOME, home)
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                          env={**os.environ, "JAVA_HOME": str(sandbox / "java")})


def aliases(store: Path) -> set[str]:
    listing = subprocess.run(["keytool", "-list", "-keystore", str(store), "-storepass", "changeit"],
                             check=True, capture_output=True, text=True).stdout
    return {line.split(",")[0] for line in listing.splitlines() if "trustedCertEntry" in line}


def test_every_certificate_of_the_bundle_lands_in_the_truststore_under_its_own_alias(sandbox):
    regions = [make_pki(sandbox / f"region-{index}", f"rds-region-{index}").ca_pem for index in range(3)]
    bundle = sandbox / "global-bundle.pem"
    bundle.write_text("".join(regions).rstrip("\n"))  # no newline after the last certificate
    result = run_rendered(sandbox, bundle)
    assert result.returncode == 0, result.stderr
    store = sandbox / "opt" / "dremio" / "truststore"
    found = aliases(store / "cacerts")
    assert {"platform-ca", "rds-ca-000", "rds-ca-001", "rds-ca-002"} <= found
    assert not {alias for alias in found if alias.startswith("rds-ca-")} - {"rds-ca-000", "rds-ca-001", "rds-ca-002"}
    assert len(found) > 4, "the JVM's public roots stay"
    assert sorted(path.name for path in store.iterdir()) == ["cacerts"], "the split files are removed"


@pytest.mark.parametrize("content", ["", "not a certificate\n"], ids=["empty", "no-certificate"])
def test_a_bundle_without_certificates_fails_the_pod(sandbox, content):
    bundle = sandbox / "bundle.pem"
    bundle.write_text(content)
    result = run_rendered(sandbox, bundle)
    assert result.returncode != 0, "Dremio must not start without the RDS CAs"
