"""The pack process: started with its own virtualenv in its own folder, configured and called over gRPC as the
engine does, always terminated."""

from __future__ import annotations

import datetime
import json
import os
import selectors
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from infra.model import yamlio
from infra.offline.gate.report import LEVEL_NAMES, LEVELS, SEVERITIES, SKIPPED_PREFIX, GateError, GateReport, PolicyInfo
from infra.offline.gate.settings import PACK_DIR, exemption_status
from infra.offline.gate.wire import options, provider_reference, stack_resource, struct, wire
from infra.offline.harness import RecordedResource, Recording

START_TIMEOUT_SECONDS = 30.0


# The pack never calls the engine; the CLI passes its own address here, the gate a placeholder.
ENGINE_ADDRESS = "127.0.0.1:0"


ORGANIZATION = "organization"


MAX_MESSAGE = 400 * 1024 * 1024
POLICY_TYPES = {analyzer_pb2.POLICY_TYPE_RESOURCE: "resource", analyzer_pb2.POLICY_TYPE_STACK: "stack"}


class PolicyPackProcess:
    """One running pack. Start it once and analyse several recordings (tests do); always `close()` it."""

    def __init__(
        self,
        project: str,
        stack: str,
        preview: bool,
        pack_dir: Path = PACK_DIR,
        python: Path | None = None,
        stack_config: Mapping[str, str] | None = None,
    ) -> None:
        self.pack_dir = pack_dir
        self.python = python or pack_dir / "venv" / "bin" / "python"
        self.project, self.stack, self.preview = project, stack, preview
        self.stack_config = dict(stack_config or {})
        self._process: subprocess.Popen | None = None
        self._port_line = b""
        self._port_lock = threading.Lock()  # the port is read by one thread at a time (the gate's sender, a caller)
        self._close_lock = threading.Lock()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._channel: grpc.Channel | None = None
        self.client: analyzer_pb2_grpc.AnalyzerStub | None = None
        self.name = self.version = ""
        self.policies: dict[str, PolicyInfo] = {}

    def __enter__(self) -> PolicyPackProcess:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def launch(self) -> None:
        """Start the pack's process without waiting for it: it imports while the caller does other work."""
        if self._process is not None:
            return
        if not self.python.exists():
            raise GateError(f"{self.python}: the pack's virtualenv is missing; run `make policy-venv`")
        venv = self.python.parent.parent
        env = {key: value for key, value in os.environ.items() if key not in ("PYTHONHOME", "PYTHONPATH")}
        env.update(
            PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            PULUMI_PROJECT=self.project,
            PULUMI_STACK=self.stack,
            PULUMI_DRY_RUN="true" if self.preview else "false",
            PULUMI_ORGANIZATION=ORGANIZATION,
        )
        env.pop("PULUMI_CONFIG", None)
        if self.stack_config:
            env["PULUMI_CONFIG"] = json.dumps(self.stack_config)
        self._process = subprocess.Popen(
            [str(self.python), "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, "."],
            cwd=self.pack_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )

    def start(self) -> None:
        """Launch (unless launched), then connect, read the pack's policies and configure the stack."""
        if self.client is not None:
            return
        self.launch()
        try:
            port = self._read_port()
            self._channel = grpc.insecure_channel(
                f"127.0.0.1:{port}",
                options=[
                    ("grpc.max_receive_message_length", MAX_MESSAGE),
                    ("grpc.max_send_message_length", MAX_MESSAGE),
                ],
            )
            grpc.channel_ready_future(self._channel).result(timeout=START_TIMEOUT_SECONDS)
            self.client = analyzer_pb2_grpc.AnalyzerStub(self._channel)
            self._load_info()
            self.client.ConfigureStack(
                analyzer_pb2.AnalyzerStackConfigureRequest(
                    stack=self.stack, project=self.project, organization=ORGANIZATION, dry_run=self.preview
                )
            )
        except BaseException:
            self.close()
            raise

    def ready(self) -> bool:
        """True once the pack has printed its port (it is serving); never waits."""
        if self._port_line.endswith(b"\n"):
            return True
        if not self._port_lock.acquire(blocking=False):
            return False  # another thread is reading the port
        try:
            return self._read_port_chunk(timeout=0.0)
        finally:
            self._port_lock.release()

    def _read_port_chunk(self, timeout: float) -> bool:
        """Read what the pack printed within `timeout` seconds; True once its port line is complete."""
        assert self._process is not None and self._process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                return False
        chunk = os.read(self._process.stdout.fileno(), 64)
        if not chunk:
            raise GateError(f"the policy pack exited before it started{self._errors()}")
        self._port_line += chunk
        return self._port_line.endswith(b"\n")

    def _read_port(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._port_line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GateError(f"the policy pack printed no port within {START_TIMEOUT_SECONDS:.0f} s{self._errors()}")
            with self._port_lock:
                if not self._port_line.endswith(b"\n"):
                    self._read_port_chunk(remaining)
        try:
            return int(self._port_line.strip())
        except ValueError:
            raise GateError(
                f"the policy pack printed {self._port_line!r} instead of its port{self._errors()}"
            ) from None

    def _errors(self) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        return f":\n{text}" if text else ""

    def _load_info(self) -> None:
        assert self.client is not None
        info = self.client.GetAnalyzerInfo(empty_pb2.Empty())
        # As the CLI does, the version in PulumiPolicy.yaml wins over the one the pack reports.
        declared = yamlio.load((self.pack_dir / "PulumiPolicy.yaml").read_text()) or {}
        self.name, self.version = info.name, str(declared.get("version") or info.version)
        for policy in info.policies:
            schema = (
                json_format.MessageToDict(policy.configSchema.properties) if policy.HasField("configSchema") else {}
            )
            self.policies[policy.name] = PolicyInfo(
                name=policy.name,
                code=policy.framework.reference,
                severity=SEVERITIES.get(policy.severity, ""),
                level=LEVEL_NAMES[policy.enforcementLevel],
                description=policy.description,
                config_schema=schema,
                required=tuple(policy.configSchema.required),
                kind=POLICY_TYPES.get(policy.policy_type, ""),
                tags=tuple(policy.tags),
            )

    def configure(self, config: Mapping[str, tuple[str, dict[str, Any]]]) -> None:
        assert self.client is not None
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, (level, properties) in config.items():
            entry = request.policyConfig[name]
            entry.enforcementLevel = LEVELS[level]
            entry.properties.update(properties)
        self.client.Configure(request)

    def analyze(self, recording: Recording, config: Mapping[str, tuple[str, dict[str, Any]]],
                evaluation_date: datetime.date | None = None) -> GateReport:
        """Configure the pack, then run every resource policy and the stack policies over `recording`."""
        analysis = Analysis(self, config, evaluation_date)
        for resource in recording.resources:
            analysis.offer(resource)
        return analysis.finish(recording)

    def _record(self, report: GateReport, diagnostic: Any, analysed_urn: str, config: Mapping) -> None:
        policy = self.policies.get(diagnostic.policyName)
        code = policy.code if policy else ""
        message = diagnostic.message
        if message.startswith(diagnostic.description + "\n"):
            message = message[len(diagnostic.description) + 1 :]
        entry = {
            "policy": diagnostic.policyName,
            "code": code,
            "level": LEVEL_NAMES[diagnostic.enforcementLevel],
            "urn": diagnostic.urn or analysed_urn,
            "message": message,
            "severity": SEVERITIES.get(diagnostic.severity, ""),
        }
        if message.startswith(SKIPPED_PREFIX):
            entry["level"] = config.get(diagnostic.policyName, ("advisory", {}))[0]
            entry["severity"] = policy.severity if policy else ""
            entry["message"] = f"not evaluated: {message}"
            report.skipped.append(dict(entry))
        report.violations.append(entry)

    def close(self) -> None:
        """Stop the pack. Safe to call from two threads at once (the gate's sender and its owner both may): one
        of them does the work, the other returns once it is done."""
        with self._close_lock:
            channel, self._channel = self._channel, None
            process, self._process = self._process, None
            if channel is not None:
                channel.close()
            if process is not None:
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
                if process.stdout is not None:
                    process.stdout.close()
                self._port_line = b""
            self._stderr.close()


class Analysis:
    """One run of a started pack over a program, in the engine's order.

    `offer()` sends a resource's `Analyze` call as soon as the resource is known (the engine does this as each
    resource registers) without waiting for the answer: the pack works through the calls while later ones are
    prepared. `finish()` sends `AnalyzeStack` over the whole recording, then gathers every answer into one report.
    """

    def __init__(self, pack: PolicyPackProcess, config: Mapping[str, tuple[str, dict[str, Any]]],
                 evaluation_date: datetime.date | None = None) -> None:
        self.pack, self.config = pack, config
        self.evaluation_date = evaluation_date or datetime.datetime.now(datetime.UTC).date()
        self.started = time.perf_counter()
        pack.configure(config)
        self._by_urn: dict[str, RecordedResource] = {}
        self._calls: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def offer(self, resource: RecordedResource) -> None:
        with self._lock:
            self._by_urn[resource.urn] = resource
            assert self.pack.client is not None
            request = analyzer_pb2.AnalyzeRequest(
                type=resource.type,
                properties=struct(wire(resource.inputs)),
                urn=resource.urn,
                name=resource.name,
                options=options(resource),
                provider=provider_reference(resource, self._by_urn),
            )
            self._calls.append((resource.urn, self.pack.client.Analyze.future(request)))

    def finish(self, recording: Recording) -> GateReport:
        by_urn = recording.by_urn()
        missing = [resource for resource in recording.resources if resource.urn not in self._by_urn]
        for resource in missing:
            self.offer(resource)
        assert self.pack.client is not None
        stack_call = self.pack.client.AnalyzeStack.future(
            analyzer_pb2.AnalyzeStackRequest(
                resources=[stack_resource(r, by_urn, recording.preview) for r in recording.resources]
            )
        )
        findings: list[tuple[analyzer_pb2.AnalyzeDiagnostic, str]] = []
        not_applicable: set[tuple[str, str, str]] = set()
        for urn, call in self._calls:
            response = call.result()
            findings.extend((diagnostic, urn) for diagnostic in response.diagnostics)
            not_applicable.update((item.policy_name, urn, item.reason) for item in response.not_applicable)
        stack_response = stack_call.result()
        findings.extend((diagnostic, "") for diagnostic in stack_response.diagnostics)
        not_applicable.update((item.policy_name, "", item.reason) for item in stack_response.not_applicable)
        report = GateReport(
            self.pack.name, self.pack.version, recording.stack, recording.preview, resources=len(recording.resources),
            evaluation_date=self.evaluation_date.isoformat(),
            **exemption_status(self.pack.policies.values(), self.config, self.evaluation_date,
                               self.pack.pack_dir, self.pack.python),
            settings={name: dict(properties) for name, (_, properties) in sorted(self.config.items())},
            not_applicable=sorted(not_applicable),
            levels={name: level for name, (level, _) in sorted(self.config.items())},
            policies=dict(self.pack.policies),
        )
        for diagnostic, analysed_urn in findings:
            self.pack._record(report, diagnostic, analysed_urn, self.config)
        report.violations.sort(key=lambda v: (v["policy"], v["urn"], v["message"]))
        report.skipped.sort(key=lambda v: (v["policy"], v["urn"], v["message"]))
        report.seconds = time.perf_counter() - self.started
        return report
