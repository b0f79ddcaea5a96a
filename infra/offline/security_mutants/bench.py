"""The bench: one compliant baseline per stack, recorded once, and one long-lived pack that judges every mutant.

A baseline is the stack's real offline plan (the program under the harness's mocks, with `Pulumi.<stack>.yaml` and
the catalog) plus, when the chart cache holds the pinned charts, every object the rendered releases install (as
`make render GATE=1` hands them to the pack). The pack is started once per stack with the stack's own
`policies/config/<stack>.json`, exactly as the gate starts it, and every resource of the baseline is analysed once.

A mutant is judged by the resources that differ from the baseline: those alone get a new `Analyze` call, every other
resource keeps the baseline's findings (a resource policy sees one resource and the settings, nothing else), and
`AnalyzeStack` runs over the whole mutated set. The result is the findings the mutant adds to the baseline's, as
(policy, resource name) pairs; a stack-level finding that names no resource has the name "".

Config and catalog mutants go through the config mutation harness (infra/offline/mutants.py): its `Workspace` writes
the mutated files, its `judge` validates them as the plan does (refused = exit 2), and its `record` runs the program
on them. Code mutants patch a component function for the duration of one recording.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi.runtime.proto import analyzer_pb2

from infra.model import yamlio
from infra.model.stackfiles import REPO_ROOT, load_stack
from infra.offline import mutants as config_mutants
from infra.offline.gate import GateReport, PolicyPackProcess, config_path, load_config_file, reconcile
from infra.offline.gate.wire import options, provider_reference, stack_resource, struct, wire
from infra.offline.harness import RecordedResource, Recording, run_program

Finding = tuple[str, str]
"""(policy id, resource name)."""

LAYERS = ("resource", "rendered", "config", "catalog", "code")


@dataclass(frozen=True)
class Mutation:
    """One change to a stack: a realistic security mistake (`expect` names who stops it) or a secure variant.

    `change` depends on the layer: `resource` and `rendered` edit a copy of the baseline recording in place
    (`change(recording)`); `config` and `catalog` edit copies of the stack file's and the catalog's documents
    (`change(stack_document, catalog_document)`); `code` is a context manager factory that patches the program for
    the duration of one recording.
    """

    id: str
    layer: str
    stack: str
    what: str
    change: Callable[..., Any]
    expect: frozenset[Finding] = frozenset()
    refused: bool = False
    """A config or catalog mistake the config model refuses (the plan exits 2 before any resource is declared)."""
    secure: bool = False
    missing: str = ""
    """For a mistake nothing stops yet: what is missing (the suite keeps it as a strict expected failure)."""

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"{self.id}: layer {self.layer!r} is not one of {', '.join(LAYERS)}")
        if self.secure and (self.expect or self.refused or self.missing):
            raise ValueError(f"{self.id}: a secure variant expects no finding")
        if not self.secure and not (self.expect or self.refused or self.missing):
            raise ValueError(f"{self.id}: a mistake names what stops it (expect, refused) or what is missing")


@dataclass
class Verdict:
    mutation: Mutation
    refused: bool = False
    refusal: str = ""
    added: set[Finding] = field(default_factory=set)
    levels: dict[Finding, str] = field(default_factory=dict)
    messages: dict[Finding, str] = field(default_factory=dict)

    @property
    def stopped(self) -> bool:
        return self.refused or any(level == "mandatory" for level in self.levels.values())

    def describe(self) -> str:
        if self.refused:
            return f"refused by the config model (exit 2): {self.refusal.splitlines()[0]}"
        if not self.added:
            return "no finding"
        return "; ".join(f"[{self.levels[item]}] {item[0]} on {item[1] or '(stack)'}: {self.messages[item]}"
                         for item in sorted(self.added))


def _signature(resource: RecordedResource, by_urn: dict[str, RecordedResource]) -> tuple[Any, ...]:
    """What a resource policy sees of a resource: its own fields and its explicit provider's inputs."""
    provider = by_urn.get(resource.provider.rsplit("::", 1)[0]) if resource.provider else None
    return (resource.type, resource.name, resource.inputs, resource.protect, resource.parent, resource.provider,
            resource.ignore_changes, resource.additional_secret_outputs, resource.aliases,
            resource.delete_before_replace, provider.inputs if provider else None)


class Bench:
    """One stack's baseline and its pack; `close()` stops the pack."""

    def __init__(self, stack: str, root: Path = REPO_ROOT, render: bool = True, levels_of: str = "prod") -> None:
        """`levels_of`: the stack whose enforcement levels judge (prod's: "stopped" means by a policy mandatory in
        prod, also for what only the dev stack declares, such as MinIO); every setting stays the stack's own."""
        from infra.program import main

        self.stack = stack
        self.root = root
        self.settings = load_stack(stack, root)
        self.baseline = run_program(main, self.settings)
        self.rendered: list[RecordedResource] = _rendered(self.baseline) if render else []
        self.stack_document = yamlio.load((root / f"Pulumi.{stack}.yaml").read_text())
        self.catalog_document = yamlio.load(config_mutants.catalog_module.CATALOG_PATH.read_text())
        self.pack = PolicyPackProcess(self.settings.project, stack, preview=False)
        self.pack.start()
        self.config = reconcile(self.pack.policies.values(), load_config_file(config_path(stack)),
                                origin=str(config_path(stack)))
        levels = reconcile(self.pack.policies.values(), load_config_file(config_path(levels_of)))
        self.config = {name: (levels[name][0], settings) for name, (_, settings) in self.config.items()}
        self.pack.configure(self.config)
        self._lock = threading.Lock()
        self._ready = False
        self._stack_entries: dict[int, tuple[RecordedResource, Any]] = {}
        self._findings: dict[str, tuple[tuple[Any, ...], list[Any]]] = {}
        everything = self._everything(self.baseline)
        self._base_by_urn = everything.by_urn()
        self.base_report = self._analyse(everything, everything.resources)
        self.base_findings = _findings(self.base_report, everything)
        self._ready = True

    @property
    def policies(self) -> list[str]:
        return sorted(self.pack.policies)

    def close(self) -> None:
        self.pack.close()

    def _everything(self, recording: Recording) -> Recording:
        whole = Recording(recording.project, recording.stack, recording.preview,
                          resources=[*recording.resources, *self.rendered], stack_outputs=recording.stack_outputs)
        return whole

    def judge(self, mutation: Mutation) -> Verdict:
        if mutation.stack != self.stack:
            raise ValueError(f"{mutation.id}: a mutation of stack {mutation.stack}, judged on {self.stack}")
        with self._lock:
            if mutation.layer in ("resource", "rendered"):
                recording = Draft(self._everything(self.baseline))
                mutation.change(recording)
                self._mirror_outputs(recording)
            elif mutation.layer in ("config", "catalog"):
                outcome = self._record_files(mutation)
                if isinstance(outcome, str):
                    return Verdict(mutation, refused=True, refusal=outcome)
                recording = self._everything(outcome)
            else:
                from infra.program import main

                with mutation.change():
                    recording = self._everything(run_program(main, self.settings))
            report = self._analyse(recording, self.changed(recording))
        found = _findings(report, recording)
        # The exact set is of findings that stop a deploy; an advisory one a mistake adds as well (a `latest` tag
        # is also an image without a digest) is shown in `describe()` but not asserted.
        new = {key: value for key, value in found.items() if key not in self.base_findings}
        added = {(policy, name) for (policy, name, _), level in new.items() if level == "mandatory"}
        levels: dict[Finding, str] = {}
        messages: dict[Finding, str] = {}
        for (policy, name, message), level in new.items():
            if levels.get((policy, name)) != "mandatory":
                levels[(policy, name)], messages[(policy, name)] = level, message
        return Verdict(mutation, added=added, levels=levels, messages=messages)

    def changed(self, recording: Recording) -> list[RecordedResource]:
        """The resources of `recording` whose analysis the baseline does not already hold."""
        by_urn = recording.by_urn()
        return [resource for resource in recording.resources
                if resource.urn not in self._findings
                or self._findings[resource.urn][0] != _signature(resource, by_urn)]

    def _stack_resource(self, resource: RecordedResource, by_urn: dict[str, RecordedResource]) -> Any:
        """The AnalyzeStack entry of a resource; built once for each baseline object a mutant leaves alone."""
        cached = self._stack_entries.get(id(resource))
        if cached is not None and cached[0] is resource:
            return cached[1]
        entry = stack_resource(resource, by_urn, False)
        if not self._ready:
            self._stack_entries[id(resource)] = (resource, entry)
        return entry

    def _mirror_outputs(self, recording: Recording) -> None:
        """A changed input is what the provider would return too: the stack policies read outputs after an update."""
        for resource in self.changed(recording):
            base = self._base_by_urn.get(resource.urn)
            computed = {key: value for key, value in base.outputs.items() if key not in base.inputs} if base else {}
            resource.outputs = {**resource.inputs, **computed}

    def _record_files(self, mutation: Mutation) -> Recording | str:
        import tempfile

        stack_document = copy.deepcopy(self.stack_document)
        catalog_document = copy.deepcopy(self.catalog_document)
        mutation.change(stack_document, catalog_document)
        file = f"Pulumi.{self.stack}.yaml" if mutation.layer == "config" else config_mutants.CATALOG_FILE
        mutant = config_mutants.Mutant(
            file=file, stack=self.stack, path=mutation.id, kind="security", value=None,
            stack_document=stack_document,
            catalog_document=catalog_document if mutation.layer == "catalog" else None)
        with tempfile.TemporaryDirectory(prefix="security-mutants-") as folder:
            workspace = config_mutants.Workspace(Path(folder), self.root)
            verdict = config_mutants.judge(mutant, workspace)
            if verdict.outcome == "crash" and verdict.detail.startswith("refused without naming"):
                return verdict.detail.split("\n", 1)[1]  # a refusal: which key it names is not this suite's concern
            if verdict.outcome == "crash":
                raise RuntimeError(f"{mutation.id}: the config model crashed:\n{verdict.detail}")
            if verdict.outcome == "refused":
                return verdict.detail
            return config_mutants.record(mutant, workspace)

    def _analyse(self, recording: Recording, changed: list[RecordedResource]) -> GateReport:
        """Analyze the changed resources, reuse the baseline's findings for the others, AnalyzeStack over all."""
        client = self.pack.client
        assert client is not None
        by_urn = recording.by_urn()
        calls = []
        for resource in changed:
            request = analyzer_pb2.AnalyzeRequest(
                type=resource.type, properties=struct(wire(resource.inputs)), urn=resource.urn, name=resource.name,
                options=options(resource), provider=provider_reference(resource, by_urn))
            calls.append((resource, client.Analyze.future(request)))
        stack_call = client.AnalyzeStack.future(analyzer_pb2.AnalyzeStackRequest(
            resources=[self._stack_resource(resource, by_urn) for resource in recording.resources]))
        fresh: dict[str, list[Any]] = {}
        for resource, call in calls:
            fresh[resource.urn] = list(call.result().diagnostics)
            if not self._ready:  # the baseline: remember each resource's own findings
                self._findings[resource.urn] = (_signature(resource, by_urn), fresh[resource.urn])
        report = GateReport(self.pack.name, self.pack.version, self.stack, False, resources=len(recording.resources))
        for resource in recording.resources:
            diagnostics = fresh.get(resource.urn)
            if diagnostics is None:
                diagnostics = self._findings[resource.urn][1]
            for diagnostic in diagnostics:
                self.pack._record(report, diagnostic, resource.urn, self.config)
        for diagnostic in stack_call.result().diagnostics:
            self.pack._record(report, diagnostic, "", self.config)
        return report


class Draft(Recording):
    """A mutable view of the baseline: the list is the mutant's own, each resource is copied the first time a mutation
    asks for it (`named`, `own`), so the resources a mutation leaves alone stay the baseline's objects."""

    def __init__(self, baseline: Recording) -> None:
        super().__init__(baseline.project, baseline.stack, baseline.preview, resources=list(baseline.resources),
                         stack_outputs=baseline.stack_outputs)
        self._copied: set[int] = set()

    def own(self, resource: RecordedResource) -> RecordedResource:
        if id(resource) in self._copied:
            return resource
        index = next(index for index, item in enumerate(self.resources) if item is resource)
        copied = copy.deepcopy(resource)
        self.resources[index] = copied
        self._copied.add(id(copied))
        return copied

    def named(self, name: str) -> RecordedResource:
        return self.own(super().named(name))


def _findings(report: GateReport, recording: Recording) -> dict[tuple[str, str, str], str]:
    """(policy, resource name, message) -> level. A mutant's findings are those the baseline does not have, so a
    second problem on a resource that already has a finding of the same policy (another message) still counts."""
    names = {resource.urn: resource.name for resource in recording.resources}
    found: dict[tuple[str, str, str], str] = {}
    for violation in report.violations:
        key = (violation["policy"], names.get(violation["urn"], ""), violation["message"])
        if found.get(key) != "mandatory":
            found[key] = violation["level"]
    return found


def _rendered(recording: Recording) -> list[RecordedResource]:
    """Every object the stack's releases install, when the chart cache holds their charts; else none."""
    from infra.offline.render.cache import default_cache
    from infra.offline.render.gate import rendered_resources
    from infra.offline.render.planfile import Plan
    from infra.offline.render.stage import render_stack

    cache = default_cache()
    if not cache.is_dir():
        return []
    render = render_stack(Plan.of_recording(recording), cache)
    return [item.resource for item in rendered_resources(render)]


# ---- helpers the mutations edit with -------------------------------------------------------------------------------


def resource(recording: Recording, name: str) -> RecordedResource:
    return recording.named(name)


def json_document(target: RecordedResource, key: str = "policy") -> Iterator[dict[str, Any]]:
    """Edit a JSON document held as a string input (IAM, bucket and key policies): yields it, writes it back."""
    return _json_document(target, key)


@contextlib.contextmanager
def _json_document(target: RecordedResource, key: str) -> Iterator[dict[str, Any]]:
    document = json.loads(target.inputs[key])
    yield document
    target.inputs[key] = json.dumps(document)


def statement(document: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(item for item in document["Statement"] if item.get("Sid") == sid)
