"""The gate while the program runs (`StreamingGate`, as the engine analyses each resource as it registers) and over a
finished recording (`run_gate`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path

from infra.offline.gate.process import Analysis, PolicyPackProcess
from infra.offline.gate.report import GateError, GateReport
from infra.offline.gate.settings import PACK_DIR, config_path, load_config_file, reconcile
from infra.offline.harness import RecordedResource, Recording


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
