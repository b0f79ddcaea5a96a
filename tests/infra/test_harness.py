"""The mock harness records what the engine would see, per run, with secrets as searchable sentinels."""

from __future__ import annotations

import json

import pulumi
import pulumi_random as random

from infra.model.stackfiles import load_stack
from infra.offline.harness import SECRET_SENTINEL_PREFIX, UNKNOWN, is_secret, run_program, unwrap_secret
from tests.conftest import run_stack


class Holder(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("dataplatform:test:Holder", name)
        self.password = random.RandomPassword(f"{name}-password", length=20, opts=pulumi.ResourceOptions(parent=self))
        self.copy = random.RandomPassword(
            f"{name}-copy",
            length=self.password.length,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.password], protect=True,
                                        ignore_changes=["length"]),
        )
        self.register_outputs({})


def program() -> None:
    holder = Holder("holder")
    pulumi.export("password", holder.password.result)


def test_records_parent_dependencies_options_and_wire_inputs():
    recording = run_program(program, load_stack("dev"))
    holder, password, copy = (recording.named(name) for name in ("holder", "holder-password", "holder-copy"))
    assert not holder.custom and password.custom
    assert password.parent == holder.urn and copy.parent == holder.urn
    assert copy.dependencies == [password.urn]
    assert copy.protect is True and password.protect is False
    assert copy.ignore_changes == ["length"]
    assert password.inputs["length"] == 20.0  # numbers travel as floats on the wire


def test_secrets_are_sentinels_and_marked_secret():
    recording = run_program(program, load_stack("dev"))
    exported = recording.stack_outputs["password"]
    assert is_secret(exported)
    assert exported["value"].startswith(SECRET_SENTINEL_PREFIX) and len(exported["value"]) > 40


def test_preview_semantics_leave_computed_outputs_unknown():
    recording = run_program(program, load_stack("dev"), preview=True)
    assert recording.named("holder-copy").inputs["length"] == 20.0  # inputs echo back at preview
    assert unwrap_secret(recording.stack_outputs["password"]) == UNKNOWN


def test_each_run_starts_fresh():
    first = run_program(program, load_stack("dev"))
    second = run_program(program, load_stack("prod"))
    assert [r.name for r in first] == [r.name for r in second]
    assert all(r.urn.startswith("urn:pulumi:prod::") for r in second)


def test_whole_program_leaks_no_secret_into_plain_inputs_or_outputs():
    for stack in ("dev", "prod"):
        recording = run_stack(stack)
        for resource in recording:
            plain = {key: value for key, value in resource.inputs.items() if not is_secret(value)}
            assert SECRET_SENTINEL_PREFIX not in json.dumps(plain), resource.urn
        plain_outputs = {k: v for k, v in recording.stack_outputs.items() if not is_secret(v)}
        assert SECRET_SENTINEL_PREFIX not in json.dumps(plain_outputs)


def test_registrations_carry_no_source_positions_and_the_sdk_is_left_as_found(monkeypatch):
    """Nothing reads source positions under the mocks: the run leaves out the SDK's stack walk, and only the run."""
    import pulumi.runtime.resource as sdk_resource

    from infra.offline import harness

    seen = []
    register = harness.RecordingMonitor.RegisterResource

    def spy(self, request):
        seen.append((request.name, len(request.stackTrace.frames), request.HasField("sourcePosition")))
        return register(self, request)

    monkeypatch.setattr(harness.RecordingMonitor, "RegisterResource", spy)
    capture = sdk_resource._get_stack_trace
    run_program(program, load_stack("dev"))
    assert {name for name, _, _ in seen} >= {"holder", "holder-password", "holder-copy"}
    assert all(frames == 0 and not positioned for _, frames, positioned in seen), seen
    assert sdk_resource._get_stack_trace is capture
