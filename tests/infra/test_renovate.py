"""The Renovate configuration (.github/renovate.json) finds every pin it exists for, and nothing else.

Renovate is not run here (it needs the registries); its config is held to Renovate's own schema, as vendored in
check-jsonschema, and each custom regex manager is applied in Python to the files it names: the chart manager must
find exactly the charts of infra.model.charts.CHARTS (enumerated now, so a new chart or a changed pin format fails
here), the image manager exactly the entries of images/vendor.lock.json, so a manager can never match nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
import yaml

from infra.model.charts import CHARTS
from infra.model.images import VENDOR_LOCK, ImageRef, read_lock

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = ROOT / ".github" / "renovate.json"
WORKFLOW_PATH = ROOT / ".github" / "workflows" / "renovate.yml"
CONFIG = json.loads(CONFIG_PATH.read_text())
SCHEMA = json.loads(files("check_jsonschema.builtin_schemas.vendor").joinpath("renovate.json").read_text())
NEW_DIGEST = "sha256:" + "ab" * 32


def managers(datasource: str) -> list[dict]:
    found = [manager for manager in CONFIG["customManagers"] if manager.get("datasourceTemplate") == datasource]
    assert found, f"no custom manager with datasource {datasource}"
    return found


def python_regex(pattern: str) -> re.Pattern[str]:
    """A Renovate (JavaScript, RE2) pattern as Python compiles it: only the named-group syntax differs."""
    return re.compile(pattern.replace("(?<", "(?P<"))


def file_regex(pattern: str) -> re.Pattern[str]:
    assert pattern.startswith("/") and pattern.endswith("/"), f"{pattern}: a /regex/ file pattern is expected"
    return re.compile(pattern[1:-1])


def repository_files() -> list[str]:
    return sorted(path.relative_to(ROOT).as_posix() for path in ROOT.rglob("*")
                  if path.is_file() and not any(part.startswith(".venv") or part in ("build", ".git", "venv")
                                                 for part in path.relative_to(ROOT).parts))


def extract(manager: Mapping) -> list[dict[str, str | None]]:
    """Every dependency the manager finds, as Renovate's default `any` strategy does: each match string over each
    matching file; the match as `replaceString`."""
    paths = [path for path in repository_files()
             if any(file_regex(pattern).search(path) for pattern in manager["managerFilePatterns"])]
    assert paths, f"{manager['managerFilePatterns']} matches no file"
    found = []
    for path in paths:
        text = (ROOT / path).read_text()
        for pattern in manager["matchStrings"]:
            for match in python_regex(pattern).finditer(text):
                found.append({**match.groupdict(), "replaceString": match.group(0), "packageFile": path})
    return found


def render(template: str, values: Mapping[str, str | None]) -> str:
    """The Handlebars the templates use: `{{{name}}}` and `{{#if name}}...{{/if}}`."""
    def conditional(match: re.Match[str]) -> str:
        return match.group(2) if values.get(match.group(1)) else ""

    text = re.sub(r"\{\{#if (\w+)\}\}(.*?)\{\{/if\}\}", conditional, template)
    unknown = re.findall(r"\{\{(?!\{)", text.replace("{{{", ""))
    assert not unknown, f"unsupported template syntax in {template}"
    return re.sub(r"\{\{\{(\w+)\}\}\}", lambda match: values[match.group(1)] or "", text)


def test_config_is_valid_for_renovate() -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(CONFIG)
    # The schema lets unknown top-level keys through: a misspelt option would be ignored by Renovate.
    assert set(CONFIG) <= set(SCHEMA["properties"]) | {"$schema"}


def test_schema_rejects_what_renovate_rejects() -> None:
    """The validator the lint step runs is a real one: a manager Renovate does not know fails it."""
    broken = {**CONFIG, "enabledManagers": ["custom.regexp"]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(broken)


def test_patterns_are_re2() -> None:
    """Renovate runs match strings with RE2: no lookaround and no backreference, which Python would accept."""
    for manager in CONFIG["customManagers"]:
        for pattern in manager["matchStrings"]:
            assert not re.search(r"\(\?[=!]|\(\?<[=!]|\\[1-9]|\\k<", pattern), pattern
            assert "(?P<" not in pattern, f"{pattern}: JavaScript names a group (?<name>...)"


def test_only_custom_managers_run() -> None:
    """Python packages, actions and base images are Dependabot's (decision 0026): the two never race on a file."""
    assert CONFIG["enabledManagers"] == ["custom.regex"]
    assert all(manager["customType"] == "regex" for manager in CONFIG["customManagers"])


def test_chart_manager_finds_every_pinned_chart() -> None:
    found = [dependency for manager in managers("helm") for dependency in extract(manager)]
    assert all(dependency["packageFile"] == "infra/model/charts.py" for dependency in found)
    pinned = sorted((paths.chart, paths.version, paths.repository) for paths in CHARTS.values())
    assert sorted((dep["depName"], dep["currentValue"], dep["registryUrl"]) for dep in found) == pinned
    for dependency in found:
        # Renovate replaces the version inside the match: it must appear there once, beside its own chart.
        assert dependency["replaceString"].count(f'"{dependency["currentValue"]}"') == 1


def test_image_manager_finds_every_locked_image() -> None:
    found = [dependency for manager in managers("docker") for dependency in extract(manager)]
    assert all(dependency["packageFile"] == "images/vendor.lock.json" for dependency in found)
    locked = sorted((ref.repository, ref.tag, ref.digest) for ref in read_lock(VENDOR_LOCK).values())
    assert locked, "the vendor lock is empty"
    assert sorted((dep["depName"], dep["currentValue"], dep["currentDigest"] or "") for dep in found) == locked


@pytest.mark.parametrize("new_digest", [NEW_DIGEST, None], ids=["digest served", "no digest"])
def test_image_update_rewrites_the_whole_entry(new_digest: str | None, tmp_path: Path) -> None:
    """The replacement moves the key, the tag and the digest together, and the lock still reads as a lock: the
    old tag's digest never stays on the new tag."""
    (manager,) = managers("docker")
    text = VENDOR_LOCK.read_text()
    updated = text
    for dependency in extract(manager):
        values = {**dependency, "newValue": f"{dependency['currentValue']}-next", "newDigest": new_digest}
        replacement = render(manager["autoReplaceStringTemplate"], values)
        assert updated.count(dependency["replaceString"]) == 1
        updated = updated.replace(dependency["replaceString"], replacement)
    path = tmp_path / VENDOR_LOCK.name
    path.write_text(updated)
    entries = read_lock(path)
    expected = {f"{ref.key}-next": ImageRef(ref.repository, f"{ref.tag}-next", new_digest or "")
                for ref in read_lock(VENDOR_LOCK).values()}
    assert entries == expected
    # And the next run finds every entry again, at its new tag.
    found = [match.groupdict() for pattern in manager["matchStrings"]
             for match in python_regex(pattern).finditer(updated)]
    assert sorted(dep["currentValue"] for dep in found) == sorted(ref.tag for ref in expected.values())


def post_upgrade_commands() -> list[tuple[str, str]]:
    return [(rule["matchDatasources"][0], command) for rule in CONFIG["packageRules"] if "postUpgradeTasks" in rule
            for command in rule["postUpgradeTasks"]["commands"]]


def test_post_upgrade_commands_are_allowed_and_exist() -> None:
    """Each command is allowed by the workflow that runs Renovate (or Renovate refuses it) and names a make
    target that exists."""
    workflow = yaml.safe_load(WORKFLOW_PATH.read_text())
    (step,) = [step for step in workflow["jobs"]["renovate"]["steps"] if "RENOVATE_ALLOWED_COMMANDS" in
               step.get("env", {})]
    allowed = [re.compile(pattern) for pattern in json.loads(step["env"]["RENOVATE_ALLOWED_COMMANDS"])]
    makefile = (ROOT / "Makefile").read_text()
    samples = {"helm": {"depName": "valkey", "currentValue": "0.11.0", "newValue": "0.12.0"},
               "docker": {"depName": "ghcr.io/cloudnative-pg/postgresql", "currentValue": "15.14-bookworm",
                          "newValue": "15.15-bookworm"}}
    commands = post_upgrade_commands()
    assert {datasource for datasource, _ in commands} == {"helm", "docker"}
    for datasource, template in commands:
        command = render(template, samples[datasource])
        assert any(pattern.fullmatch(command) for pattern in allowed), f"{command} is not allowed"
        target = command.split()[1]
        assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), f"no make target {target}"


def test_allowed_commands_refuse_other_input() -> None:
    """A tag or name that could reach the shell (a crafted registry answer) is refused by the allow list."""
    workflow = yaml.safe_load(WORKFLOW_PATH.read_text())
    step = next(step for step in workflow["jobs"]["renovate"]["steps"] if "RENOVATE_ALLOWED_COMMANDS" in
                step.get("env", {}))
    allowed = [re.compile(pattern) for pattern in json.loads(step["env"]["RENOVATE_ALLOWED_COMMANDS"])]
    for command in ("make image-pin IMAGE=docker.io/x FROM=1 TO=1;rm -rf .",
                    "make image-pin IMAGE=docker.io/x FROM=1 TO=$(id)",
                    "make chart-lock ARGS=--index"):
        assert not any(pattern.fullmatch(command) for pattern in allowed), command
