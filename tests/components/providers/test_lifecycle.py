"""Every dynamic resource of both plans, through its whole life against the stand-in of its service.

For each resource the program declares (tests/support/lifecycle.py collects them from the same run `make plan`
makes, each with the provider unpickled from its state and its resolved inputs), with its connection pointed at
the stand-in: the resources it depends on are created first, in plan order; then create, a diff with the same
inputs (no change), the second apply (update, then no change), a refresh (the diff against the refreshed state
shows no change), a field changed on the server (the refresh shows it, the next apply puts it back, and the
refresh converges again), delete (a refresh finds it gone; deleting again succeeds). Every answer the stand-ins
give is recorded: no request may be refused other than a lookup of what is not there, and every Airbyte and
Elasticsearch request must be a route the vendor's own definition has (Airbyte's answers a status it documents).

The RDS master's first login (`metadata:MasterIamLogin`) meets a real PostgreSQL over TLS with RDS's roles and
the master secret in moto's Secrets Manager (tests/support/rds_master.py); it is configured as the engine configures
it, with the stack's config, its CA bundle path pointed at the stand-in's CA.

Superset runs for real (tests/support/superset.py). Its database connection is tested by Superset when it is
created, so the declared Dremio Flight URI (a cluster address) is replaced by a reachable PostgreSQL's; its name,
uuid, flags and password stay as declared.

Resources that fail on the current providers and stand-ins are strict expected failures in `KNOWN`, with the step
and the reason measured: fixing one turns its entry into an unexpected pass, which fails until the entry goes.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pulumi.dynamic as dynamic
import pytest

from components.kit.rest import ProviderResource, RestProvider
from components.metadata import iam_login
from components.runtime.trust_bundle import TrustBundleProvider
from infra.model.config import PROJECT
from infra.model.stackfiles import load_stack
from tests.support.airbyte_server import CLIENT, FakeAirbyte
from tests.support.dremio_server import FakeDremio
from tests.support.elasticsearch_server import ADMIN as ES_ADMIN
from tests.support.elasticsearch_server import FakeElasticsearch
from tests.support.fake_https import Exchange
from tests.support.lifecycle import (
    DRIFT,
    STACKS,
    Declared,
    Lifecycle,
    airbyte_definition,
    closure,
    connection_for,
    dynamic_resources,
    elasticsearch_definition,
    recording_front,
    recording_lines,
    secret_values,
    superset_definition,
    unexpected_answers,
    write_recording,
)
from tests.support.rds_master import MASTER_PASSWORD, RdsMaster
from tests.support.system import in_ci
from tests.support.vendor_specs import vendor_spec, vendor_spec_path

# Measured on the providers and stand-ins of this commit: `<stack>/<module>:<Type>/<name>` -> the step that fails
# and why. An entry leaves when its resource passes (strict: an unexpected pass fails).
KNOWN: dict[str, str] = {}

DECLARED: list[Declared] = [resource for stack in STACKS for resource in dynamic_resources(stack)]
SLOW = {"superset"}  # services that start a real server


def _param(resource: Declared) -> Any:
    marks = []
    if resource.service in SLOW:
        marks += [pytest.mark.integration, pytest.mark.slow]
    if resource.test_id in KNOWN:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN[resource.test_id]))
    return pytest.param(resource, id=resource.test_id, marks=marks)


def _vendor_text(relative: str) -> str:
    return vendor_spec_path(relative).read_text()


@pytest.fixture(scope="module")
def definitions() -> dict[str, Any]:
    """The vendors' definitions the recorded requests are held to (Dremio publishes none; Superset's is asked of
    the running server when a test first needs it)."""
    return {"airbyte": airbyte_definition(_vendor_text("airbyte/2.1.0/public-api.yaml")),
            "elasticsearch": elasticsearch_definition(vendor_spec("elasticsearch/schema-9.5.json"))}


@pytest.fixture(scope="module")
def superset_services(tmp_path_factory, pki):
    """A real Superset over https with the test PKI, and a PostgreSQL its database connections can reach."""
    from tests.support.postgres import PostgresServer
    from tests.support.superset import SupersetServer, SupersetUnavailableError

    with contextlib.ExitStack() as stack:
        try:
            superset = stack.enter_context(SupersetServer.start(tmp_path_factory.mktemp("superset"), pki))
        except SupersetUnavailableError as error:
            if in_ci():
                raise
            pytest.skip(f"no real Superset to run the presentation resources against: {error}")
        postgres = stack.enter_context(PostgresServer.start())
        postgres.create_database("analytics")
        yield superset, postgres


class Stands:
    """The stand-ins one test starts, by service, and the connection each resource gets to its own."""

    def __init__(self, stack: contextlib.ExitStack, pki: Any, request: pytest.FixtureRequest, tmp_path: Path,
                 edition: str) -> None:
        self.stack, self.pki, self.request, self.tmp_path, self.edition = stack, pki, request, tmp_path, edition
        self.fakes: dict[str, Any] = {}

    def fake(self, service: str) -> Any:
        if service not in self.fakes:
            if service == "airbyte":
                self.fakes[service] = self.stack.enter_context(FakeAirbyte.start(self.pki))
            elif service == "dremio":
                self.fakes[service] = self.stack.enter_context(FakeDremio.start(self.pki, edition=self.edition))
            elif service == "elasticsearch":
                self.fakes[service] = self.stack.enter_context(FakeElasticsearch.start(self.pki))
            elif service == "metadata":
                self.fakes[service] = self.stack.enter_context(RdsMaster.start(self.pki))
            elif service == "superset":
                superset, postgres = self.request.getfixturevalue("superset_services")
                # Superset runs for real; a recording front in its way records the exchanges as the stand-ins do.
                front = self.stack.enter_context(recording_front(superset.url, superset.ca_pem, self.pki))
                self.fakes[service] = (superset, postgres, front)
            else:
                raise AssertionError(f"no stand-in for {service}")
        return self.fakes[service]

    def props(self, resource: Declared) -> dict[str, Any]:
        service, ca = resource.service, self.pki.ca_pem
        if service == "runtime":
            return {**resource.props, "path": str(self.tmp_path / "trust" / Path(resource.props["path"]).name)}
        fake = self.fake(service)
        if service == "metadata":
            return self._rds_props(resource, fake)
        declared = resource.props["connection"]
        if service == "airbyte":
            connection = {"url": fake.url, "client_id": CLIENT[0], "client_secret": CLIENT[1], "ca_pem": ca}
        elif service == "dremio":
            # An empty Dremio: the first administrator is created with the declared credentials.
            connection = {"url": fake.url, "username": declared["username"], "password": declared["password"],
                          "ca_pem": ca}
        elif service == "elasticsearch":
            connection = {"url": fake.url, "username": ES_ADMIN[0], "password": ES_ADMIN[1], "ca_pem": ca}
        else:
            superset, _postgres, front = fake
            connection = {"url": front, "username": superset.admin[0], "password": superset.admin[1],
                          "ca_pem": ca}
        props = connection_for(resource, connection)
        if resource.kind == "superset:Database":
            props["uri"] = f"postgresql://postgres@127.0.0.1:{fake[1].port}/analytics"
        return props

    def _rds_props(self, resource: Declared, rds: RdsMaster) -> dict[str, Any]:
        """The declared inputs pointed at the stand-in (its host, port, secret and region; the user as declared),
        the provider configured as the engine configures it: the stack's config, its CA bundle the stand-in's."""
        assert resource.props["user"] == rds.user, "the stand-in's master is not the declared one"
        key = f"{PROJECT}:{iam_login.CA_CONFIG_KEY}"
        config = dict(load_stack(resource.stack).config)
        config[key] = json.dumps({**json.loads(config[key]), iam_login.CA_CONFIG_FIELD: rds.ca_file})
        resource.provider.configure(dynamic.ConfigureRequest(dynamic.Config(config, PROJECT)))
        return {**resource.props, "host": rds.host, "port": float(rds.port), "secret_arn": rds.secret_arn,
                "region": rds.region}

    def exchanges(self) -> dict[str, list[Exchange]]:
        """The HTTP exchanges of the stand-ins that speak HTTP (the RDS stand-in speaks PostgreSQL's protocol)."""
        return {service: list(fake[2].exchanges if service == "superset" else fake.url.exchanges)
                for service, fake in self.fakes.items() if service != "metadata"}


@pytest.mark.parametrize("resource", [_param(resource) for resource in DECLARED])
def test_lifecycle(resource: Declared, pki, definitions, request, tmp_path):
    with contextlib.ExitStack() as stack:
        stands = Stands(stack, pki, request, tmp_path, resource.edition)
        for dependency in closure(resource):
            try:
                dependency.provider.create(stands.props(dependency))
            except Exception as error:
                raise AssertionError(f"{resource.test_id}: its dependency {dependency.test_id} could not be created: "
                                     f"{error}") from error
        props = stands.props(resource)
        if isinstance(resource.provider, TrustBundleProvider):
            _trust_bundle_lifecycle(resource, props)
        elif resource.kind == "metadata:MasterIamLogin":
            _master_iam_login_lifecycle(resource, props, stands.fake("metadata"))
        else:
            lifecycle = Lifecycle(resource, props)
            drift = lifecycle.run()
            assert drift == (resource.kind in DRIFT)
        exchanges = stands.exchanges()
        if "superset" in stands.fakes and "superset" not in definitions:
            superset = stands.fakes["superset"][0]
            definitions["superset"] = superset_definition(superset.url, superset.ca_pem, superset.admin)
        secrets = {value for item in (resource, *closure(resource)) for value in secret_values(stands.props(item))}
    write_recording(resource, exchanges, secrets)
    refused = {service: unexpected_answers(answers) for service, answers in exchanges.items()}
    assert not any(refused.values()), f"{resource.test_id}: answers refused by the stand-in: {refused}"
    outside = {service: definitions[service].outside(answers)
               for service, answers in exchanges.items() if service in definitions}
    assert not any(outside.values()), f"{resource.test_id}: outside the vendor's definition: {outside}"


def _trust_bundle_lifecycle(resource: Declared, props: dict[str, Any]) -> None:
    """The CA file on the deployer: written on create, update and refresh (a fresh deployer has the state but not
    the file), so a refresh restores a file changed by hand; delete removes it."""
    provider: TrustBundleProvider = resource.provider  # type: ignore[assignment]
    path = Path(props["path"])
    created = provider.create(dict(props))
    assert path.read_text().strip() == props["pem"].strip()
    assert provider.diff(created.id, created.outs, dict(props)).changes is False
    updated = provider.update(created.id, created.outs, dict(props))
    assert provider.diff(created.id, updated.outs, dict(props)).changes is False
    path.write_text("edited by hand\n")
    refreshed = provider.read(created.id, updated.outs)
    assert refreshed.id == created.id and provider.diff(created.id, refreshed.outs, dict(props)).changes is False
    assert path.read_text().strip() == props["pem"].strip(), "a refresh must restore the CA file"
    provider.delete(created.id, refreshed.outs)
    assert not path.exists()
    provider.delete(created.id, refreshed.outs)


def _master_iam_login_lifecycle(resource: Declared, props: dict[str, Any], rds: RdsMaster) -> None:
    """The one-time grant (components/metadata/iam_login.py): create logs in with the password from Secrets Manager
    and grants rds_iam; a create that finds the master an IAM login already logs in with no password; diff and update
    change nothing; a refresh logs in with an IAM token and finds the grant; the grant revoked on the server shows as
    the resource gone, and the next apply grants it again; delete leaves the grant."""
    provider = resource.provider
    checked = provider.check({}, dict(props))
    assert not checked.failures, checked.failures
    assert not rds.is_iam_login()
    created = provider.create(dict(props))
    assert created.id and rds.is_iam_login(), "create did not grant rds_iam"
    assert "ca_file" not in created.outs and not any(rds.ca_file == value for value in created.outs.values())
    # A state lost (or a grant made by hand): the master logs in with IAM, so no password is read or tried.
    rds.rotate("a-password-the-server-does-not-have")
    assert provider.create(dict(props)).id == created.id
    assert provider.diff(created.id, created.outs, dict(props)).changes is False
    rotated = {**props, "secret_arn": f"{props['secret_arn']}-rotated"}
    assert provider.diff(created.id, created.outs, rotated).changes is False
    moved = provider.diff(created.id, created.outs, {**props, "host": "localhost"})
    assert moved.changes is True and moved.replaces == ["host"]
    updated = provider.update(created.id, created.outs, dict(props))
    assert provider.diff(created.id, updated.outs, dict(props)).changes is False
    refreshed = provider.read(created.id, updated.outs)
    assert refreshed.id == created.id and provider.diff(created.id, refreshed.outs, dict(props)).changes is False
    # Drift: another client revokes the grant. The refresh finds it gone; the next apply grants it again with the
    # password (the master's login again without rds_iam), read from the secret as it is now.
    rds.revoke()
    assert provider.read(created.id, refreshed.outs).id == ""
    with pytest.raises(Exception, match="password authentication failed"):
        provider.create(dict(props))  # the secret holds a password the server does not have
    assert not rds.is_iam_login()
    rds.rotate(MASTER_PASSWORD)
    again = provider.create(dict(props))
    assert rds.is_iam_login() and provider.read(again.id, again.outs).id == again.id
    provider.delete(again.id, again.outs)
    assert rds.is_iam_login(), "delete leaves the grant (the PostgreSQL provider logs in with it)"
    assert provider.read(again.id, again.outs).id == again.id
    provider.delete(again.id, again.outs)


def test_every_dynamic_resource_of_both_plans_is_run():
    """The run holds every dynamic resource of both plans, and every dynamic resource and provider class the
    components define is among them: a new kind cannot be added without going through its life here."""
    for stack in STACKS:
        assert dynamic_resources(stack), f"{stack}: the plan declares no dynamic resource"
        ids = [resource.test_id for resource in dynamic_resources(stack)]
        assert len(ids) == len(set(ids)), f"{stack}: two dynamic resources share a test id"
    kinds = {resource.kind for resource in DECLARED}
    defined = {cls._resource_type_name.removeprefix("dynamic/") for cls in _subclasses(dynamic.Resource)
               if cls.__module__.startswith("components.") and "_resource_type_name" in vars(cls)
               and cls is not ProviderResource}
    assert defined - kinds == set(), "dynamic resource classes no plan declares (so never run here)"
    providers = {cls for cls in _subclasses(RestProvider)
                 if cls.__module__.startswith("components.") and not cls.__name__.startswith("_")}
    used = {type(resource.provider) for resource in DECLARED}
    assert providers - used == set(), "provider classes no plan uses (so never run here)"
    assert TrustBundleProvider in used
    assert set(KNOWN) <= {resource.test_id for resource in DECLARED}, "KNOWN names a resource no plan declares"


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def test_vendor_definitions_are_read_as_routes(definitions):
    """The definitions the recorded exchanges are held to know the routes the providers call, and refuse others."""
    airbyte, elasticsearch = definitions["airbyte"], definitions["elasticsearch"]
    assert airbyte.outside([Exchange("GET", "/api/public/v1/sources/1234", 200)]) == []
    assert airbyte.outside([Exchange("PUT", "/api/public/v1/workspaces/1234", 200)]) != []
    assert airbyte.outside([Exchange("GET", "/api/public/v1/sources/1234", 418)]) != []
    assert elasticsearch.outside([Exchange("PUT", "/_index_template/logs", 200)]) == []
    assert elasticsearch.outside([Exchange("PUT", "/_template_of_nothing/logs", 200)]) != []


def test_a_recording_holds_no_secret_and_reads_the_same_from_run_to_run():
    """Values under secret-named keys and every secret input are redacted wherever they show (a path, a body that is
    not under such a key); generated ids are numbered by first appearance and clock readings left out."""
    generated = ["3f2c1a9e-8b7d-4c6e-9f01-23456789abcd", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"]
    exchanges = {
        "airbyte": [Exchange("POST", "/api/public/v1/sources", 200,
                             request=b'{"name": "pg", "configuration": {"password": "pw-123", "note": "pw-123"}}',
                             response=f'{{"sourceId": "{generated[0]}", "createdAt": 1796326017904}}'.encode())],
        "dremio": [Exchange("GET", f"/api/v3/user/{generated[1]}", 200, response=b'{"token": "t-1", "id": "x"}'),
                   Exchange("GET", f"/api/v3/catalog/{generated[0]}", 404, response=b"<html>")],
    }
    lines = recording_lines(exchanges, {"pw-123"})
    assert len(lines) == 3
    text = "\n".join(lines)
    assert "pw-123" not in text and "t-1" not in text and "1796326017904" not in text
    assert generated[0] not in text and generated[1] not in text
    first, second, third = (json.loads(line) for line in lines)
    assert first["service"] == "airbyte" and first["response"] == {"sourceId": "<id-1>", "createdAt": "<time>"}
    assert first["request"]["configuration"] == {"password": "<redacted>", "note": "<redacted>"}
    assert second["path"] == "/api/v3/user/<id-2>" and third["path"] == "/api/v3/catalog/<id-1>"
    assert third["response"] == "<6 bytes, not JSON>"
    assert recording_lines(exchanges, {"pw-123"}) == lines
