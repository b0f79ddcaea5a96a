"""Proves the pack is self-contained: copied under another name, with nothing of the repository importable, it
starts as the CLI starts it and judges releases by the chart facts of its config alone; the program imports none
of it."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from kubernetes_fixtures import baseline, changed
from policy_fixtures import fixture_config
from pulumi.runtime.proto import analyzer_pb2_grpc

from infra.offline.gate import ENGINE_ADDRESS, PolicyPackProcess, load_config_file, reconcile
from infra.offline.harness import Recording
from policies.registry import PACK_NAME, POLICIES

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "policies"
PROGRAM = ("infra", "components")
RESTRICTED = "kubernetes-pod-require-restricted-security"
REDIS = "Release 'redis' (chart valkey)"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(relative level, module) of every import statement in a Python file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def top_level(module: str) -> str:
    return module.split(".", 1)[0]


def test_the_program_imports_nothing_of_the_pack() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for folder in PROGRAM
        for path in sorted((ROOT / folder).rglob("*.py"))
        for level, module in imported_modules(path)
        if level == 0 and top_level(module) == "policies"
    ]
    assert offenders == []


def test_the_pack_imports_nothing_of_the_program_and_itself_only_relatively() -> None:
    offenders = [
        f"{path.name}: {module}"
        for path in sorted(PACK.glob("*.py"))
        for level, module in imported_modules(path)
        if level == 0 and top_level(module) in ("policies", "tests", "dbt", *PROGRAM)
    ]
    assert offenders == []


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pack's files as `pulumi policy publish` packs them, in a folder named otherwise, with its virtualenv.

    The virtualenv is the one `make policy-venv` builds from requirements.txt (building a fresh one needs the
    package index); `test_the_copy_cannot_see_the_repository` proves it brings nothing of the repository along.
    """
    folder = tmp_path_factory.mktemp("published") / "guardrails"
    shutil.copytree(PACK, folder, ignore=shutil.ignore_patterns("venv", "__pycache__", "*.pyc"))
    venv = (PACK / "venv").resolve()
    if not (venv / "bin" / "python").exists():
        pytest.fail("policies/venv is missing; run `make policy-venv`")
    (folder / "venv").symlink_to(venv)
    return folder


def isolated_env() -> dict[str, str]:
    """The environment a pack gets from the CLI, without anything that points Python at the repository."""
    return {key: value for key, value in os.environ.items()
            if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE")}


def run_python(folder: Path, code: str) -> str:
    result = subprocess.run([str(folder / "venv" / "bin" / "python"), "-c", code], cwd=folder, env=isolated_env(),
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


@pytest.mark.integration
def test_the_copy_cannot_see_the_repository(shipped: Path) -> None:
    probe = (
        "import importlib.util, json, sys\n"
        "print(json.dumps({'path': sys.path, 'found': [name for name in ('policies', 'infra', 'components', "
        "'tests') if importlib.util.find_spec(name) is not None]}))\n"
    )
    seen = json.loads(run_python(shipped, probe))
    assert seen["found"] == []
    assert str(ROOT) not in seen["path"] and str(PACK) not in seen["path"]


# Run by the copy's interpreter in the copy's folder: the pinned versions, and every installed distribution that
# requirements.txt does not bring in (pip and setuptools come with any virtualenv).
REQUIREMENTS_PROBE = """
import importlib.metadata as metadata, json
try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name
lines = [line.strip() for line in open("requirements.txt") if line.strip() and not line.startswith("#")]
roots = [Requirement(line) for line in lines]
needed, todo = set(), list(roots)
while todo:
    requirement = todo.pop()
    name = canonicalize_name(requirement.name)
    if name in needed:
        continue
    needed.add(name)
    for text in metadata.requires(requirement.name) or []:
        dependency = Requirement(text)
        extras = requirement.extras or {""}
        if dependency.marker is None or any(dependency.marker.evaluate({"extra": extra}) for extra in extras):
            todo.append(dependency)
installed = {canonicalize_name(dist.metadata["Name"]) for dist in metadata.distributions()}
print(json.dumps({
    "versions": {root.name: metadata.version(root.name) for root in roots},
    "unrequired": sorted(installed - needed - {"pip", "setuptools"}),
}))
"""


@pytest.mark.integration
def test_the_copy_has_its_requirements_and_nothing_else(shipped: Path) -> None:
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (shipped / "requirements.txt").read_text(), re.MULTILINE))
    assert pins, "requirements.txt pins nothing"
    assert json.loads(run_python(shipped, REQUIREMENTS_PROBE)) == {"versions": pins, "unrequired": []}


@pytest.fixture(scope="module")
def copy_pack(shipped: Path):
    """The copy, started as the CLI starts it: its venv's python, `-m pulumi.policy <engine> .` in its folder."""
    process = PolicyPackProcess("dataplatform", "prod", preview=False, pack_dir=shipped,
                                python=shipped / "venv" / "bin" / "python")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PYTHONPATH", raising=False)
        process.start()
    try:
        yield process
    finally:
        process.close()


def config(pack: PolicyPackProcess, document: dict):
    """The copy's `config/prod.json` (or a variant of it), reconciled with the pack's defaults as the CLI does."""
    path = pack.pack_dir / "config" / "variant.json"
    path.write_text(json.dumps(document))
    return reconcile(pack.policies.values(), load_config_file(path), origin=str(path))


def prod_config(pack: PolicyPackProcess) -> dict:
    """The copy's prod config, with an empty allow-list: its exemptions name the program's resources."""
    return fixture_config("prod", {}, pack.pack_dir / "config")


def findings(pack: PolicyPackProcess, recording: Recording, document: dict) -> set[tuple[str, str, str, str]]:
    report = pack.analyze(recording, config(pack, document))
    assert report.skipped == []
    names = {resource.urn: resource.name for resource in recording.resources}
    return {(v["policy"], v["level"], names.get(v["urn"], v["urn"]), v["message"]) for v in report.violations}


@pytest.mark.integration
def test_the_copy_describes_itself_over_grpc(copy_pack: PolicyPackProcess) -> None:
    assert copy_pack.name == PACK_NAME
    assert list(copy_pack.policies) == [policy.name for policy in POLICIES]
    assert set(copy_pack.policies[RESTRICTED].config_schema) == {"exemptions", "evaluationDate", "charts"}


@pytest.mark.integration
def test_the_copy_passes_a_compliant_workload_and_release(copy_pack: PolicyPackProcess) -> None:
    assert findings(copy_pack, baseline(), prod_config(copy_pack)) == set()


@pytest.mark.integration
def test_the_copy_flags_a_release_at_the_paths_its_config_records(copy_pack: PolicyPackProcess) -> None:
    root = changed(baseline(), "redis", lambda inputs: inputs["values"]["podSecurityContext"].update(
        runAsNonRoot=False))
    assert findings(copy_pack, root, prod_config(copy_pack)) == {(
        RESTRICTED, "mandatory", "redis",
        f"{REDIS} values do not set restricted security contexts (podSecurityContext: runAsNonRoot is not true); "
        "build its values with components/kit/release.py.",
    )}
    # The same release judged with the valkey chart's pod path moved elsewhere in the config: the pack reads
    # the values where the config says, so the root pod context is no longer seen and a missing one is.
    moved = prod_config(copy_pack)
    moved[RESTRICTED]["charts"]["valkey"]["podSecurity"] = ["server.podSecurityContext"]
    assert findings(copy_pack, root, moved) == {(
        RESTRICTED, "mandatory", "redis",
        f"{REDIS} values do not set restricted security contexts (server.podSecurityContext: runAsNonRoot is not "
        "true; server.podSecurityContext: seccompProfile is not RuntimeDefault); build its values with "
        "components/kit/release.py.",
    )}


@pytest.mark.integration
def test_the_copy_knows_no_chart_its_config_does_not_record(copy_pack: PolicyPackProcess) -> None:
    without_valkey = prod_config(copy_pack)
    for name in without_valkey:
        if isinstance(without_valkey[name], dict) and "charts" in without_valkey[name]:
            without_valkey[name]["charts"].pop("valkey")
    assert findings(copy_pack, baseline(), without_valkey) == {(
        RESTRICTED, "mandatory", "redis",
        "Release 'redis' (chart valkey) uses a chart without recorded hardening paths; record it in this policy's "
        "`charts` setting (the stack's policy config, `make policy-config`) so its values can be checked.",
    )}


@pytest.mark.integration
def test_the_copy_flags_a_violating_workload_and_a_plaintext_release_secret(copy_pack: PolicyPackProcess) -> None:
    recording = changed(baseline(), "dbt-runner", lambda inputs: inputs["spec"]["jobTemplate"]["spec"]["template"][
        "spec"]["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True))
    recording = changed(recording, "redis", lambda inputs: inputs["values"]["auth"].update(
        aclConfig="user default on >hunter2 ~* +@all"))
    assert findings(copy_pack, recording, prod_config(copy_pack)) == {
        (RESTRICTED, "mandatory", "dbt-runner",
         "CronJob 'dbt-runner' does not meet the restricted pod security standard (container runner: "
         "allowPrivilegeEscalation is not false); set the restricted security contexts on its pod and containers."),
        ("kubernetes-secret-disallow-plaintext", "mandatory", "redis",
         f"{REDIS} holds secrets in plain text (auth.aclConfig); reference a Kubernetes Secret instead."),
    }


@pytest.mark.integration
def test_the_copy_starts_from_another_working_directory(shipped: Path, tmp_path: Path) -> None:
    """The CLI may name the pack's folder by an absolute path; the folder is found from `__main__.py` itself."""
    env = {**isolated_env(), "PULUMI_PROJECT": "dataplatform", "PULUMI_STACK": "prod", "PULUMI_DRY_RUN": "true"}
    process = subprocess.Popen(
        [str(shipped / "venv" / "bin" / "python"), "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, str(shipped)],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        line = process.stdout.readline()
        assert line.strip().isdigit(), f"the pack printed {line!r}: {process.stderr.read().decode()}"
        port = int(line)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty())
        assert (info.name, len(info.policies)) == (PACK_NAME, len(POLICIES))
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
