"""What products contribute to the shared layers (components/platform.py) agrees with the catalog that wires the
cluster: a service with a database of its own may reach PostgreSQL, a hosted service is a catalog service on its
endpoint's port, and the log sources render under the shipper's rules."""

from __future__ import annotations

import dataclasses

import pytest

from components.logs import shipping
from components.metadata.access import DatabaseLogin, access_model
from components.platform import DATABASE_LOGINS, LOG_SOURCES, hosted_services
from infra.model.catalog import load_catalog
from infra.model.config import parse_stack_config, project_values
from infra.model.stackfiles import load_stack


@pytest.fixture(scope="module")
def services():
    return {service.name: service for service in load_catalog().services}


def test_a_service_that_keeps_a_database_may_reach_postgresql(services):
    for login in DATABASE_LOGINS:
        if login.own_database:
            assert "postgresql" in services[login.service].uses, (
                f"{login.service} keeps its database in the metadata PostgreSQL; add `postgresql` to its `uses` in "
                "infra/dataflow.yaml, or its NetworkPolicies block it")


def test_a_login_for_a_service_the_catalog_lacks_is_refused():
    with pytest.raises(ValueError, match="warehouse"):
        access_model(load_catalog(), (*DATABASE_LOGINS, DatabaseLogin("warehouse")))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_hosted_services_are_catalog_services_on_their_ports(stack, services):
    config = parse_stack_config(project_values(load_stack(stack).config), stack)
    for hosted in hosted_services(config.kubernetes):
        service = services[hosted.name]
        host, _, port = hosted.endpoint.rpartition(":")
        assert int(port) in {entry.port for entry in service.ports}
        assert service.layer == hosted.release.layer == hosted.certificate.layer
        assert host in hosted.certificate.dns_names


def test_every_route_ends_with_its_allowlist():
    source = LOG_SOURCES[0]
    allowlist = shipping.allow(source.routes[0])
    broken = dataclasses.replace(source, filters=tuple(text for text in source.filters if text != allowlist))
    with pytest.raises(ValueError, match="no allowlist"):
        shipping.render([broken, *LOG_SOURCES[1:]])


def test_a_tag_belongs_to_one_source():
    with pytest.raises(ValueError, match="belongs to both"):
        shipping.render([*LOG_SOURCES, dataclasses.replace(LOG_SOURCES[0], name="copy")])


def test_a_parser_is_named_once():
    source = LOG_SOURCES[0]
    clash = shipping.Parser(source.parsers[0].name, {"Format": "json"})
    with pytest.raises(ValueError, match="differently"):
        shipping.render([*LOG_SOURCES, shipping.LogSource(name="other", routes=(), filters=(), parsers=(clash,))])


def test_claimed_tags_are_routed_or_retagged():
    """Every tag a source claims from the kubelet's logs is one its own filters handle."""
    for source in LOG_SOURCES:
        for rule in source.claims:
            tag = rule.split()[-2]
            assert any(f" Match {tag} " in " ".join(text.split()) for text in source.filters), (source.name, tag)


def test_the_longest_bucket_role_is_the_one_the_name_length_rule_checks():
    from components.platform import SERVICE_BUCKETS
    from components.storage.access import bucket_roles
    from infra.model.config import LONGEST_BUCKET_ROLE

    assert max(bucket_roles(SERVICE_BUCKETS), key=len) == LONGEST_BUCKET_ROLE


def test_each_service_bucket_has_one_writer_and_a_distinct_role():
    from components.platform import SERVICE_BUCKETS
    from components.storage.access import LAKE_BUCKETS

    roles = [bucket.role for bucket in SERVICE_BUCKETS]
    assert len(set(roles)) == len(roles) and not set(roles) & set(LAKE_BUCKETS)
