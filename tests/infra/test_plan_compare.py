"""Plans are byte-identical for the same inputs, and the plan comparison finds every kind of difference."""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys

import pytest

from infra.model.stackfiles import REPO_ROOT
from infra.offline import plan, plan_compare
from infra.offline.gate import GateReport
from infra.offline.harness import RecordedResource, Recording


def resource(name: str, deps: list[str], **inputs: object) -> RecordedResource:
    return RecordedResource(
        urn=f"urn:pulumi:dev::dataplatform::test:index:Thing::{name}",
        type="test:index:Thing",
        name=name,
        custom=True,
        parent="urn:pulumi:dev::dataplatform::pulumi:pulumi:Stack::dataplatform-dev",
        dependencies=deps,
        property_dependencies={"bucket": list(reversed(deps))},
        protect=False,
        inputs=dict(inputs),
        provider="",
        ignore_changes=["tags", "acl"],
        aliases=[],
        additional_secret_outputs=[],
        delete_before_replace=False,
        retain_on_delete=False,
    )


def recording(resources: list[RecordedResource]) -> Recording:
    return Recording(project="dataplatform", stack="dev", preview=False, resources=resources)


def gate() -> GateReport:
    return GateReport(pack="dataplatform-policies", version="1", stack="dev", preview=False)


def document(resources: list[RecordedResource]) -> dict:
    return plan.plan_document(recording(resources), gate())


def test_the_plan_file_does_not_depend_on_registration_order():
    things = [resource(f"r{i}", [f"urn:d{j}" for j in range(i % 4)], size=i) for i in range(30)]
    shuffled = copy.deepcopy(things)
    random.Random(7).shuffle(shuffled)
    for thing in shuffled:
        thing.dependencies.reverse()
        thing.ignore_changes.reverse()
    first, second = document(things), document(shuffled)
    assert json.dumps(first) == json.dumps(second)
    assert plan.render_tree(recording(things)) == plan.render_tree(recording(shuffled))
    assert first["resources"][0]["options"]["ignoreChanges"] == ["acl", "tags"]


def test_markdown_summary_carries_no_timing():
    things = [resource("a", [])]
    text = plan.render_markdown(document(things), gate(), plan.render_tree(recording(things)))
    assert " s." not in text and "1 resources, 0 protected, 0 policy violations (0 mandatory)." in text


def test_identical_plans_compare_as_same_whatever_the_dependency_order():
    before = document([resource("a", ["urn:x", "urn:y"]), resource("b", [])])
    after = copy.deepcopy(before)
    after["resources"][0]["dependencies"].reverse()
    after["resources"].reverse()
    comparison = plan_compare.compare_plans(before, after)
    assert comparison.identical and comparison.unchanged == 2
    assert comparison.summary().endswith(
        "same; 2 resources unchanged, 0 added, 0 removed, 0 changed, 0 outputs changed, 0 policy results changed")


def test_every_kind_of_difference_is_reported_with_its_path():
    before = document([resource("a", ["urn:x"], rules=[{"status": "Enabled"}]), resource("gone", [])])
    after = document([resource("a", ["urn:y"], rules=[{"status": "Suspended"}]), resource("new", [])])
    after["resources"][0]["protect"] = True
    after["resources"][0]["options"]["aliases"] = ["urn:old"]
    after["outputs"] = {"stage": "dev"}
    after["policies"]["violations"] = [
        {"policy": "p", "code": "DP-1", "level": "mandatory", "severity": "high", "urn": "u", "message": "m"}]
    comparison = plan_compare.compare_plans(before, after)
    assert [r["name"] for r in comparison.added] == ["new"]
    assert [r["name"] for r in comparison.removed] == ["gone"]
    (changed,) = comparison.changed
    assert changed.urn.endswith("::a")
    assert {(c.path, json.dumps(c.before), json.dumps(c.after)) for c in changed.changes} == {
        ("protect", "false", "true"),
        ("dependencies", '["urn:x"]', '["urn:y"]'),
        ("propertyDependencies.bucket.0", '"urn:x"', '"urn:y"'),
        ("options.aliases", "[]", '["urn:old"]'),
        ("inputs.rules.0.status", '"Enabled"', '"Suspended"'),
    }
    assert [(c.path, c.before, c.after) for c in comparison.outputs] == [("stage", plan_compare.ABSENT, "dev")]
    assert [v["policy"] for v in comparison.violations_added] == ["p"] and not comparison.violations_removed
    text = "\n".join(plan_compare.render_text(comparison))
    assert "1 added, 1 removed, 1 changed, 1 outputs changed, 1 policy results changed" in text
    assert '      inputs.rules.0.status: "Enabled" -> "Suspended"' in text
    assert "  policy fails now: [mandatory] p u" in text


def test_a_field_one_plan_did_not_record_is_named_not_compared():
    before = document([resource("a", [])])
    for entry in before["resources"]:
        del entry["options"]
    after = document([resource("a", [])])
    after["resources"][0]["options"]["retainOnDelete"] = True
    comparison = plan_compare.compare_plans(before, after)
    assert comparison.identical and comparison.not_compared == ["options"]


def test_command_exit_codes(tmp_path, capsys):
    same, other, broken = tmp_path / "same.json", tmp_path / "other.json", tmp_path / "broken.json"
    same.write_text(json.dumps(document([resource("a", [])])))
    other.write_text(json.dumps(document([resource("b", [])])))
    broken.write_text('{"stack": "dev"}')
    assert plan_compare.main([str(same), str(same)]) == 0
    assert plan_compare.main([str(same), str(other), "--json", str(tmp_path / "c.json")]) == 1
    assert json.loads((tmp_path / "c.json").read_text())["added"][0]["urn"].endswith("::b")
    assert plan_compare.main([str(same), str(broken)]) == 2
    assert "broken.json: not an offline plan (no `resources` list)" in capsys.readouterr().err


@pytest.mark.integration
def test_two_runs_of_the_prod_plan_write_the_same_bytes(tmp_path):
    outputs = []
    for run in ("one", "two"):
        out = tmp_path / run
        result = subprocess.run(
            [sys.executable, "-m", "infra.offline.plan", "--stack", "prod", "--out", str(out), "--quiet"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(((out / "prod.json").read_bytes(), (out / "prod.md").read_bytes()))
    assert outputs[0] == outputs[1]


@pytest.mark.integration
def test_the_working_tree_compares_with_a_git_ref(tmp_path, capsys):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if head.returncode != 0:
        pytest.skip("not a git checkout: the base-ref comparison needs git")
    code = plan_compare.main(["--base", "HEAD", "--stack", "dev", "--json", str(tmp_path / "c.json")])
    comparison = json.loads((tmp_path / "c.json").read_text())
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT, capture_output=True, text=True,
        check=False,
    ).stdout.strip()
    # A clean checkout (as CI has) must plan exactly as its HEAD does; with local edits only the form is checked.
    if not dirty:
        assert code == 0 and comparison["identical"], capsys.readouterr().out
    assert comparison["unchanged"] + len(comparison["changed"]) + len(comparison["added"]) > 300
    assert plan_compare.main(["--base", "no-such-ref-anywhere", "--stack", "dev"]) == 2
    assert "git ref 'no-such-ref-anywhere' cannot be checked out" in capsys.readouterr().err
