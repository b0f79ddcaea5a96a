"""Stack files are read as the Pulumi CLI reads them: schema defaults, required keys, declared types, secrets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.errors import ConfigError
from infra.stackfiles import OFFLINE_SECRET_PLACEHOLDER, REPO_ROOT, load_stack


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    shutil.copy(REPO_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    return tmp_path


def write_stack(root: Path, name: str, body: str) -> None:
    (root / f"Pulumi.{name}.yaml").write_text(body)


def test_checked_in_stacks_get_schema_defaults():
    dev = load_stack("dev")
    assert dev.project == "dataplatform"
    assert dev.config["dataplatform:namePrefix"] == "dataplatform"
    assert dev.config["dataplatform:stage"] == "dev"
    assert dev.config["dataplatform:storage"].startswith("{")


def test_required_key_without_default(project):
    write_stack(project, "qa", "config:\n  dataplatform:namePrefix: dp\n")
    with pytest.raises(ConfigError) as raised:
        load_stack("qa", project)
    assert str(raised.value) == (
        "Pulumi.qa.yaml: dataplatform:stage: required by Pulumi.yaml but missing; "
        "set it with `pulumi config set stage <value> --stack qa`"
    )


def test_declared_type_is_enforced(project):
    write_stack(project, "qa", "config:\n  dataplatform:stage: dev\n  dataplatform:namePrefix: [a, b]\n")
    with pytest.raises(ConfigError) as raised:
        load_stack("qa", project)
    assert str(raised.value) == (
        "Pulumi.qa.yaml: dataplatform:namePrefix: Pulumi.yaml declares type string (got ['a', 'b'])"
    )


def test_secure_values_become_secret_keys(project):
    write_stack(project, "qa", "config:\n  dataplatform:stage: dev\n  dataplatform:token:\n    secure: v1:abc\n")
    settings = load_stack("qa", project)
    assert settings.secret_keys == ("dataplatform:token",)
    assert settings.config["dataplatform:token"] == OFFLINE_SECRET_PLACEHOLDER


def test_unknown_stack_lists_the_choices(project):
    write_stack(project, "dev", "config: {}\n")
    with pytest.raises(ConfigError) as raised:
        load_stack("staging", project)
    assert str(raised.value) == "Pulumi.staging.yaml: no such stack file; choose one of: dev (make plan STACK=<name>)"


def test_key_without_namespace(project):
    write_stack(project, "qa", "config:\n  stage: dev\n")
    with pytest.raises(ConfigError) as raised:
        load_stack("qa", project)
    assert str(raised.value) == "Pulumi.qa.yaml: stage: config keys need a namespace, e.g. dataplatform:stage"
