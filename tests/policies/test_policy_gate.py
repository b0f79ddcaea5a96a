"""Proves the gate drives the real pack process over gRPC with each stack's config, at update and preview semantics."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest
from policy_fixtures import EVALUATION_DATE, minio_stack, mutated, s3_stack, without, write_fixture_config

from infra.offline.gate import GateError, PolicyPackProcess, StreamingGate, load_config_file, reconcile, run_gate
from infra.offline.gate import process as gate_process
from infra.offline.harness import UNKNOWN

pytestmark = pytest.mark.integration

PACK = Path(__file__).resolve().parents[2] / "policies"
COMPANIONS = {
    "lake-bronze-encryption": "lake-bronze",
    "lake-bronze-versioning": "lake-bronze",
    "lake-bronze-public-access-block": "lake-bronze",
    "lake-bronze-ownership": "lake-bronze",
    "lake-bronze-lifecycle": "lake-bronze",
    "lake-bronze-policy": "lake-bronze",
    "lake-bronze-logging": "lake-bronze",
    "lake-logs-lifecycle": "lake-logs",
    "lake-logs-object-lock": "lake-logs",
}


@pytest.fixture(scope="module")
def pack():
    with PolicyPackProcess("dataplatform", "prod", preview=True) as process:
        yield process


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stacks' configs with the allow-list naming the fixtures' resources (policy_fixtures.fixture_config)."""
    folder = tmp_path_factory.mktemp("config")
    for stack in ("dev", "prod"):
        write_fixture_config(stack, folder)
    return folder


CONFIGS: list[Path] = []


@pytest.fixture(autouse=True)
def _configs(configs: Path) -> None:
    CONFIGS[:] = [configs]


def analyze(pack: PolicyPackProcess, recording, stack: str):
    config = reconcile(pack.policies.values(), load_config_file(CONFIGS[0] / f"{stack}.json"),
                       evaluation_date=EVALUATION_DATE)
    return pack.analyze(recording, config, EVALUATION_DATE)


@pytest.mark.parametrize("preview", [False, True], ids=["update", "preview"])
def test_prod_baseline_has_no_violation_and_nothing_skipped(pack, preview: bool) -> None:
    report = analyze(pack, s3_stack(preview=preview), "prod")
    assert (report.violations, report.skipped, report.passed) == ([], [], True)


@pytest.mark.parametrize("preview", [False, True], ids=["update", "preview"])
def test_dev_baseline_has_no_violation(pack, preview: bool) -> None:
    report = analyze(pack, minio_stack(preview=preview), "dev")
    assert (report.violations, report.skipped) == ([], [])


@pytest.mark.parametrize("name", COMPANIONS)
def test_removing_a_security_companion_fails_prod(pack, name: str) -> None:
    baseline = s3_stack(preview=True)
    bucket_urn = baseline.named(COMPANIONS[name]).urn
    report = analyze(pack, without(baseline, name), "prod")
    assert not report.passed
    assert {v["urn"] for v in report.mandatory} == {bucket_urn}


def test_violation_fields_come_from_the_pack(pack) -> None:
    recording = mutated(s3_stack(preview=True))
    recording.named("lake-kms").inputs["enableKeyRotation"] = False
    report = analyze(pack, recording, "prod")
    assert report.violations == [
        {
            "policy": "aws-kms-key-enable-rotation",
            "code": "DP-KMS-001",
            "level": "mandatory",
            "urn": recording.named("lake-kms").urn,
            "message": "KMS key 'lake-kms' does not rotate; set enableKeyRotation to true on it.",
            "severity": "medium",
        }
    ]


def test_dev_reports_advisory_and_disables_protection(pack) -> None:
    recording = mutated(minio_stack())
    recording.named("lake-minio").inputs["minioSsl"] = "false"
    recording.named("lake-gold").protect = False
    report = analyze(pack, recording, "dev")
    assert [(v["policy"], v["level"]) for v in report.violations] == [("minio-provider-require-tls", "advisory")]
    assert report.passed


def test_gate_counts_a_policy_skipped_at_preview(tmp_path: Path) -> None:
    """A policy that touches an unknown value is skipped by the SDK; the gate turns that into a finding."""
    (tmp_path / "PulumiPolicy.yaml").write_text(
        "name: naive\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n"
    )
    (tmp_path / "venv").symlink_to(PACK / "venv")
    (tmp_path / "__main__.py").write_text(
        "from pulumi_policy import PolicyPack, ResourceValidationPolicy, EnforcementLevel\n"
        "def validate(args, report):\n"
        "    if args.props.get('bucket') is None:\n"
        "        report('no bucket')\n"
        "PolicyPack('naive', [ResourceValidationPolicy('naive-bucket-require-name', 'reads bucket', validate)],\n"
        "           enforcement_level=EnforcementLevel.MANDATORY)\n"
    )
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "prod.json").write_text('{"all": "mandatory"}')
    recording = without(s3_stack(preview=True), "lake-kms-alias")
    recording.resources = [r for r in recording.resources if r.inputs.get("bucket") == UNKNOWN][:1]
    report = run_gate(recording, "prod", pack_dir=tmp_path)
    assert [(v["policy"], v["level"]) for v in report.skipped] == [("naive-bucket-require-name", "mandatory")]
    assert report.skipped[0]["message"].startswith("not evaluated: can't run policy 'naive-bucket-require-name'")
    assert not report.passed


def test_unknown_policy_in_config_is_an_error(pack, tmp_path: Path) -> None:
    path = tmp_path / "prod.json"
    path.write_text('{"all": "mandatory", "aws-s3-bucket-enable-encrytion": "disabled"}')
    with pytest.raises(GateError, match="aws-s3-bucket-enable-encrytion: no such policy"):
        reconcile(pack.policies.values(), load_config_file(path), origin=str(path))


def test_invalid_setting_is_an_error(pack, tmp_path: Path) -> None:
    path = tmp_path / "prod.json"
    path.write_text('{"aws-s3-bucket-enable-object-lock": {"minDays": "ninety"}}')
    with pytest.raises(GateError, match="aws-s3-bucket-enable-object-lock: minDays"):
        reconcile(pack.policies.values(), load_config_file(path), origin=str(path))


def test_run_gate_starts_the_pack_and_stops_it(monkeypatch) -> None:
    """One pack process per run, gone when the report is back (its cost is measured by `make plan-bench`)."""
    started: list[subprocess.Popen] = []
    popen = subprocess.Popen

    def recorded(*args, **kwargs):
        process = popen(*args, **kwargs)
        if "pulumi.policy" in args[0]:  # the pack's process, not the pack's interpreter judging the exemptions
            started.append(process)
        return process

    monkeypatch.setattr(gate_process.subprocess, "Popen", recorded)
    recording = s3_stack(preview=True)
    report = run_gate(recording, "prod", config_file=CONFIGS[0] / "prod.json", evaluation_date=EVALUATION_DATE)
    assert report.pack == "dataplatform-policies" and report.resources == len(recording.resources) >= 90
    assert report.passed
    assert len(started) == 1 and started[0].poll() is not None, "the pack process outlived the gate"


def test_streaming_gate_reports_what_the_batch_gate_reports(pack) -> None:
    """The plan offers each resource while the program runs; the report must equal one over the finished program."""
    recording = without(s3_stack(preview=True), "lake-bronze-encryption")
    gate = StreamingGate("dataplatform", "prod", preview=True, config_file=CONFIGS[0] / "prod.json",
                         evaluation_date=EVALUATION_DATE)
    try:
        gate.launch()
        half = len(recording.resources) // 2
        for resource in recording.resources[:half]:  # queued: the pack is still starting
            gate.offer(resource)
        deadline = time.monotonic() + 30
        while not gate.pack.ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        for resource in recording.resources[half:]:
            gate.offer(resource)
        assert sent_before_finish(gate, len(recording.resources)), "the gate waited for the program's end to send"
        streamed = gate.finish(recording)
    finally:
        gate.close()
    batch = analyze(pack, recording, "prod")
    assert streamed.mandatory and (streamed.violations, streamed.skipped) == (batch.violations, batch.skipped)
    assert streamed.resources == len(recording.resources)


def sent_before_finish(gate: StreamingGate, count: int) -> bool:
    """Whether the gate sends the offered resources' calls while the program still runs, before `finish()`."""
    deadline = time.monotonic() + 30
    while gate.sent < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return gate.sent == count


def test_streaming_gate_never_makes_a_registration_wait_for_the_pack(monkeypatch) -> None:
    """The SDK's registration threads call `offer()`: while the pack connects or a call is under way, it only queues."""
    recording = s3_stack(preview=True)
    calls_may_go = threading.Event()
    send = gate_process.Analysis.offer

    def held(analysis, resource):
        assert calls_may_go.wait(30)
        send(analysis, resource)

    monkeypatch.setattr(gate_process.Analysis, "offer", held)
    gate = StreamingGate("dataplatform", "prod", preview=True, config_file=CONFIGS[0] / "prod.json",
                         evaluation_date=EVALUATION_DATE)
    try:
        gate.launch()
        deadline = time.monotonic() + 30
        while not gate.pack.ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        for resource in recording.resources:
            gate.offer(resource)  # returns although no call can be sent
        assert gate.sent == 0
        calls_may_go.set()
        report = gate.finish(recording)
    finally:
        calls_may_go.set()
        gate.close()
    assert report.resources == gate.sent == len(recording.resources)


def test_streaming_gate_reports_a_pack_that_cannot_start(tmp_path: Path) -> None:
    (tmp_path / "PulumiPolicy.yaml").write_text("name: broken\nruntime: python\n")
    (tmp_path / "venv").symlink_to(PACK / "venv")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "prod.json").write_text("{}")
    (tmp_path / "__main__.py").write_text("raise SystemExit('the pack cannot import its policies')\n")
    recording = s3_stack(preview=True)
    gate = StreamingGate("dataplatform", "prod", preview=True, pack_dir=tmp_path)
    try:
        gate.launch()
        for resource in recording.resources:
            gate.offer(resource)  # never raises into the program
        with pytest.raises(GateError, match="exited before it started:\nthe pack cannot import its policies"):
            gate.finish(recording)
    finally:
        gate.close()


def test_streaming_gate_needs_the_stack_config_before_the_program_runs(tmp_path: Path) -> None:
    with pytest.raises(GateError, match=r"config/prod.json: no policy config for this stack"):
        StreamingGate("dataplatform", "prod", preview=True, pack_dir=tmp_path)


def test_streaming_gate_keeps_a_failure_out_of_the_program_and_reports_it(tmp_path: Path) -> None:
    """A resource the gate cannot send must not raise into the SDK's registration; finish() names the failure."""
    recording = s3_stack(preview=True)
    broken = recording.resources[0]
    unsendable = type(broken)(**{**broken.__dict__, "inputs": {"bucket": object()}})
    gate = StreamingGate("dataplatform", "prod", preview=True, config_file=CONFIGS[0] / "prod.json",
                         evaluation_date=EVALUATION_DATE)
    try:
        gate.launch()
        deadline = time.monotonic() + 30
        while not gate.pack.ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        gate.offer(unsendable)  # does not raise
        gate.offer(recording.resources[1])
        with pytest.raises(GateError, match="the policy gate failed while the program ran: "):
            gate.finish(recording)
    finally:
        gate.close()


def test_streaming_gate_takes_offers_from_several_threads_at_once(pack) -> None:
    """The SDK registers resources from its worker threads; concurrent offers must lose and repeat nothing."""
    from concurrent.futures import ThreadPoolExecutor

    recording = without(s3_stack(preview=True), "lake-logs-object-lock")
    gate = StreamingGate("dataplatform", "prod", preview=True, config_file=CONFIGS[0] / "prod.json",
                         evaluation_date=EVALUATION_DATE)
    try:
        gate.launch()
        half = len(recording.resources) // 2
        with ThreadPoolExecutor(max_workers=4) as workers:
            list(workers.map(gate.offer, recording.resources[:half]))  # queued while the pack starts
            deadline = time.monotonic() + 30
            while not gate.pack.ready() and time.monotonic() < deadline:
                time.sleep(0.02)
            list(workers.map(gate.offer, recording.resources[half:]))
        assert sent_before_finish(gate, len(recording.resources)), "the gate waited for the program's end to send"
        streamed = gate.finish(recording)
    finally:
        gate.close()
    batch = analyze(pack, recording, "prod")
    assert streamed.mandatory and (streamed.violations, streamed.skipped) == (batch.violations, batch.skipped)



def test_numbers_from_the_pack_config_print_whole_through_the_gate(pack) -> None:
    """The engine hands policy config over as protobuf values, where 7 arrives as 7.0: messages still print 7."""
    from tests.support.recordings import record_metadata

    recording = mutated(record_metadata("prod"))
    recording.named("metadata-instance").inputs["backupRetentionPeriod"] = 3.0
    messages = [violation["message"] for violation in analyze(pack, recording, "prod").violations
                if violation["policy"] == "aws-rds-instance-configure-backup-retention"]
    assert messages == ["RDS instance 'dataplatform-prod-metadata' keeps backups 3 days; set backupRetentionPeriod "
                        "to at least 7."]
