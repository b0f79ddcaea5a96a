"""One validator judges the stack files, the catalog and the rules between them before any resource is declared:
every problem is one line naming the file, the key as the user writes it, what is allowed and the value, and only
that error exits 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pulumi
import pytest

import infra.model.catalog
from infra.model import yamlio
from infra.model.config import PROJECT, project_values
from infra.model.errors import ConfigError
from infra.model.inputs import validate_inputs
from infra.model.stackfiles import REPO_ROOT, load_stack
from infra.offline import plan
from infra.offline.harness import run_program


def stack_document(stack: str) -> dict:
    return yamlio.load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text())


def catalog_document() -> dict:
    return yamlio.load(infra.model.catalog.CATALOG_PATH.read_text())


def project(tmp_path: Path, stack: str, document: dict | str) -> Path:
    root = tmp_path / "project"
    root.mkdir(exist_ok=True)
    shutil.copy(REPO_ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    text = document if isinstance(document, str) else yamlio.dump(document, sort_keys=False)
    (root / f"Pulumi.{stack}.yaml").write_text(text)
    return root


def refusal(tmp_path: Path, stack: str, document: dict | str | None = None, catalog: dict | str | None = None) -> str:
    """The message the validator refuses `stack` with (its file replaced by `document`, the catalog by `catalog`)."""
    root = project(tmp_path, stack, document if document is not None else stack_document(stack))
    catalog_path = None
    if catalog is not None:
        catalog_path = tmp_path / "dataflow.yaml"
        catalog_path.write_text(catalog if isinstance(catalog, str) else yamlio.dump(catalog, sort_keys=False))
    with pytest.raises(ConfigError) as raised:
        validate_inputs(project_values(load_stack(stack, root).config, PROJECT), stack, catalog_path)
    return str(raised.value)


def source_of(kind: str) -> str:
    """The catalog's first source of `kind` (tests name sources through the catalog, not by hand)."""
    return next(source.name for source in infra.model.catalog.load_catalog().sources if source.kind == kind)


def with_source(stack: str, name: str, **endpoint) -> dict:
    """The stack file with `ingestion.sources.<name>` changed (a None value removes that key)."""
    document = stack_document(stack)
    sources = document["config"][f"{PROJECT}:ingestion"]["sources"]
    sources[name] = {key: value for key, value in {**sources[name], **endpoint}.items() if value is not None}
    return document


@pytest.mark.parametrize(("stack", "kind", "change", "line"), [
    pytest.param("dev", "postgres", {"username": ""},
                 "Pulumi.dev.yaml: dataplatform:ingestion.sources.{name}.username: String should have at least 1 "
                 "character (got '')", id="empty-username"),
    pytest.param("dev", "postgres", {"username": None},
                 "Pulumi.dev.yaml: dataplatform:ingestion.sources.{name}.username: required for a postgres source",
                 id="missing-username"),
    pytest.param("prod", "mysql", {"host": None},
                 "Pulumi.prod.yaml: dataplatform:ingestion.sources.{name}.host: required for a mysql source",
                 id="missing-host"),
    pytest.param("dev", "mongodb", {"database": ""},
                 "Pulumi.dev.yaml: dataplatform:ingestion.sources.{name}.database: String should have at least 1 "
                 "character (got '')", id="empty-database"),
    pytest.param("prod", "rest_api", {"url": None},
                 "Pulumi.prod.yaml: dataplatform:ingestion.sources.{name}.url: required for a rest_api source",
                 id="missing-url"),
    pytest.param("dev", "rest_api", {"url": "http://rates.example.com/v1"},
                 "Pulumi.dev.yaml: dataplatform:ingestion.sources.{name}.url: String should match pattern "
                 "'^https://[^\\s/?#]+[^\\s]*$' (got 'http://rates.example.com/v1')", id="plain-http-url"),
    pytest.param("dev", "postgres", {"url": "https://orders.example.com"},
                 "Pulumi.dev.yaml: dataplatform:ingestion.sources.{name}.url: not used by a postgres source (it "
                 "takes host, database, username, port, schema, password, cidrs); remove it (got 'https://orders.example.com')",
                 id="key-of-another-kind"),
])
def test_source_endpoints_are_judged_by_their_kind_in_the_catalog(tmp_path, stack, kind, change, line):
    name = source_of(kind)
    assert refusal(tmp_path, stack, with_source(stack, name, **change)) == line.format(name=name)


def test_a_catalog_source_without_an_endpoint_and_an_endpoint_without_a_source(tmp_path):
    document = stack_document("dev")
    sources = document["config"][f"{PROJECT}:ingestion"]["sources"]
    files = source_of("csv_files")
    sources["warehouse"] = sources.pop(files)
    declared = ", ".join(source.name for source in infra.model.catalog.load_catalog().sources)
    assert refusal(tmp_path, "dev", document).splitlines() == [
        f"Pulumi.dev.yaml: dataplatform:ingestion.sources.{files}: required: infra/dataflow.yaml declares source "
        f"`sources[{files}]` (csv_files); give where it lives in this stack (bucket, region, username)",
        f"Pulumi.dev.yaml: dataplatform:ingestion.sources.warehouse: not a source of infra/dataflow.yaml (sources: "
        f"{declared}); remove it or declare the source there",
    ]


def test_the_logs_layer_cannot_expire_before_its_lock_ends(tmp_path):
    catalog = catalog_document()
    catalog["lake"]["layers"]["logs"]["retention_days"] = 30
    message = refusal(tmp_path, "prod", catalog=catalog)
    assert message.endswith(
        "dataflow.yaml: lake.layers.logs.retention_days: expires the logs layer's objects before their lock ends: "
        "Pulumi.prod.yaml locks them for 90 days (dataplatform:storage.objectLockDays); use at least 90, or 0 to keep "
        "them (got 30)")
    # dev locks nothing: the same catalog is fine there.
    root = project(tmp_path, "dev", stack_document("dev"))
    validate_inputs(project_values(load_stack("dev", root).config), "dev", tmp_path / "dataflow.yaml")


@pytest.mark.parametrize(("stack", "key", "value", "line"), [
    pytest.param("dev", "storage", {"backend": "minio", "minio": {"server": ""}},
                 "Pulumi.dev.yaml: dataplatform:storage.minio.server: String should have at least 1 character (got '')",
                 id="empty-minio-server"),
    pytest.param("dev", "lakehouse", {"slowQuerySeconds": 45},
                 "Pulumi.dev.yaml: dataplatform:lakehouse.slowQuerySeconds: must be a bucket of the query-duration "
                 "histogram: one of 1, 5, 10, 30, 60, 120, 300, 600 (got 45)", id="slow-query-off-the-histogram"),
    pytest.param("dev", "kubernetes", {"installCertManager": False},
                 "Pulumi.dev.yaml: dataplatform:kubernetes.installCertManager: must be true while the stack generates "
                 "its CA (no `kubernetes.ca`); to use the cluster's cert-manager, set `kubernetes.ca.certificate` and "
                 "the `issuer` that signs with it (got false)", id="generated-ca-without-cert-manager"),
    pytest.param("prod", "metadata", {"migrationsImage": "no-such-image"},
                 "Pulumi.prod.yaml: dataplatform:metadata.migrationsImage: must name a platform image of "
                 "images/digests.lock.json: dbt-runner, migrations, superset (got 'no-such-image')",
                 id="unknown-platform-image"),
    pytest.param("prod", "logs", {"nodeSets": [
        {"name": "all", "count": 1, "roles": ["master", "master"], "storageGib": 10, "memoryGib": 2},
        {"name": "all", "count": 2, "roles": ["master"], "storageGib": 10, "memoryGib": 2}]},
        "Pulumi.prod.yaml: dataplatform:logs.nodeSets[all].roles: names a role twice; list each role once (got "
        '["master", "master"])', id="node-set-role-twice"),
])
def test_settings_refused_late_before_are_refused_by_the_model(tmp_path, stack, key, value, line):
    document = stack_document(stack)
    document["config"][f"{PROJECT}:{key}"] = {**document["config"].get(f"{PROJECT}:{key}", {}), **value}
    assert refusal(tmp_path, stack, document) == line


def test_every_problem_of_every_file_is_a_line_of_one_error(tmp_path):
    database = source_of("postgres")
    document = with_source("prod", database, host="", port=70000)
    document["config"][f"{PROJECT}:lakehouse"]["executors"] = 0
    catalog = catalog_document()
    source = catalog["sources"][-1]
    source["streams"][0]["sync_mode"] = "sometimes"
    assert refusal(tmp_path, "prod", document, catalog).splitlines() == [
        "Pulumi.prod.yaml: dataplatform:lakehouse.executors: Input should be greater than or equal to 1 (got 0)",
        f"Pulumi.prod.yaml: dataplatform:ingestion.sources.{database}.host: String should have at least 1 character "
        "(got '')",
        f"Pulumi.prod.yaml: dataplatform:ingestion.sources.{database}.port: Input should be less than or equal to "
        "65535 (got 70000)",
        f"{tmp_path}/dataflow.yaml: sources[{source['name']}].streams[{source['streams'][0]['name']}].sync_mode: "
        "Input should be 'full_refresh' or 'incremental' (got 'sometimes')",
    ]


def test_a_secret_is_named_but_never_shown(tmp_path):
    name = source_of("postgres")
    message = refusal(tmp_path, "dev", with_source("dev", name, password=["hunter2-secret"]))
    assert message == (f"Pulumi.dev.yaml: dataplatform:ingestion.sources.{name}.password: Input should be a valid "
                       "string (got [secret])")


def test_a_repeated_block_in_a_stack_file_is_an_error_not_a_silent_replacement(tmp_path):
    text = (REPO_ROOT / "Pulumi.dev.yaml").read_text() + "  dataplatform:ingestion:\n    jobSize: medium\n"
    message = refusal(tmp_path, "dev", text)
    assert message.startswith("Pulumi.dev.yaml: dataplatform:ingestion: duplicate key (lines ")
    assert message.endswith("); YAML keeps only the last, so the first would be silently lost: merge them into one")


def test_a_repeated_key_in_the_catalog_is_named_by_its_path(tmp_path):
    name = infra.model.catalog.load_catalog().sources[0].name
    item = f"  - name: {name}\n"
    text = infra.model.catalog.CATALOG_PATH.read_text().replace(item, item + "    kind: postgres\n", 1)
    assert refusal(tmp_path, "dev", catalog=text).startswith(
        f"{tmp_path}/dataflow.yaml: sources[{name}].kind: duplicate key (lines ")


def test_the_plan_exits_2_with_one_line_per_problem_and_writes_nothing(tmp_path, capsys):
    files = source_of("csv_files")
    root = project(tmp_path, "dev", with_source("dev", files, bucket=None, region="Ireland"))
    assert plan.run("dev", tmp_path / "out", preview=False, quiet=True, root=root) == 2
    assert capsys.readouterr().err == (
        "plan dev: configuration error\n"
        f"Pulumi.dev.yaml: dataplatform:ingestion.sources.{files}.region: String should match pattern "
        "'^[a-z]{2}(-gov)?-[a-z]+-[0-9]$' (got 'Ireland')\n"
    )
    assert not (tmp_path / "out").exists()


def test_only_config_errors_exit_2(tmp_path, monkeypatch):
    """A failure that is not the user's input is a crash with its traceback, never a config error."""
    import components.platform

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in a component")

    monkeypatch.setattr(components.platform.DataPlatform, "__init__", broken)
    with pytest.raises(RuntimeError, match="a bug in a component"):
        plan.run("dev", tmp_path / "out", preview=False, quiet=True)


def test_the_program_stops_with_the_message_and_no_traceback(tmp_path):
    from infra.program import main

    settings = load_stack("dev").with_overrides({f"{PROJECT}:lakehouse": {"slowQuerySeconds": 45}})
    with pytest.raises(pulumi.RunError) as raised:
        run_program(main, settings)
    assert str(raised.value).startswith("Pulumi.dev.yaml: dataplatform:lakehouse.slowQuerySeconds: must be a bucket")


def test_the_checked_in_inputs_are_valid():
    for stack in ("dev", "prod"):
        inputs = validate_inputs(project_values(load_stack(stack).config), stack)
        assert inputs.config.stack == stack
        assert {source.name for source in inputs.catalog.sources} == set(inputs.config.ingestion.sources)



def network_changed(stack: str, change) -> dict:
    document = stack_document(stack)
    change(document["config"][f"{PROJECT}:kubernetes"]["network"])
    return document


def test_every_address_outside_the_pod_network_a_stack_needs_is_asked_for_by_its_key(tmp_path):
    document = stack_document("prod")
    del document["config"][f"{PROJECT}:kubernetes"]["network"]
    del document["config"][f"{PROJECT}:ingestion"]["sources"][source_of("mysql")]["cidrs"]
    lines = refusal(tmp_path, "prod", document).splitlines()
    keys = [line.split(": ")[1] for line in lines]
    assert keys == [f"{PROJECT}:ingestion.sources.{source_of('mysql')}.cidrs",
                    f"{PROJECT}:kubernetes.network.apiServer",
                    *(f"{PROJECT}:kubernetes.network.endpoints.{name}"
                      for name in ("airbyte-registry", "alert-webhook", "aws-apis", "rds", "s3", "smtp",
                                   "state-backend")),
                    f"{PROJECT}:kubernetes.network.nodes"]
    api_server = lines[1]
    assert ("required: the CIDRs of the Kubernetes API server (its endpoints, behind `kubernetes.default`); the "
            "NetworkPolicies allow 443, 6443 to it and 9443, 10250 from it, nowhere else") in api_server
    assert "`[0.0.0.0/0]` allows any address" in api_server


@pytest.mark.parametrize(("cidr", "shown"), [("10.0.0.1/16", "'10.0.0.1/16'"), ("kind-network", "'kind-network'"),
                                             ("10.0.0.0/33", "'10.0.0.0/33'")])
def test_an_address_range_that_is_no_cidr_is_refused(tmp_path, cidr, shown):
    document = network_changed("dev", lambda network: network.update(apiServer=[cidr]))
    message = refusal(tmp_path, "dev", document)
    assert f"{PROJECT}:kubernetes.network.apiServer[0]: " in message
    assert "must be a CIDR such as 10.0.0.0/16" in message and shown in message


def test_an_endpoint_no_workload_reaches_is_named_as_a_mistake(tmp_path):
    document = network_changed("dev", lambda network: network["endpoints"].update({"s3": ["0.0.0.0/0"]}))
    assert refusal(tmp_path, "dev", document) == (
        f"Pulumi.dev.yaml: {PROJECT}:kubernetes.network.endpoints.s3: no workload of this stack reaches an endpoint of "
        "that name (it needs: airbyte-registry, state-backend); remove it")
