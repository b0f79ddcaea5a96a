"""The offline policy gate: the CrossGuard pack in `policies/`, driven over gRPC the way the Pulumi CLI drives it.

`run_gate(recording, stack)` starts `policies/__main__.py` with the pack's own virtualenv (`policies/venv`, as
`PulumiPolicy.yaml` declares; `make policy-venv` creates it), in the pack directory, with the environment the
CLI's `pulumi-analyzer-policy-python` shim sets (PULUMI_CONFIG, PULUMI_PROJECT, PULUMI_STACK, PULUMI_DRY_RUN,
PULUMI_ORGANIZATION). It reads the port the pack prints, then calls the Analyzer service as the engine does:
GetAnalyzerInfo, ConfigureStack, Configure (the stack's `policies/config/<stack>.json`, the same file users pass
as `--policy-pack-config`: levels, settings and the program's facts that `make policy-config` writes there,
reconciled with the pack's defaults as the CLI reconciles it), Analyze for every recorded resource and
AnalyzeStack once over all of them (parent, dependencies, property dependencies, options, provider). The process
is always terminated.
`StreamingGate` does the same while the program runs (the offline plan uses it): like the engine, it sends each
resource's Analyze call as the resource registers, so only AnalyzeStack is left when the program ends.

Stricter than the CLI, on purpose:
- a policy the pack could not run because it touched a value unknown at preview counts as a finding at the
  policy's configured level (the CLI only prints an advisory note), so an unevaluated mandatory policy fails;
- a config file key that names no policy of the pack is an error (the CLI ignores it silently);
- the pack gets no PYTHONPATH, so it runs with nothing but its own folder and virtualenv, as `pulumi policy
  publish` ships it, even when the program's environment points into the repository.

What the gate cannot see: provider defaults and anything a provider computes (it judges the inputs the program
declares, plus the mocks' outputs when the recording is not a preview); live state and drift; default providers
(never registered by the program, so policies on `pulumi:providers:*` see only explicit providers); resources
created outside this program; and stack tags (none are sent).
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from infra.model import yamlio
from infra.offline.harness import RecordedResource, Recording

REPO_ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = REPO_ROOT / "policies"
START_TIMEOUT_SECONDS = 30.0
# The pack never calls the engine; the CLI passes its own address here, the gate a placeholder.
ENGINE_ADDRESS = "127.0.0.1:0"
ORGANIZATION = "organization"
_MAX_MESSAGE = 400 * 1024 * 1024

LEVELS = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}
LEVEL_NAMES = {value: name for name, value in LEVELS.items()}
SEVERITIES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}
SKIPPED_PREFIX = "can't run policy '"


class GateError(Exception):
    """The pack could not be started, configured or run; the message says what to fix."""


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    code: str
    severity: str
    level: str
    description: str
    config_schema: dict[str, Any]
    required: tuple[str, ...]


@dataclass
class GateReport:
    pack: str
    version: str
    stack: str
    preview: bool
    violations: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    resources: int = 0
    seconds: float = 0.0

    @property
    def mandatory(self) -> list[dict[str, str]]:
        return [violation for violation in self.violations if violation["level"] == "mandatory"]

    @property
    def passed(self) -> bool:
        return not self.mandatory

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "version": self.version,
            "stack": self.stack,
            "preview": self.preview,
            "resources": self.resources,
            "passed": self.passed,
            "violations": self.violations,
            "skipped": self.skipped,
        }

    def to_text(self) -> str:
        lines = [
            f"policy gate: {self.pack}@{self.version} on stack {self.stack} "
            f"({'preview' if self.preview else 'update'} semantics, {self.resources} resources): "
            f"{len(self.mandatory)} mandatory, {len(self.violations) - len(self.mandatory)} other violations"
        ]
        for violation in self.violations:
            lines.append(
                f"  [{violation['level']}] {violation['code']} {violation['policy']} ({violation['severity']}): "
                f"{violation['message']}"
            )
        return "\n".join(lines)


# ---- policy pack config, reconciled as the CLI does ----------------------------------------------


def load_config_file(path: Path) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """`--policy-pack-config` JSON: policy name (or `all`) -> level string, or object with enforcementLevel."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise GateError(f"{path}: no policy config for this stack; add one (see docs/policies.md)") from None
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise GateError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise GateError(f"{path}: must be a JSON object of policy name -> level or settings")
    parsed: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for name, value in document.items():
        if isinstance(value, str):
            level, properties = value, {}
        elif isinstance(value, dict):
            properties = dict(value)
            level = properties.pop("enforcementLevel", None)
        else:
            raise GateError(f"{path}: {name}: must be an enforcement level or an object")
        if level is not None and level not in LEVELS:
            raise GateError(f"{path}: {name}: {level!r} is not one of {', '.join(LEVELS)}")
        parsed[name] = (level, properties)
    return parsed


def reconcile(
    policies: Iterable[PolicyInfo],
    given: Mapping[str, tuple[str | None, dict[str, Any]]],
    origin: str = "policy config",
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Schema defaults, then `all`, then each policy's own entry; validated against each policy's schema."""
    policies = list(policies)
    known_names = {policy.name for policy in policies}
    unknown = sorted(set(given) - known_names - {"all"})
    if unknown:
        raise GateError(f"{origin}: {', '.join(unknown)}: no such policy in the pack (see docs/policies.md)")
    result: dict[str, tuple[str, dict[str, Any]]] = {}
    all_level = given.get("all", (None, {}))[0]
    for policy in policies:
        properties = {key: spec["default"] for key, spec in policy.config_schema.items() if "default" in spec}
        level = all_level or policy.level
        own_level, own_properties = given.get(policy.name, (None, {}))
        properties.update(own_properties)
        result[policy.name] = (own_level or level, properties)
        _validate_properties(policy, properties, origin)
    return result


def _validate_properties(policy: PolicyInfo, properties: dict[str, Any], origin: str) -> None:
    import jsonschema

    schema: dict[str, Any] = {"type": "object"}
    if policy.config_schema:
        schema["properties"] = policy.config_schema
    if policy.required:
        schema["required"] = list(policy.required)
    try:
        jsonschema.validate(properties, schema)
    except jsonschema.ValidationError as error:
        where = ".".join(str(part) for part in error.absolute_path) or "(settings)"
        raise GateError(f"{origin}: {policy.name}: {where}: {error.message}") from None


# ---- the pack process ----------------------------------------------------------------------------


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
                    ("grpc.max_receive_message_length", _MAX_MESSAGE),
                    ("grpc.max_send_message_length", _MAX_MESSAGE),
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
        return self._port_line.endswith(b"\n") or self._read_port_chunk(timeout=0.0)

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
            )

    def configure(self, config: Mapping[str, tuple[str, dict[str, Any]]]) -> None:
        assert self.client is not None
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, (level, properties) in config.items():
            entry = request.policyConfig[name]
            entry.enforcementLevel = LEVELS[level]
            entry.properties.update(properties)
        self.client.Configure(request)

    def analyze(self, recording: Recording, config: Mapping[str, tuple[str, dict[str, Any]]]) -> GateReport:
        """Configure the pack, then run every resource policy and the stack policies over `recording`."""
        analysis = Analysis(self, config)
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
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
            self._port_line = b""
        self._stderr.close()


class Analysis:
    """One run of a started pack over a program, in the engine's order.

    `offer()` sends a resource's `Analyze` call as soon as the resource is known (the engine does this as each
    resource registers) without waiting for the answer: the pack works through the calls while later ones are
    prepared. `finish()` sends `AnalyzeStack` over the whole recording, then gathers every answer into one report.
    """

    def __init__(self, pack: PolicyPackProcess, config: Mapping[str, tuple[str, dict[str, Any]]]) -> None:
        self.pack, self.config = pack, config
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
                properties=_struct(_wire(resource.inputs)),
                urn=resource.urn,
                name=resource.name,
                options=_options(resource),
                provider=_provider(resource, self._by_urn),
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
                resources=[_stack_resource(r, by_urn, recording.preview) for r in recording.resources]
            )
        )
        findings: list[tuple[analyzer_pb2.AnalyzeDiagnostic, str]] = []
        for urn, call in self._calls:
            findings.extend((diagnostic, urn) for diagnostic in call.result().diagnostics)
        findings.extend((diagnostic, "") for diagnostic in stack_call.result().diagnostics)
        report = GateReport(
            self.pack.name, self.pack.version, recording.stack, recording.preview, resources=len(recording.resources)
        )
        for diagnostic, analysed_urn in findings:
            self.pack._record(report, diagnostic, analysed_urn, self.config)
        report.violations.sort(key=lambda v: (v["policy"], v["urn"], v["message"]))
        report.skipped.sort(key=lambda v: (v["policy"], v["urn"], v["message"]))
        report.seconds = time.perf_counter() - self.started
        return report


class StreamingGate:
    """The gate run alongside the program, as the engine runs a pack: each resource analysed as it registers.

    `launch()` starts the pack before the program; `offer()` (the recording's listener, called from the SDK's
    worker threads) queues each resource and, once the pack is serving, connects, configures it and sends the
    queued calls; `finish()` waits for whatever is left and returns the report. `offer()` never raises: a pack
    that cannot start, or a config the pack rejects, is raised by `finish()` instead, as `run_gate` raises it.
    """

    def __init__(
        self, project: str, stack: str, preview: bool, pack_dir: Path = PACK_DIR, config_file: Path | None = None
    ) -> None:
        self.path = config_file or config_path(stack, pack_dir)
        self.given = load_config_file(self.path)
        self.pack = PolicyPackProcess(project, stack, preview, pack_dir)
        self._analysis: Analysis | None = None
        self._queue: list[RecordedResource] = []
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def launch(self) -> None:
        self.pack.launch()

    def offer(self, resource: RecordedResource) -> None:
        with self._lock:
            self._queue.append(resource)
            if self._error is not None:
                return
            try:
                if self._analysis is None:
                    if not self.pack.ready():
                        return
                    self._connect()
                self._flush()
            except Exception as error:  # reported by finish(), outside the program's registration
                self._error = error

    def _connect(self) -> None:
        self.pack.start()
        config = reconcile(self.pack.policies.values(), self.given, origin=str(self.path))
        self._analysis = Analysis(self.pack, config)

    def _flush(self) -> None:
        assert self._analysis is not None
        while self._queue:
            self._analysis.offer(self._queue[0])
            self._queue.pop(0)  # only once sent: a failure leaves it, and nothing after it, queued

    def finish(self, recording: Recording) -> GateReport:
        with self._lock:
            if isinstance(self._error, GateError):
                raise self._error
            if self._error is not None:
                raise GateError(f"the policy gate failed while the program ran: {self._error}") from self._error
            if self._analysis is None:
                self._connect()
            self._flush()
            assert self._analysis is not None
            return self._analysis.finish(recording)

    def close(self) -> None:
        self.pack.close()


# ---- the engine's wire form ------------------------------------------------------------------------


def _wire(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs as the engine marshals them for analyzers: internal keys (`__defaults`, ...) dropped."""
    return {key: value for key, value in properties.items() if not key.startswith("__")}


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def _options(resource: RecordedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=resource.protect,
        ignoreChanges=resource.ignore_changes,
        deleteBeforeReplace=resource.delete_before_replace,
        deleteBeforeReplaceDefined=resource.delete_before_replace,
        additionalSecretOutputs=resource.additional_secret_outputs,
        aliases=resource.aliases,
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(),
        parent=resource.parent,
    )


def _provider(
    resource: RecordedResource, by_urn: Mapping[str, RecordedResource]
) -> analyzer_pb2.AnalyzerProviderResource | None:
    """The explicit provider a resource names (`<urn>::<id>`); default providers are not in the recording."""
    if not resource.provider:
        return None
    provider = by_urn.get(resource.provider.rsplit("::", 1)[0])
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider.type, properties=_struct(_wire(provider.inputs)), urn=provider.urn, name=provider.name
    )


def _stack_resource(
    resource: RecordedResource, by_urn: Mapping[str, RecordedResource], preview: bool
) -> analyzer_pb2.AnalyzerResource:
    # After an update the engine passes the resulting state; at preview, what the program declared.
    properties = resource.inputs if preview or not resource.outputs else resource.outputs
    return analyzer_pb2.AnalyzerResource(
        type=resource.type,
        properties=_struct(_wire(properties)),
        urn=resource.urn,
        name=resource.name,
        options=_options(resource),
        provider=_provider(resource, by_urn),
        parent=resource.parent,
        dependencies=resource.dependencies,
        propertyDependencies={
            key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
            for key, urns in resource.property_dependencies.items()
            if urns
        },
    )


# ---- the entry point -----------------------------------------------------------------------------


def config_path(stack: str, pack_dir: Path = PACK_DIR) -> Path:
    return pack_dir / "config" / f"{stack}.json"


def run_gate(
    recording: Recording,
    stack: str,
    config_file: Path | None = None,
    pack_dir: Path = PACK_DIR,
    stack_config: Mapping[str, str] | None = None,
) -> GateReport:
    """Run the pack over a recorded program with `policies/config/<stack>.json`; see the module docstring."""
    started = time.perf_counter()
    path = config_file or config_path(stack, pack_dir)
    given = load_config_file(path)
    with PolicyPackProcess(recording.project, stack, recording.preview, pack_dir, stack_config=stack_config) as process:
        config = reconcile(process.policies.values(), given, origin=str(path))
        report = process.analyze(recording, config)
    report.seconds = time.perf_counter() - started
    return report
