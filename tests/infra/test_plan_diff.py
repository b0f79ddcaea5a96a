"""The reviewer's plan diff: weakened enforcement first, resources by layer, replacements, rendered objects.

The scenario test commits a change in a clone of this checkout (a source, a mart, an exemption and a policy
downgraded in prod) and runs `make plan-diff`'s module on it: the real program and the real pack on both sides.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.model.stackfiles import REPO_ROOT
from infra.offline import plan_diff
from infra.offline.plan_compare import ABSENT
from infra.offline.plan_diff_engine import CERTAIN, LIKELY, POSSIBLE, replacement
from infra.offline.render.cache import default_cache, lookup

STACK_URN = "urn:pulumi:prod::dataplatform::pulumi:pulumi:Stack::dataplatform-prod"
ROOT_URN = "urn:pulumi:prod::dataplatform::dataplatform:platform:DataPlatform::platform"
STORAGE_URN = "urn:pulumi:prod::dataplatform::dataplatform:platform:DataPlatform$dataplatform:storage:Storage::lake"


def res(name: str, type_: str = "aws:s3/bucket:Bucket", parent: str = STORAGE_URN, **inputs: object) -> dict:
    return {"urn": f"urn:pulumi:prod::dataplatform::{type_}::{name}", "type": type_, "name": name, "custom": True,
            "parent": parent, "provider": "", "dependencies": [], "propertyDependencies": {}, "protect": False,
            "options": {"aliases": []}, "inputs": dict(inputs)}


def components() -> list[dict]:
    root = {**res("platform", "dataplatform:platform:DataPlatform", STACK_URN), "urn": ROOT_URN, "custom": False}
    storage = {**res("lake", "dataplatform:storage:Storage", ROOT_URN), "urn": STORAGE_URN, "custom": False}
    return [root, storage]


def doc(*resources: dict, violations: list | None = None) -> dict:
    return {"stack": "prod", "project": "dataplatform", "preview": False, "outputs": {},
            "resources": [*components(), *resources], "policies": {"pack": "p", "violations": violations or []}}


# ---- enforcement ------------------------------------------------------------------------------------------------


def test_every_kind_of_weakening_is_marked_and_strengthening_is_not():
    listed = {"policy": "a", "resource": "t::kept", "reason": "why", "expires": "2027-03-01"}
    key = {"resource": "aws:iam/accessKey:AccessKey::k", "reason": "no identity", "expires": "2027-03-01"}
    old = plan_diff.Enforcement(
        levels={"a": "mandatory", "b": "mandatory", "c": "advisory", "gone": "mandatory", "d": "mandatory",
                "pack-exemption-require-allow-list": "mandatory"},
        settings={"a": {"exemptions": [listed]}, "b": {"minDays": 90, "roles": ["logs", "access-logs"]}, "c": {},
                  "gone": {}, "d": {},
                  "pack-exemption-require-allow-list": {
                      "exemptions": [listed, {**listed, "resource": "t::dropped"},
                                     {**listed, "resource": "t::worded"}],
                      "exceptions": [key]}})
    new = plan_diff.Enforcement(
        levels={"a": "advisory", "b": "mandatory", "c": "mandatory", "new": "mandatory", "d": "mandatory",
                "pack-exemption-require-allow-list": "mandatory"},
        settings={"a": {"exemptions": [{**listed, "expires": "2027-09-01"}]}, "b": {"minDays": 30, "roles": ["logs"]},
                  "c": {}, "new": {}, "d": {},
                  "pack-exemption-require-allow-list": {
                      "exemptions": [{**listed, "expires": "2027-09-01"}, {**listed, "resource": "t::worded",
                                                                            "reason": "better"},
                                     {**listed, "policy": "c", "resource": "t::fresh"}],
                      "exceptions": [{**key, "expires": "2027-06-01"},
                                     {**key, "resource": "aws:iam/accessKey:AccessKey::k2"}]}})
    base = doc(res("kept"))
    head = doc(res("kept"), res("fresh", type_="kubernetes:apps/v1:Deployment",
                                metadata={"annotations": {"dataplatform/policy-exemptions": "a"}}))
    changes = plan_diff.enforcement_changes("prod", old, new, base, head, {"a": True, "c": False})
    weak = {change["text"] for change in changes if change["weakens"]}
    config = "(policies/config/prod.json)"
    assert weak == {
        f"`a`: mandatory -> advisory {config}",
        "`gone` is no longer in the pack (it was mandatory)",
        f"`b`.minDays: 90 -> 30 {config}",
        f"`b`.roles {config} no longer lists [\"access-logs\"]",
        f"exemption for `a` on `t::kept` extended: expires 2027-03-01 -> 2027-09-01 {config}",
        f"exception for `aws:iam/accessKey:AccessKey::k` extended: expires 2027-03-01 -> 2027-06-01 {config}",
        f"exception added for `aws:iam/accessKey:AccessKey::k2` until 2027-03-01: \"no identity\" {config}",
    }
    strong = {change["text"] for change in changes if not change["weakens"]}
    assert strong == {
        f"`c`: advisory -> mandatory {config}", "`new` is new in the pack, mandatory",
        f"exemption for `a` on `t::dropped` removed {config}",
        f"exemption for `a` on `t::worded`: reason \"why\" -> \"better\" {config}",
        f"exemption added for `c` on `t::fresh` until 2027-03-01: \"why\" (refused by the pack: the policy cannot be "
        f"exempted) {config}",
        "`fresh` claims an exemption from `a` (inputs.metadata.annotations.dataplatform/policy-exemptions); it counts "
        "only where policies/config/prod.json lists it",
    }


def test_an_exemption_widened_to_more_checks_weakens_and_one_narrowed_does_not():
    listed = {"policy": "a", "resource": "t::w", "reason": "why", "expires": "2027-03-01", "checks": ["root"]}

    def diff(before: dict, after: dict) -> list[tuple[str, bool]]:
        old, new = (plan_diff.Enforcement(levels={"a": "mandatory", "pack-exemption-require-allow-list": "mandatory"},
                                          settings={"pack-exemption-require-allow-list": {"exemptions": [entry]}})
                    for entry in (before, after))
        return [(change["text"], change["weakens"])
                for change in plan_diff.enforcement_changes("prod", old, new, doc(), doc(), {"a": True})]

    config = "(policies/config/prod.json)"
    whole = {key: value for key, value in listed.items() if key != "checks"}
    assert diff(listed, whole) == [(f"exemption for `a` on `t::w` widened: root -> all checks {config}", True)]
    assert diff(listed, {**listed, "checks": ["root", "capabilities"]}) == [
        (f"exemption for `a` on `t::w` widened: root -> capabilities, root {config}", True)]
    assert diff(whole, listed) == [(f"exemption for `a` on `t::w` narrowed: all checks -> root {config}", False)]


def test_an_unreadable_pack_config_in_the_change_counts_as_a_weakening():
    changes = plan_diff.enforcement_changes("prod", plan_diff.Enforcement(), plan_diff.Enforcement(error="bad JSON"),
                                            doc(), doc(), {})
    assert [change["weakens"] for change in changes] == [True]
    assert "cannot be read" in changes[0]["text"]


# ---- replacements and resources -------------------------------------------------------------------------------


def test_replacement_follows_the_providers_rules_and_says_how_sure_it_is():
    deployment = res("web", "kubernetes:apps/v1:Deployment")
    assert replacement(deployment, ["inputs.spec.selector.matchLabels.app"], {}).certainty == CERTAIN
    assert replacement(deployment, ["inputs.spec.replicas"], {}) is None
    provider = "urn:pulumi:prod::dataplatform::pulumi:providers:kubernetes::k8s"
    config_map = {**res("cm", "kubernetes:core/v1:ConfigMap"), "provider": f"{provider}::id"}
    assert replacement(config_map, ["inputs.data.key"], {}).certainty == CERTAIN
    mutable = {provider: {"inputs": {"enableConfigMapMutable": "true"}}}
    assert replacement(config_map, ["inputs.data.key"], mutable) is None
    bucket = res("b")
    assert replacement(bucket, ["inputs.bucket"], {}).certainty == LIKELY
    assert replacement(bucket, ["inputs.tags.x"], {}) is None
    assert replacement(bucket, ["provider"], {}).certainty == POSSIBLE
    release = res("r", "kubernetes:helm.sh/v3:Release")
    assert replacement(release, ["inputs.namespace"], {}).certainty == CERTAIN
    assert replacement(release, ["inputs.values.replicas"], {}) is None


def test_a_urn_that_changes_is_a_replacement_unless_aliased_and_layers_come_from_components():
    moved = res("m", parent=ROOT_URN)
    renamed = {**res("m"), "options": {"aliases": [moved["urn"] + "-old"]}}
    base = doc({**moved, "urn": moved["urn"] + "-x"}, {**res("n", parent=ROOT_URN), "urn": moved["urn"] + "-old"})
    head = doc({**res("m"), "urn": moved["urn"] + "-y"}, {**renamed, "name": "n", "urn": moved["urn"] + "-new"})
    report = plan_diff.stack_report("prod", {"ref": "b", "commit": "0" * 40}, base, head, [], Path("/nowhere"))
    resources = report["resources"]
    assert [(e["name"], e["layer"], e["certainty"]) for e in resources["replaced"]] == [("m", "storage", CERTAIN)]
    assert "no alias" in resources["replaced"][0]["reasons"][0]
    assert [e["name"] for e in resources["moved"]] == ["n"]
    assert not resources["added"] and not resources["removed"]


def test_list_items_count_as_a_multiset_and_zip_archives_show_their_members():
    rule = {"port": 443}
    changes = plan_diff.value_changes("inputs", {"egress": [rule, rule, {"port": 53}]},
                                      {"egress": [rule, rule, rule, {"port": 53}]})
    assert changes == [{"path": "inputs.egress.+", "before": ABSENT, "after": rule}]

    def archive(files: dict[str, str]) -> str:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zipped:
            for name, text in files.items():
                zipped.writestr(name, text)
        return base64.b64encode(buffer.getvalue()).decode()

    before = archive({"a.yaml": "1", "b.yaml": "2"})
    after = archive({"a.yaml": "1", "b.yaml": "3", "c.yaml": "4"})
    paths = [(c["path"], c["before"] == ABSENT) for c in plan_diff.value_changes("zip", before, after)]
    assert paths == [("zip:b.yaml", False), ("zip:c.yaml", True)]


def test_policy_results_and_the_comment_limit():
    violation = {"policy": "p", "code": "DP-1", "level": "mandatory", "severity": "high",
                 "urn": res("b")["urn"], "message": "m"}
    report = plan_diff.stack_report("prod", {"ref": "b", "commit": "0" * 40}, doc(res("b")),
                                    doc(res("b"), violations=[violation]), [], Path("/nowhere"))
    assert report["policyResults"]["nowFailing"][0]["name"] == "b" and report["verdict"] == "different"
    assert "- now fails: [mandatory] `p` on **b**: m" in plan_diff.markdown(report)
    many = {**report, "resources": {**report["resources"], "added": [
        {"layer": "storage", "urn": f"u{i}", "type": "t", "name": "x" * 200, "inputs": {}} for i in range(500)]}}
    body = plan_diff.comment([many])
    assert len(body) <= plan_diff.COMMENT_LIMIT + 200 and body.endswith("has the whole report.\n")


# ---- rendered objects -------------------------------------------------------------------------------------------


def release_doc(values: dict) -> dict:
    release = res("platform-presentation-redis", "kubernetes:helm.sh/v3:Release")
    release["inputs"] = {"chart": "valkey", "version": "0.11.0", "name": "redis", "namespace": "dp-presentation",
                         "values": values}
    return doc(release)


def test_without_the_chart_cache_the_rendered_objects_are_one_line(tmp_path):
    report = plan_diff.rendered_changes(release_doc({}), release_doc({"replica": {"enabled": True}}),
                                        tmp_path / "absent")
    assert report["status"] == "cache missing" and len(report["notes"]) == 1
    assert "rendered objects not compared (1 release(s) changed); `make chart-cache` fills it" in report["notes"][0]


def test_a_changed_release_is_rendered_on_both_sides_and_compared_by_object():
    cache = default_cache()
    if lookup(cache, "valkey", "0.11.0") is None:
        pytest.skip(f"valkey 0.11.0 is not in the chart cache {cache}: `make chart-cache` fills it")
    limits = {"resources": {"limits": {"memory": "256Mi"}}}
    report = plan_diff.rendered_changes(release_doc(limits), release_doc({"resources": {"limits": {"memory": "1Gi"}}}),
                                        cache)
    assert report["status"] == "compared" and not report["notes"]
    changed = {(item["kind"], item["name"]): [c["path"] for c in item["changes"]] for item in report["changed"]}
    assert any(path.endswith("resources.limits.memory") for paths in changed.values() for path in paths), changed
    assert plan_diff.rendered_changes(release_doc(limits), release_doc(limits), cache)["status"] == \
        "no release changed"


# ---- the base's virtualenv ------------------------------------------------------------------------------------


def test_equal_lock_files_reuse_this_checkouts_virtualenv(tmp_path):
    for tree in ("base", "head"):
        (tmp_path / tree).mkdir()
        (tmp_path / tree / "requirements.txt").write_text("pulumi==1\n")
    own = Path(sys.executable)
    chosen = plan_diff.base_venv(tmp_path / "base", tmp_path / "head", ("requirements.txt",), own, "program", [])
    assert chosen == plan_diff.Interpreter(own, "this checkout's")


@pytest.mark.integration
def test_other_lock_files_get_their_own_cached_virtualenv(tmp_path, monkeypatch):
    monkeypatch.setenv(plan_diff.CACHE_ENV, str(tmp_path / "cache"))
    for tree, text in (("base", "# nothing to install\n"), ("head", "pulumi==3.272.0\n")):
        (tmp_path / tree).mkdir()
        (tmp_path / tree / "requirements.txt").write_text(text)
    args = (tmp_path / "base", tmp_path / "head", ("requirements.txt",), Path(sys.executable), "program",
            ["-r", "requirements.txt"])
    built = plan_diff.base_venv(*args)
    digest = plan_diff.lock_hash(tmp_path / "base", ("requirements.txt",))
    assert built.origin == f"built program-{digest}"
    assert built.python == tmp_path / "cache" / "venvs" / f"program-{digest}" / "bin" / "python"
    assert subprocess.run([str(built.python), "-c", "import sys; print(sys.prefix)"], capture_output=True,
                          text=True, check=True).stdout.strip().endswith(f"program-{digest}")
    assert plan_diff.base_venv(*args).origin == f"cached program-{digest}"


# ---- the scenario: a change a reviewer must read ------------------------------------------------------------


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: the scenario expects {old!r}; update the test to today's file"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """A clone of this checkout's HEAD with one commit that adds a source and a mart, extends an exemption and
    downgrades a prod policy; the plan diff of it against HEAD, run once."""
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, check=False).returncode:
        pytest.skip("not a git checkout: the plan diff needs git")
    top = tmp_path_factory.mktemp("plan-diff")
    clone = top / "repo"
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", "clone", "--quiet", "--shared", str(REPO_ROOT), str(clone)], check=True)
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True,
                          check=True).stdout.strip()
    (clone / "policies" / "venv").symlink_to(REPO_ROOT / "policies" / "venv")
    _edit(clone / "infra" / "dataflow.yaml", "  - name: files\n", (
        "  - name: leads\n    description: Weekly CSV exports of sales leads on S3.\n    kind: csv_files\n"
        "    replication: standard\n    schedule: {every: 1d, at: \"02:00\"}\n    streams:\n      - name: leads\n"
        "        sync_mode: full_refresh\n        destination_sync_mode: overwrite\n        primary_key: [lead_id]\n"
        "  - name: files\n"))
    _edit(clone / "infra" / "dataflow.yaml", "\n# Who may read or write which layer", (
        "  - name: orders\n    description: One row per usable order with its customer, read live.\n"
        "    grain: [order_id]\n\n# Who may read or write which layer"))
    for stack in ("dev", "prod"):
        _edit(clone / f"Pulumi.{stack}.yaml", "      files: {", (
            f"      leads: {{bucket: sales-leads-{stack}, region: eu-west-1, username: sales-leads-reader, "
            "cidrs: [0.0.0.0/0]}\n      files: {"))
    config = clone / "policies" / "config" / "prod.json"
    settings = json.loads(config.read_text())
    settings["aws-s3-bucket-enable-versioning"] = "advisory"
    settings["pack-exemption-require-allow-list"]["exemptions"].append({
        "policy": "aws-s3-bucket-enable-access-logging", "resource": "aws:s3/bucket:Bucket::platform-lake-access-logs",
        "reason": "it is the log sink", "expires": "2027-06-30"})
    config.write_text(json.dumps(settings, indent=2) + "\n")
    for generator in ("infra.offline.mart_assets", "infra.offline.policy_config"):
        subprocess.run([sys.executable, "-m", generator], cwd=clone, env={"PYTHONPATH": str(clone)}, check=True,
                       capture_output=True)
    # The clone links this checkout's pack virtualenv; .gitignore keeps the link out of the commit.
    subprocess.run([*git, "add", "-A", "."], cwd=clone, check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "a source, a mart, an exemption, a downgrade"], cwd=clone,
                   check=True)
    out = top / "out"
    code = plan_diff.main(["--base", base, "--root", str(clone), "--out", str(out)])
    return {"code": code, "out": out, "clone": clone, "base": base,
            "prod": json.loads((out / "prod.json").read_text()), "dev": json.loads((out / "dev.json").read_text())}


@pytest.mark.integration
def test_the_downgrade_and_the_exemption_come_first(scenario):
    assert scenario["code"] == plan_diff.EXIT_DIFFERENT
    prod = scenario["prod"]
    assert sorted(change["kind"] for change in prod["weakenings"]) == ["exemption-added", "level"]
    level = next(change for change in prod["weakenings"] if change["kind"] == "level")
    assert level["policy"] == "aws-s3-bucket-enable-versioning"
    assert (level["before"], level["after"]) == ("mandatory", "advisory")
    exemption = next(change for change in prod["weakenings"] if change["kind"] == "exemption-added")
    assert exemption["policy"] == "aws-s3-bucket-enable-access-logging" and exemption["urn"].endswith("access-logs")
    markdown = (scenario["out"] / "prod.md").read_text()
    sections = [line for line in markdown.splitlines() if line.startswith("### ")]
    assert sections[0] == "### Enforcement weakened (2)"
    first = markdown.index("### Enforcement weakened")
    assert first < markdown.index("`aws-s3-bucket-enable-versioning`: mandatory -> advisory") < markdown.index(
        "| change |")
    assert first < markdown.index("exemption added for `aws-s3-bucket-enable-access-logging`") < markdown.index(
        "| change |")
    comment = (scenario["out"] / "comment.md").read_text()
    assert comment.index("Enforcement weakened (2)") < comment.index("## Plan diff: `dev`")
    # dev's pack config did not change and dev has no access-logs bucket.
    assert scenario["dev"]["weakenings"] == []


@pytest.mark.integration
def test_the_source_and_the_mart_show_by_layer(scenario):
    for stack in ("dev", "prod"):
        resources = scenario[stack]["resources"]
        added = {(entry["layer"], entry["name"]) for entry in resources["added"]}
        assert {("ingestion", "platform-ingestion-source-leads"), ("ingestion", "platform-ingestion-connection-leads"),
                ("ingestion", "platform-ingestion-destination-leads")} <= added, added
        bundle = next(entry for entry in resources["replaced"] if entry["name"] == "platform-presentation-asset-bundle")
        assert bundle["layer"] == "presentation" and bundle["certainty"] == CERTAIN
        assert [c["path"] for c in bundle["changes"]] == [
            "inputs.binaryData.gold_marts.zip:gold_marts/datasets/orders.yaml"]
    markdown = (scenario["out"] / "prod.md").read_text()
    assert "#### ingestion" in markdown and "**platform-ingestion-source-leads**" in markdown
    assert "`inputs.connection`: `\"[secret]\"`" in markdown
    summary = json.loads((scenario["out"] / "summary.json").read_text())
    assert summary == {"base": {"ref": scenario["base"], "commit": scenario["base"]}, "exit": 1,
                       "stacks": {"dev": "different", "prod": "different"}}


@pytest.mark.integration
def test_the_report_is_byte_identical_and_bad_input_exits_2(scenario, tmp_path, capsys):
    again = tmp_path / "again"
    assert plan_diff.main(["--base", scenario["base"], "--root", str(scenario["clone"]), "--out", str(again),
                           "--stack", "prod"]) == plan_diff.EXIT_DIFFERENT
    for name in ("prod.json", "prod.md"):
        assert (again / name).read_bytes() == (scenario["out"] / name).read_bytes()
    assert plan_diff.main(["--base", "no-such-ref", "--root", str(scenario["clone"]), "--out", str(again)]) == 2
    assert plan_diff.main(["--base", "HEAD", "--root", str(scenario["clone"]), "--stack", "qa"]) == 2
    err = capsys.readouterr().err
    assert "git ref 'no-such-ref' is not a commit here" in err and "no stack 'qa'" in err


@pytest.mark.integration
def test_a_plan_that_cannot_run_exits_3_and_says_so(scenario, tmp_path):
    clone = scenario["clone"]
    stack_file = clone / "Pulumi.prod.yaml"
    original = stack_file.read_text()
    try:
        stack_file.write_text(original.replace("      leads: {", "      leads: {nonsense: 1, "))
        code = plan_diff.main(["--base", scenario["base"], "--root", str(clone), "--out", str(tmp_path),
                               "--stack", "prod"])
    finally:
        stack_file.write_text(original)
    assert code == plan_diff.EXIT_PLAN
    report = json.loads((tmp_path / "prod.json").read_text())
    assert report["verdict"] == "failed" and "the working tree's plan of prod failed (exit 2)" in report["error"]
    assert "**The diff could not be made:**" in (tmp_path / "comment.md").read_text()



# ---- the workflows: the untrusted job makes the diff, a separate one posts it ------------------------------------


def _workflow(name: str) -> dict:
    import yaml

    return yaml.safe_load((REPO_ROOT / ".github" / "workflows" / name).read_text())


def test_the_pr_job_fetches_the_base_and_uploads_the_diff_without_secrets():
    job = _workflow("pr.yml")["jobs"]["plan-diff"]
    text = json.dumps(job)
    assert "secrets." not in text and "permissions" not in job and "environment" not in job
    checkout = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"] == {"persist-credentials": False, "fetch-depth": 0}
    run = next(step for step in job["steps"] if "make plan-diff" in step.get("run", ""))
    assert run["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}" and "${{" not in run["run"]
    assert 'cat build/plan-diff/comment.md >> "$GITHUB_STEP_SUMMARY"' in run["run"]
    assert "build/plan-diff/pr-number" in run["run"]
    upload = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "plan-diff" and upload["with"]["path"] == "build/plan-diff/"


def test_the_commenter_runs_none_of_the_pull_requests_code_and_may_only_comment():
    workflow = _workflow("pr-comment.yml")
    trigger = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert trigger == {"workflow_run": {"workflows": ["pr"], "types": ["completed"]}}
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    for step in job["steps"]:
        assert "uses" not in step, "no action runs here: nothing is checked out, nothing downloaded runs"
        assert "${{" not in step["run"], "every value reaches the script through the environment"
    script = job["steps"][1]["run"]
    assert "*[!0-9]*" in script and "head -c 60000" in script and '--rawfile body "$body"' in script
    assert '"$pr_head" != "$HEAD_SHA"' in script
