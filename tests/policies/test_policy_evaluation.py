"""The pack converts each resource once per analyzer call (policies/evaluation.py); no finding may change."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from infra.offline.gate import PolicyPackProcess, load_config_file, reconcile
from infra.offline.harness import Recording

pytestmark = pytest.mark.integration

PACK = Path(__file__).resolve().parents[2] / "policies"
REPO = PACK.parent

# The same pack, built as the SDK alone would serve it: one conversion of each resource per policy.
PLAIN_MAIN = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from pulumi_policy import EnforcementLevel, PolicyPack
from policies.registry import PACK_NAME, POLICIES
PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.ADVISORY)
"""


@pytest.fixture(scope="module")
def plain_pack_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plain-pack")
    shutil.copy(PACK / "PulumiPolicy.yaml", folder / "PulumiPolicy.yaml")
    (folder / "__main__.py").write_text(PLAIN_MAIN)
    shutil.copy(PACK / "exemptions.py", folder / "exemptions.py")  # the gate judges exemptions with the pack's code
    return folder


def without_first(recording: Recording, type_: str) -> Recording:
    """The recording minus its first resource of `type_`: a program that breaks stack and resource policies."""
    removed = next(resource for resource in recording.resources if resource.type == type_)
    return Recording(recording.project, recording.stack, recording.preview,
                     [resource for resource in recording.resources if resource is not removed])


@pytest.mark.parametrize(("stack", "preview", "removed"), [
    ("prod", True, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"),
    ("dev", False, "minio:index/s3BucketVersioning:S3BucketVersioning"),
])
def test_shared_conversions_change_no_finding(stack_recording, plain_pack_dir, stack: str, preview: bool,
                                              removed: str) -> None:
    recording = without_first(stack_recording(stack, preview=preview), removed)
    with PolicyPackProcess("dataplatform", stack, preview) as fast, PolicyPackProcess(
        "dataplatform", stack, preview, pack_dir=plain_pack_dir, python=PACK / "venv" / "bin" / "python"
    ) as plain:
        config = reconcile(fast.policies.values(), load_config_file(PACK / "config" / f"{stack}.json"))
        shared, alone = fast.analyze(recording, config), plain.analyze(recording, config)
    assert len(shared.violations) >= 5
    assert (shared.violations, shared.skipped) == (alone.violations, alone.skipped)


def test_install_reports_an_unexpected_server_and_changes_nothing() -> None:
    """Run in the pack's own interpreter: a server without the expected shape is left exactly as it is."""
    script = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from pulumi_policy import policy as server\n"
        "from policies import evaluation\n"
        "original = server._PolicyAnalyzerServicer.Analyze\n"
        "del server.unknown_checking_proxy\n"
        "assert evaluation.install() is False\n"
        "assert server._PolicyAnalyzerServicer.Analyze is original\n"
        "from google.protobuf import json_format\n"
        "assert server.json_format is json_format\n"
        "print('unchanged')\n"
    )
    result = subprocess.run([str(PACK / "venv" / "bin" / "python"), "-c", script], capture_output=True, text=True,
                            check=False)
    assert (result.returncode, result.stdout.strip()) == (0, "unchanged"), result.stderr


def test_install_takes_effect_on_the_pinned_sdk() -> None:
    """The pinned pulumi-policy has the server shape the cache relies on; an upgrade that changes it fails here
    instead of silently losing the speed."""
    script = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from pulumi_policy import policy as server\n"
        "from policies import evaluation\n"
        "assert evaluation.install() is True and evaluation.install() is True\n"
        "assert isinstance(server.json_format, evaluation._SharedJsonFormat)\n"
        "print('installed')\n"
    )
    result = subprocess.run(
        [str(PACK / "venv" / "bin" / "python"), "-c", script], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, "installed"), result.stderr
