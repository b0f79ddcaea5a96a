"""Pods that verify RDS take the CA bundle from the migrations image; the deployer's path is the provider's only."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import run_stack

REPO = Path(__file__).resolve().parents[2]
IMAGE_BUNDLE = "/etc/dataplatform/rds-global-bundle.pem"


def test_the_migrations_image_ships_the_bundle_where_the_pods_copy_it_from() -> None:
    from components.kit.images import RDS_CA_BUNDLE

    dockerfile = (REPO / "images" / "migrations" / "Dockerfile").read_text()
    assert RDS_CA_BUNDLE == IMAGE_BUNDLE
    assert f"global-bundle.pem {IMAGE_BUNDLE}\n" in dockerfile


def test_a_deployer_bundle_elsewhere_changes_only_the_providers_path() -> None:
    metadata = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())["config"]["dataplatform:metadata"]
    recording = run_stack("prod", {"dataplatform:metadata": {**metadata, "caBundleFile": "/home/ops/rds.pem"}})
    text = json.dumps([resource.inputs for resource in recording.resources])
    provider = next(r for r in recording.resources if r.type == "pulumi:providers:postgresql")
    assert provider.inputs["sslrootcert"] == "/home/ops/rds.pem"
    # Dremio, Airbyte, Superset and the migrations Job still read the bundle inside the migrations image.
    assert "/home/ops/rds.pem" not in text.replace(json.dumps(provider.inputs), "")
    assert text.count(IMAGE_BUNDLE) >= 4
