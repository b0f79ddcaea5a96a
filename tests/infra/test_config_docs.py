"""The configuration table is read from whatever model it is given: nested sections, optional blocks, maps and lists
of blocks, bounds and per-stage defaults, with `Pulumi.yaml`'s defaults winning; the README rewrite keeps the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from infra.offline import config_docs


class Section(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Endpoint(Section):
    host_name: str = Field(description="Host | port.")
    secret: SecretStr | None = Field(default=None, description="A password.")


class Node(Section):
    roles: list[Literal["master", "data"]] = Field(min_length=1, description="Node roles.")


class Storage(Section):
    backend: Literal["minio", "s3"] = Field(description="Object store.")
    lock_days: Annotated[int, Field(ge=0, le=365)] = Field(default=0, description="Lock days.")
    key_id: Annotated[str, Field(min_length=1)] | None = Field(default=None, description="Key id.")


class Stack(Section):
    name_prefix: str = Field(description="Prefix.")
    stack: str = Field(description="Set by the engine.", exclude=True)
    storage: Storage = Field(description="Storage.")
    endpoint: Endpoint | None = Field(default=None, description="Where it lives.")
    sources: dict[str, Endpoint] = Field(default_factory=dict, description="By source name.")
    nodes: list[Node] = Field(min_length=2, description="Node sets.")
    retention: Annotated[int, Field(ge=90)] = Field(default=90, description="Days.")


STAGE_DEFAULTS = {
    "dev": {"storage": {"backend": "minio"}, "nodes": [{"roles": ["master"]}, {"roles": ["data"]}]},
    "prod": {"storage": {"backend": "s3", "lockDays": 90}, "retention": 365},
}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: demo\nconfig:\n  namePrefix:\n    type: string\n"
                                          "    default: demo\n  stage:\n    type: string\n")
    return tmp_path


def test_every_key_of_the_model_is_a_row_with_its_type_and_stage_defaults(project):
    rows = config_docs.rows(Stack, STAGE_DEFAULTS, project)
    assert [(row.key, row.type, *row.defaults) for row in rows] == [
        ("namePrefix", "string", "`demo`", "`demo`"),
        ("storage.backend", "`minio` | `s3`", "`minio`", "`s3`"),
        ("storage.lockDays", "int, 0 to 365", "`0`", "`90`"),
        ("storage.keyId", "string, non-empty", "unset", "unset"),
        ("endpoint", "block", "unset", "unset"),
        ("endpoint.hostName", "string", "required", "required"),
        ("endpoint.secret", "secret string", "unset", "unset"),
        ("sources", "map: name -> block", "`{}`", "`{}`"),
        ("sources.<name>.hostName", "string", "required", "required"),
        ("sources.<name>.secret", "secret string", "unset", "unset"),
        ("nodes", "list of blocks, at least 2 items", "`[{roles: [master]}, {roles: [data]}]`", "required"),
        ("nodes[].roles", "list of `master` | `data`, at least 1 item", "required", "required"),
        ("retention", "int, >= 90", "`90`", "`365`"),
    ]


def test_cells_escape_the_table_separator(project):
    (row,) = [row for row in config_docs.rows(Stack, STAGE_DEFAULTS, project) if row.key == "storage.backend"]
    assert row.markdown() == "| `storage.backend` | `minio` \\| `s3` | `minio` | `s3` | Object store. |"
    (row,) = [row for row in config_docs.rows(Stack, STAGE_DEFAULTS, project) if row.key == "endpoint.hostName"]
    assert row.markdown().endswith("| Host \\| port. |")


def test_the_rewrite_replaces_only_what_lies_between_the_markers():
    document = f"# Title\n\nbefore\n{config_docs.BEGIN}\nold table\n{config_docs.END}\nafter\n"
    rewritten = config_docs.render(document, "| new |\n")
    assert rewritten == f"# Title\n\nbefore\n{config_docs.BEGIN}\n| new |\n{config_docs.END}\nafter\n"
    assert config_docs.render(rewritten, "| new |\n") == rewritten
    with pytest.raises(ValueError, match="the markers are missing"):
        config_docs.render("# no markers\n", "| new |\n")


def test_check_reports_drift_and_the_command_that_fixes_it(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{config_docs.BEGIN}\n| stale |\n{config_docs.END}\n")
    assert config_docs.main(["--check", str(readme)]) == 1
    assert "run `make config-docs`" in capsys.readouterr().err
    assert config_docs.main([str(readme)]) == 0
    assert config_docs.main(["--check", str(readme)]) == 0
    assert "| `stage` |" in readme.read_text() and readme.read_text().startswith("intro\n")
