"""Stack files are read as the Pulumi CLI reads them: schema defaults, required keys, declared types, secrets, and no
key given twice."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.model.errors import ConfigError
from infra.model.stackfiles import OFFLINE_SECRET_PLACEHOLDER, REPO_ROOT, load_stack


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


def test_a_repeated_key_is_an_error_naming_its_path_and_lines(project):
    write_stack(project, "qa", "config:\n  dataplatform:stage: dev\n  dataplatform:ingestion:\n    jobSize: small\n"
                               "    sources:\n      pg: {host: a}\n      pg: {host: b}\n")
    with pytest.raises(ConfigError) as raised:
        load_stack("qa", project)
    assert str(raised.value) == (
        "Pulumi.qa.yaml: dataplatform:ingestion.sources.pg: duplicate key (lines 6 and 7); YAML keeps only the last, "
        "so the first would be silently lost: merge them into one"
    )


def test_a_yaml_merge_key_is_not_a_repetition(project):
    write_stack(project, "qa", "x-small: &small {jobSize: small}\nconfig:\n  dataplatform:stage: dev\n"
                               "  dataplatform:ingestion:\n    <<: *small\n    jobSize: medium\n")
    assert load_stack("qa", project).config["dataplatform:ingestion"] == '{"jobSize": "medium"}'


def test_a_secret_set_with_a_path_marks_its_key_secret(project):
    """`pulumi config set --secret --path 'dataplatform:ingestion.sources.pg.password'` nests the ciphertext."""
    write_stack(project, "qa", "config:\n  dataplatform:stage: dev\n  dataplatform:ingestion:\n    sources:\n"
                               "      pg:\n        host: db\n        password:\n          secure: v1:abc\n")
    settings = load_stack("qa", project)
    assert settings.secret_keys == ("dataplatform:ingestion",)
    assert settings.config["dataplatform:ingestion"] == (
        '{"sources": {"pg": {"host": "db", "password": "' + OFFLINE_SECRET_PLACEHOLDER + '"}}}'
    )


def test_a_stack_file_that_is_not_a_mapping(project):
    write_stack(project, "qa", "- dataplatform:stage: dev\n")
    with pytest.raises(ConfigError) as raised:
        load_stack("qa", project)
    assert str(raised.value) == (
        "Pulumi.qa.yaml: a stack file is a mapping with a `config` key (got [{\"dataplatform:stage\": \"dev\"}])"
    )
