"""CODEOWNERS gives the security team every path that can weaken the policy gate, and every line of it matches."""
import re
import subprocess
from pathlib import Path

import pytest
from codeowners import CodeOwners

ROOT = Path(__file__).resolve().parents[1]
CODEOWNERS = ROOT / ".github" / "CODEOWNERS"
SECURITY_TEAM = "@example-org/security-team"

# One file for each way of weakening what the security team relies on: a policy, its enforcement, its tests, the
# gate that runs it, the facts the gate hands it, and what CI and the deploy run.
GUARDED = (
    "policies/storage_aws.py", "policies/config/prod.json", "policies/config/dev.json", "policies/requirements.txt",
    "policies/PulumiPolicy.yaml", "policies/pack.mk", "tests/policies/policy_eval.py",
    "infra/offline/gate/process.py", "infra/offline/plan.py", "infra/offline/policy_config.py",
    "infra/offline/role_matrix.py", "infra/offline/security_mutants/resources.py", "infra/offline/render/gate.py",
    "infra/offline/plan_diff.py", "infra/offline/plan_diff_engine.py",
    "infra/offline/evidence.py", "infra/offline/evidence_controls.py", "infra/offline/cis_benchmarks.json",
    "Makefile", ".ci/run", ".github/workflows/deploy.yml",
    ".github/workflows/pr.yml", ".github/CODEOWNERS",
)
# What teams change every day stays theirs to review: the file must not be a blanket rule.
UNGUARDED = ("components/platform.py", "dbt/dbt_project.yml", "Pulumi.prod.yaml", "README.md")


def _tracked() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return listed.stdout.splitlines()


def _rules() -> list[tuple[int, str, list[str]]]:
    rules = []
    for number, line in enumerate(CODEOWNERS.read_text().splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *owners = line.split()
            rules.append((number, pattern, owners))
    return rules


@pytest.mark.parametrize("path", GUARDED)
def test_guarded_path_needs_the_security_team(path):
    assert (ROOT / path).exists(), f"{path} is listed as guarded but does not exist: update GUARDED"
    owners = [owner for _, owner in CodeOwners(CODEOWNERS.read_text()).of(path)]
    assert owners == [SECURITY_TEAM], f"{path}: owners {owners}, expected only {SECURITY_TEAM}"


@pytest.mark.parametrize("path", UNGUARDED)
def test_everyday_path_is_not_held_by_the_security_team(path):
    assert (ROOT / path).exists()
    assert CodeOwners(CODEOWNERS.read_text()).of(path) == []


def test_every_rule_matches_a_tracked_file():
    """A pattern with a typo enforces nothing and says nothing: each must own at least one tracked file."""
    tracked = _tracked()
    for number, pattern, _owners in _rules():
        single = CodeOwners(f"{pattern} {SECURITY_TEAM}\n")
        assert any(single.of(path) for path in tracked), f"CODEOWNERS line {number}: {pattern} matches no file"


def test_rules_use_only_what_github_reads():
    """GitHub ignores a line with negation, a character range or an escaped `#`, and an owner that is not a user,
    a team or an e-mail (docs.github.com, "About code owners", CODEOWNERS syntax)."""
    owner = re.compile(r"^(@[A-Za-z0-9-]+(/[A-Za-z0-9._-]+)?|[^@\s]+@[^@\s]+)$")
    for number, pattern, owners in _rules():
        assert not pattern.startswith("!") and "[" not in pattern and "\\#" not in pattern, f"line {number}"
        assert owners, f"CODEOWNERS line {number}: {pattern} has no owner"
        assert all(owner.match(name) for name in owners), f"CODEOWNERS line {number}: owners {owners}"


def test_readme_says_to_replace_the_team_and_require_code_owner_review():
    readme = (ROOT / "README.md").read_text()
    assert SECURITY_TEAM in readme
    assert "Require review from Code Owners" in readme
