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

By concern: `settings` (the per-stack config and its reconciliation), `process` (the pack process and its gRPC
calls), `wire` (resources in the engine's wire form), `stream` (analysis as resources register, and over a
finished recording), `report` (findings).

What the gate cannot see: provider defaults and anything a provider computes (it judges the inputs the program
declares, plus the mocks' outputs when the recording is not a preview); live state and drift; default providers
(never registered by the program, so policies on `pulumi:providers:*` see only explicit providers); resources
created outside this program; and stack tags (none are sent).
"""

from infra.offline.gate.process import ENGINE_ADDRESS, PolicyPackProcess
from infra.offline.gate.report import GateError, GateReport, PolicyInfo
from infra.offline.gate.settings import PACK_DIR, config_path, load_config_file, reconcile
from infra.offline.gate.stream import StreamingGate, run_gate

__all__ = [
    "ENGINE_ADDRESS",
    "PACK_DIR",
    "GateError",
    "GateReport",
    "PolicyInfo",
    "PolicyPackProcess",
    "StreamingGate",
    "config_path",
    "load_config_file",
    "reconcile",
    "run_gate",
]
