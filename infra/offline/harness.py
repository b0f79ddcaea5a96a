"""Run the program (or one component) under Pulumi's mocks and record every registration.

Used by the tests and by the offline plan. Each run gets a fresh context (so the SDK's context-local
settings, root stack and config start empty) and a fresh event loop. The recorder keeps, per resource,
its type, name, URN, inputs in the engine's wire form (camelCase keys, numbers as floats, secrets and
unknowns as the wire's signature objects), parent, dependencies and options. With `preview=True` the mocks
return inputs only, so every computed output is unknown, as in `pulumi preview`. Registrations carry no source
positions: the SDK's stack walk for them is left out of the run, as nothing reads them under the mocks.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.proto import source_pb2

from infra.model.stackfiles import StackSettings

SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# Every value the mocks generate for a secret output starts with this, so any test can search any
# output (plan JSON, exports, rendered files) for a leaked secret.
SECRET_SENTINEL_PREFIX = "SENTINEL-7f3a9c"
MOCK_ACCOUNT = "111122223333"


def secret_sentinel(*parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()[:40]
    return f"{SECRET_SENTINEL_PREFIX}{digest}"


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    protect: bool
    inputs: dict[str, Any]
    provider: str
    ignore_changes: list[str]
    aliases: list[str]
    additional_secret_outputs: list[str]
    delete_before_replace: bool
    retain_on_delete: bool
    id: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    replacement_trigger: Any = None
    """The `replacement_trigger` option: a change of it makes the engine replace the resource."""

    def input(self, path: str, default: Any = None) -> Any:
        """An input by dotted camelCase path, secrets unwrapped: `rules.0.applyServerSideEncryptionByDefault`."""
        value: Any = self.inputs
        for part in path.split("."):
            value = unwrap_secret(value)
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            elif isinstance(value, dict) and part in value:
                value = value[part]
            else:
                return default
        return unwrap_secret(value)


@dataclass
class Recording:
    project: str
    stack: str
    preview: bool
    resources: list[RecordedResource] = field(default_factory=list)
    stack_outputs: dict[str, Any] = field(default_factory=dict)
    # Called with each resource as it is recorded (from the SDK's worker threads), e.g. to analyse it at once.
    listener: Callable[[RecordedResource], None] | None = field(default=None, repr=False, compare=False)

    def __iter__(self) -> Iterator[RecordedResource]:
        return iter(self.resources)

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [resource for resource in self.resources if resource.type == type_]

    def named(self, name: str) -> RecordedResource:
        matches = [resource for resource in self.resources if resource.name == name]
        if len(matches) != 1:
            raise KeyError(f"expected one resource named {name!r}, found {len(matches)}")
        return matches[0]

    def by_urn(self) -> dict[str, RecordedResource]:
        return {resource.urn: resource for resource in self.resources}

    def children(self, parent_urn: str) -> list[RecordedResource]:
        return [resource for resource in self.resources if resource.parent == parent_urn]


def unwrap_secret(value: Any) -> Any:
    if isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_SIG_VALUE:
        return value.get("value")
    return value


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_SIG_VALUE


class PlatformMocks(pulumi.runtime.Mocks):
    """Answers registrations with plausible provider outputs; secrets become distinctive sentinels."""

    def __init__(self, preview: bool) -> None:
        self.preview = preview

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        state = dict(args.inputs)
        if self.preview:
            # As in `pulumi preview` of a new stack: ids and computed outputs are unknown.
            return "", state
        resource_id = f"{args.name}-id"
        computed = computed_outputs(args.typ, args.name, args.inputs)
        resource_id = computed.pop("id", resource_id)
        state.update(computed)
        return resource_id, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict:
        """Invokes run at preview too, so their answers are known in both semantics."""
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": MOCK_ACCOUNT, "arn": f"arn:aws:iam::{MOCK_ACCOUNT}:user/deployer", "userId": "U"}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": "eu-west-1", "region": "eu-west-1"}
        return {}


def computed_outputs(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The outputs a provider would compute, for the types the program reads back."""
    if type_ == "random:index/randomPassword:RandomPassword":
        return {"result": secret_sentinel(type_, name), "bcryptHash": secret_sentinel(type_, name, "bcrypt")}
    if type_ == "random:index/randomBytes:RandomBytes":
        return {"base64": secret_sentinel(type_, name), "hex": secret_sentinel(type_, name, "hex")}
    if type_ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket", name)
        return {"id": bucket, "bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    if type_ == "aws:kms/key:Key":
        key_id = hashlib.sha256(name.encode()).hexdigest()[:32]
        return {"id": key_id, "keyId": key_id, "arn": f"arn:aws:kms:eu-west-1:{MOCK_ACCOUNT}:key/{key_id}"}
    if type_ == "aws:sns/topic:Topic":
        topic = inputs.get("name", name)
        return {"arn": f"arn:aws:sns:eu-west-1:{MOCK_ACCOUNT}:{topic}"}
    if type_ == "aws:iam/accessKey:AccessKey":
        return {"id": f"AKIA{name.upper()[:12]}", "secret": secret_sentinel(type_, name)}
    if type_.startswith("aws:iam/") and "name" in inputs:
        kind = type_.split(":")[-1].lower()
        return {"arn": f"arn:aws:iam::{MOCK_ACCOUNT}:{kind}/{inputs['name']}"}
    if type_ == "tls:index/privateKey:PrivateKey":
        return {"privateKeyPem": secret_sentinel(type_, name), "publicKeyPem": f"PUBLIC KEY of {name}"}
    if type_ == "tls:index/selfSignedCert:SelfSignedCert":
        return {"certPem": f"-----BEGIN CERTIFICATE-----\nMOCK{name}\n-----END CERTIFICATE-----\n"}
    if type_ == "minio:index/s3Bucket:S3Bucket":
        bucket = inputs.get("bucket", name)
        return {"id": bucket, "bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    if type_ == "minio:index/iamUser:IamUser":
        return {"id": inputs.get("name", name), "secret": secret_sentinel(type_, name)}
    if type_ == "minio:index/iamServiceAccount:IamServiceAccount":
        access_key = f"SA{hashlib.sha256(name.encode()).hexdigest()[:18]}"
        return {"accessKey": access_key, "secretKey": secret_sentinel(type_, name)}
    return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps every registration's wire-form inputs and options."""

    def __init__(self, mocks: pulumi.runtime.Mocks, recording: Recording) -> None:
        super().__init__(mocks)
        self.recording = recording

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        # The engine marks `additionalSecretOutputs` secret in what it returns; the stock mock does not.
        outputs = json_format.MessageToDict(response.object)
        marked = False
        for key in request.additionalSecretOutputs:
            if key in outputs and not is_secret(outputs[key]):
                response.object[key] = {SECRET_SIG: SECRET_SIG_VALUE, "value": outputs[key]}
                marked = True
        if marked:
            outputs = json_format.MessageToDict(response.object)
        recorded = RecordedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            dependencies=list(request.dependencies),
            property_dependencies={key: list(deps.urns) for key, deps in request.propertyDependencies.items()},
            protect=bool(request.protect),
            inputs=json_format.MessageToDict(request.object),
            provider=request.provider,
            ignore_changes=list(request.ignoreChanges),
            aliases=[alias.urn for alias in request.aliases if alias.urn],
            additional_secret_outputs=list(request.additionalSecretOutputs),
            delete_before_replace=bool(request.deleteBeforeReplace),
            retain_on_delete=bool(request.retainOnDelete),
            id=response.id,
            outputs=outputs,
            replacement_trigger=json_format.MessageToDict(request.replacement_trigger)
            if request.HasField("replacement_trigger") else None,
        )
        self.recording.resources.append(recorded)
        if self.recording.listener is not None:
            self.recording.listener(recorded)
        return response


def run_program(
    program: Callable[[], Any],
    settings: StackSettings,
    preview: bool = False,
    listener: Callable[[RecordedResource], None] | None = None,
) -> Recording:
    """Run `program` under mocks with the stack's config; return what it registered.

    `listener` is called with each resource as it registers. Errors raised by the program (a config error, a
    failed apply) propagate to the caller.
    """
    return contextvars.Context().run(_run_fresh, program, settings, preview, listener)


def _run_and_collect_exports(program: Callable[[], Any], recording: Recording) -> pulumi.Output:
    program()
    root = pulumi.runtime.settings.get_root_resource()
    exports = dict(getattr(root, "outputs", {}) or {})

    async def collect() -> None:
        for key, value in exports.items():
            output = pulumi.Output.from_input(value)
            resolved = await output.future(with_unknowns=True)
            known = await output.is_known()
            wire = resolved if known else UNKNOWN
            if await output.is_secret():
                wire = {SECRET_SIG: SECRET_SIG_VALUE, "value": wire}
            recording.stack_outputs[key] = wire

    return pulumi.Output.from_input(collect())


def _no_stack_trace() -> source_pb2.StackTrace:
    """What the SDK sends when it finds no program frame: no stack trace, no source position."""
    return source_pb2.StackTrace()


def _run_fresh(
    program: Callable[[], Any],
    settings: StackSettings,
    preview: bool,
    listener: Callable[[RecordedResource], None] | None,
) -> Recording:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    recording = Recording(project=settings.project, stack=settings.stack, preview=preview, listener=listener)
    # For the engine's diagnostics the SDK walks the Python stack and reads the source line of every frame at each
    # registration. Nothing reads these source positions under the mocks, and the walk cost the prod plan about
    # 0.25 s of CPU, 6% of its process (docs/decisions/0031-offline-plan-cost.md).
    capture_stack_trace = getattr(sdk_resource, "_get_stack_trace", None)
    if capture_stack_trace is not None:
        sdk_resource._get_stack_trace = _no_stack_trace
    try:
        pulumi.runtime.set_all_config(dict(settings.config), list(settings.secret_keys))
        mocks = PlatformMocks(preview)
        monitor = RecordingMonitor(mocks, recording)
        pulumi.runtime.set_mocks(
            mocks, project=settings.project, stack=settings.stack, preview=preview, monitor=monitor
        )
        pulumi.runtime.test(lambda: _run_and_collect_exports(program, recording))()
    finally:
        if capture_stack_trace is not None:
            sdk_resource._get_stack_trace = capture_stack_trace
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)
    return recording
