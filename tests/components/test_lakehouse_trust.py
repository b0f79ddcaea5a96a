"""What Dremio trusts and reads with: no Elasticsearch source in Dremio and no identity for it in the logs layer
(its connector cannot talk to the 9.x logs cluster, decision 0028), and a prod truststore that holds every
certificate of the RDS CA bundle, proved by running the rendered init-container commands with the real csplit and
keytool."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components.kit.images import image_references
from components.lakehouse import spec
from tests.support.lakehouse import shape
from tests.support.recordings import record_logs
from tests.support.system import require
from tests.support.tls import make_pki

ES_ROLE = "pulumi-python:dynamic/elasticsearch:Role"


# ---- no Elasticsearch identity or source for Dremio -----------------------------------------------------------


def test_the_logs_layer_gives_dremio_no_identity():
    """Dremio reads nothing from Elasticsearch, so the logs layer creates no role or user for it: an unused
    credential with read on the job logs would be one more secret to keep and nothing to show for it."""
    recording = record_logs("prod")
    names = {resource.inputs.get("name") for resource in recording
             if resource.type in (ES_ROLE, "pulumi-python:dynamic/elasticsearch:User")}
    assert names == {"log-writer", "log-reader", "log-shipper", "snapshot-monitor", "elasticsearch-exporter"}


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
