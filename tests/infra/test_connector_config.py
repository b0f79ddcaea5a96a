"""Any Airbyte connector by definition id: its configuration is judged against the connector's spec (Airbyte's
registry) before anything is declared; a field the spec marks secret given in plain text, or a field the spec
requires left out, is a configuration error naming the catalog source and the field, and the plan exits 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.ingestion.config import SourceEndpointSettings
from components.ingestion.connectors import check_configuration, configuration_problems, secret_paths
from infra.model.catalog import load_catalog
from infra.model.stackfiles import REPO_ROOT
from tests.support.vendor_specs import vendor_spec, vendor_spec_path

pytestmark = pytest.mark.integration
REGISTRY = "airbyte/1.8.0/connector-registry.json"
EXCHANGE_RATES = "e2b40e36-aa0e-4bed-b41b-bcea6fa348b1"


def exchange_rates_spec() -> dict:
    entry = next(s for s in vendor_spec(REGISTRY)["sources"] if s["sourceDefinitionId"] == EXCHANGE_RATES)
    return entry["spec"]["connectionSpecification"]


def test_secret_paths_follow_every_branch_of_a_spec():
    spec = vendor_spec("airbyte/connectors/source-postgres-3.7.0.spec.json")["connectionSpecification"]
    found = secret_paths(spec)
    assert {"password", "ssl_mode.ca_certificate", "ssl_mode.client_key", "tunnel_method.tunnel_user_password"} <= found
    assert "host" not in found


def test_a_configuration_is_judged_by_the_spec():
    spec = exchange_rates_spec()
    assert check_configuration(spec, {"start_date": "2024-01-01"}, {"access_key"}) == []
    problems = dict(check_configuration(spec, {"start_date": "01/01/2024", "access_key": "k"}, set()))
    assert problems["access_key"].startswith("the connector marks it secret")
    assert "start_date" in problems
    assert dict(check_configuration(spec, {}, {"access_key"})) == {"start_date": "required by the connector's spec"}


def test_the_catalog_sources_are_valid_for_their_connectors_with_the_registry():
    catalog = load_catalog()
    endpoints = {
        "postgres": SourceEndpointSettings(host="db.internal", database="shop", username="airbyte", password="x"),
        "mysql": SourceEndpointSettings(host="db.internal", database="shop", username="airbyte", password="x"),
        "mongodb": SourceEndpointSettings(host="db.internal", database="reviews", username="airbyte", password="x"),
        "api": SourceEndpointSettings(url="https://api.apilayer.com", configuration={"start_date": "2024-01-01"},
                                      secrets={"access_key": "k"}),
        "files": SourceEndpointSettings(bucket="drops", region="eu-west-1", username="AKIA", password="x"),
    }
    assert configuration_problems(endpoints, catalog.sources, str(vendor_spec_path(REGISTRY)), REPO_ROOT) == []


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    return tmp_path


def plan_with_api(project: Path, out: Path, api: dict) -> subprocess.CompletedProcess:
    stack = yaml.safe_load((project / "Pulumi.dev.yaml").read_text())
    ingestion = stack["config"]["dataplatform:ingestion"]
    ingestion["connectorRegistry"] = str(vendor_spec_path(REGISTRY))
    ingestion["sources"]["api"] = {**ingestion["sources"]["api"], **api}
    (project / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    return subprocess.run([sys.executable, "-m", "infra.offline.plan", "--stack", "dev", "--root", str(project),
                           "--out", str(out)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def test_a_secret_field_in_plain_text_exits_2_naming_the_source_and_the_field(project, tmp_path):
    clear = {"start_date": "2024-01-01", "access_key": "k3y-in-clear"}
    result = plan_with_api(project, tmp_path, {"configuration": clear})
    assert result.returncode == 2, result.stdout + result.stderr
    assert ("Pulumi.dev.yaml: dataplatform:ingestion.sources.api.configuration.access_key: the connector marks it "
            "secret (airbyte_secret): give it as a secret, not in plain text (catalog source `api` "
            "(airbyte/source-exchange-rates:") in result.stderr
    assert "k3y-in-clear" not in result.stderr and "Traceback" not in result.stderr


def test_a_field_the_spec_requires_left_out_exits_2_naming_the_source_and_the_field(project, tmp_path):
    result = plan_with_api(project, tmp_path, {"configuration": {"base": "EUR"}})
    assert result.returncode == 2, result.stdout + result.stderr
    assert ("Pulumi.dev.yaml: dataplatform:ingestion.sources.api.configuration.start_date: required by the "
            "connector's spec (catalog source `api`") in result.stderr
    assert "Traceback" not in result.stderr
