"""Providers serialized into existing stacks' state still load and work: Pulumi keeps each dynamic provider as a
pickle that names its class by module path, so those paths must stay importable until a `pulumi up` rewrites
every dynamic resource."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import dill
import pytest

from components.providers import dremio
from tests.support.dremio_server import FakeDremio
from tests.support.tls import make_pki

FIXTURE = Path(__file__).parent / "fixtures" / "serialized_providers.json"
PROVIDERS: dict[str, str] = json.loads(FIXTURE.read_text())["providers"]


def load(path: str):
    """The provider as the SDK's dynamic provider host loads it from state."""
    return dill.loads(base64.b64decode(PROVIDERS[path]))


@pytest.mark.parametrize("path", sorted(PROVIDERS))
def test_every_stored_provider_loads_as_the_class_its_state_names(path):
    provider = load(path)
    module, _, name = path.rpartition(".")
    assert type(provider).__name__ == name
    for method in ("create", "read", "diff", "update", "delete"):
        assert callable(getattr(provider, method)), f"{path} has no {method}"
    assert module.startswith("components.providers.")


def test_a_stored_dremio_provider_reads_and_deletes(tmp_path):
    pki = make_pki(tmp_path)
    with FakeDremio.start(pki) as server:
        connection = {"url": server.url, "username": "platform-admin", "password": "admin-Passw0rd-for-tests",
                      "ca_pem": pki.ca_pem, "timeout": 5}
        dremio.FirstAdminProvider().create({"connection": connection, "first_name": "Platform",
                                            "last_name": "Administrator", "email": "admin@platform.invalid"})
        props = {"connection": connection, "name": "dbt", "password": "dbt-Passw0rd-0001",
                 "email": "dbt@platform.invalid", "first_name": "dbt", "last_name": "Service", "edition": "community"}
        created = dremio.UserProvider().create(props)
        stored = load("components.providers.dremio.UserProvider")
        assert stored.read(created.id, created.outs).outs["spec_hash"] == created.outs["spec_hash"]
        stored.delete(created.id, created.outs)
        assert stored.read(created.id, created.outs).id == ""


def test_a_stored_trust_bundle_provider_reads_and_deletes(tmp_path):
    bundle = tmp_path / "ca.pem"
    props = {"path": str(bundle), "pem": "-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n"}
    stored = load("components.providers.trust_bundle.TrustBundleProvider")
    assert stored.read(str(bundle), props).id == str(bundle) and bundle.read_text() == props["pem"]
    stored.delete(str(bundle), props)
    assert not bundle.exists()
