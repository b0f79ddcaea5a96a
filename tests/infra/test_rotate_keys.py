"""`make rotate-keys` moves the one `accessKeysIssued` value of a stack file to a new day, keeps every other byte, and
refuses a stack without the line or a day in the future; the program reads the new day as the keys' trigger."""

from __future__ import annotations

import datetime
import shutil

import pytest

from infra.model.config import parse_stack_config, project_values
from infra.model.stackfiles import REPO_ROOT, load_stack
from infra.ops import rotate_keys

TODAY = datetime.date(2027, 1, 15)


@pytest.fixture()
def root(tmp_path):
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.dev.yaml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    return tmp_path


def test_rotation_changes_only_the_issue_date(root, capsys):
    before = (root / "Pulumi.prod.yaml").read_text()
    assert rotate_keys.main(["--stack", "prod"], root=root, today=TODAY) == 0
    after = (root / "Pulumi.prod.yaml").read_text()
    changed = [(old, new) for old, new in zip(before.splitlines(), after.splitlines(), strict=True) if old != new]
    assert changed == [('      accessKeysIssued: "2026-12-01"', '      accessKeysIssued: "2027-01-15"')]
    assert "2026-12-01 -> 2027-01-15" in capsys.readouterr().out
    config = parse_stack_config(project_values(load_stack("prod", root).config), "prod")
    assert config.storage.s3_settings.access_keys_issued == TODAY


def test_a_given_day_is_used(root):
    assert rotate_keys.main(["--stack", "prod", "--date", "2027-01-10"], root=root, today=TODAY) == 0
    assert 'accessKeysIssued: "2027-01-10"' in (root / "Pulumi.prod.yaml").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--stack", "dev"], "Pulumi.dev.yaml: expected one `accessKeysIssued:` line"),
    (["--stack", "prod", "--date", "2027-01-16"], "--date 2027-01-16 is after today (2027-01-15)"),
    (["--stack", "prod", "--date", "soon"], "--date 'soon' is not a date (YYYY-MM-DD)"),
    (["--stack", "staging"], "Pulumi.staging.yaml: no such stack file"),
])
def test_bad_input_exits_2_and_changes_nothing(root, capsys, argv, message):
    before = {path.name: path.read_text() for path in root.glob("Pulumi.*.yaml")}
    assert rotate_keys.main(argv, root=root, today=TODAY) == 2
    assert message in capsys.readouterr().err
    assert {path.name: path.read_text() for path in root.glob("Pulumi.*.yaml")} == before
