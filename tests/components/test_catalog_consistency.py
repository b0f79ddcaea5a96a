"""The layers agree on rendered artifacts: every Airbyte stream lands under a bronze prefix that dbt's compiled
manifest reads as a source (dbt parses the project for real in its own virtualenv)."""

from __future__ import annotations

import json
import re

import pytest

from components.ingestion.provider import destination_path
from infra.model.catalog import load_catalog
from infra.model.stackfiles import load_stack
from infra.offline.harness import run_program
from tests.support.dbt_workspace import DBT_PYTHON, Workspace
from tests.support.ingestion import ingestion_program

BRONZE_GLOB = re.compile(r"/bronze/(?P<prefix>.+?)date=\*/")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    if not DBT_PYTHON.exists():
        pytest.fail("the dbt virtualenv is missing: run `make dbt-setup` first", pytrace=False)
    workspace = Workspace(root=tmp_path_factory.mktemp("dbt"), extra_env={})
    workspace.dbt("parse")
    return json.loads((workspace.root / "dbt" / "target" / "manifest.json").read_text())


def dbt_bronze_prefixes(manifest: dict) -> set[str]:
    """Bronze prefixes (`<source>/<stream>/`) the compiled sources read, from their resolved external locations."""
    prefixes = set()
    for source in manifest["sources"].values():
        location = (source.get("config") or {}).get("external_location") or source.get("external", {}) or ""
        found = BRONZE_GLOB.search(str(location))
        if found:
            prefixes.add(found["prefix"])
    return prefixes


def airbyte_stream_prefixes(stack: str) -> dict[str, str]:
    """Stream -> the prefix its rendered S3 destination writes to, from the recorded Destination resources."""
    recording = run_program(ingestion_program(stack), load_stack(stack))
    destinations = {resource.inputs["name"]: resource.inputs["configuration"]
                    for resource in recording.of_type("pulumi-python:dynamic/airbyte:Destination")}
    connections = recording.of_type("pulumi-python:dynamic/airbyte:Connection")
    bronze = f"dataplatform-{stack}-bronze"
    prefixes = {}
    for connection in connections:
        configuration = destinations[connection.inputs["destination"]]
        assert configuration["s3_bucket_name"] == bronze, connection.name
        for stream in connection.inputs["configurations"]["streams"]:
            prefixes[f"{connection.inputs['source']}.{stream['name']}"] = destination_path(configuration,
                                                                                          stream["name"])
    return prefixes


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_airbyte_stream_lands_where_dbt_reads_a_source(manifest, stack):
    read = dbt_bronze_prefixes(manifest)
    written = airbyte_stream_prefixes(stack)
    assert sorted(written) == sorted(f"{source.name}.{stream.name}" for source in load_catalog().sources
                                     for stream in source.streams)
    unread = {stream: prefix for stream, prefix in written.items() if prefix not in read}
    assert unread == {}, f"Airbyte writes prefixes no dbt source reads: {unread}"


def test_the_comparison_is_per_stream_not_per_source(manifest):
    read = dbt_bronze_prefixes(manifest)
    assert manifest["metadata"]["project_name"] == load_catalog().transformations.project
    assert "postgres/customers/" in read
    assert "postgres/" not in read and "bronze/postgres/customers/" not in read
