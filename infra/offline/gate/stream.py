"""The gate while the program runs (`StreamingGate`, as the engine analyses each resource as it registers) and over a
finished recording (`run_gate`)."""

from __future__ import annotations

import datetime
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

    `launch()` starts the pack and the gate's sender thread, which connects and configures the pack as soon as it
    serves, then sends each offered resource's Analyze call; `offer()` (the recording's listener, called from the
    SDK's worker threads) only queues, so no registration waits for the pack's start, its configuration or a call;
    `finish()` waits for the sender to have sent everything offered, then for the answers, and returns the report.
    `offer()` never raises: a pack that cannot start, or a config the pack rejects, is raised by `finish()` instead,
    as `run_gate` raises it.
    """

    def __init__(
        self, project: str, stack: str, preview: bool, pack_dir: Path = PACK_DIR, config_file: Path | None = None,
        evaluation_date: datetime.date | None = None,
    ) -> None:
        self.evaluation_date = evaluation_date or datetime.datetime.now(datetime.UTC).date()
        self.path = config_file or config_path(stack, pack_dir)
        self.given = load_config_file(self.path)
        self.pack = PolicyPackProcess(project, stack, preview, pack_dir)
        self._analysis: Analysis | None = None
        self._queue: list[RecordedResource] = []
        self._sent = 0
        self._ended = False  # the program ended: the sender stops once the queue is empty
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._sender: threading.Thread | None = None

    @property
    def sent(self) -> int:
        """How many offered resources have had their Analyze call sent."""
        with self._changed:
            return self._sent

    def launch(self) -> None:
        self.pack.launch()
        if self._sender is None:
            self._sender = threading.Thread(target=self._send, name="policy-gate", daemon=True)
            self._sender.start()

    def offer(self, resource: RecordedResource) -> None:
        with self._changed:
            self._queue.append(resource)
            self._changed.notify_all()

    def _send(self) -> None:
        """The sender thread: connect once the pack serves, then send what is queued until the program ends."""
        try:
            self._connect()
            assert self._analysis is not None
            while True:
                with self._changed:
                    while not self._queue and not self._ended:
                        self._changed.wait()
                    if not self._queue:
                        return
                    resource = self._queue[0]
                self._analysis.offer(resource)
                with self._changed:
                    self._queue.pop(0)  # only once sent: a failure leaves it, and nothing after it, queued
                    self._sent += 1
                    self._changed.notify_all()
        except BaseException as error:  # reported by finish(), outside the program's registration
            with self._changed:
                self._error = error
                self._changed.notify_all()

    def _connect(self) -> None:
        self.pack.start()
        config = reconcile(self.pack.policies.values(), self.given, origin=str(self.path),
                           evaluation_date=self.evaluation_date)
        self._analysis = Analysis(self.pack, config, self.evaluation_date)

    def finish(self, recording: Recording) -> GateReport:
        with self._changed:
            self._ended = True
            self._changed.notify_all()
        if self._sender is None:  # never launched: connect and send here
            self._send()
        else:
            self._sender.join()
        if isinstance(self._error, GateError):
            raise self._error
        if self._error is not None:
            raise GateError(f"the policy gate failed while the program ran: {self._error}") from self._error
        assert self._analysis is not None
        return self._analysis.finish(recording)

    def close(self) -> None:
        with self._changed:
            self._ended = True
            self._changed.notify_all()
        self.pack.close()  # a sender still waiting for the pack's port or an answer sees it exit and stops
        if self._sender is not None:
            self._sender.join(timeout=5)


def run_gate(
    recording: Recording,
    stack: str,
    config_file: Path | None = None,
    pack_dir: Path = PACK_DIR,
    stack_config: Mapping[str, str] | None = None,
    evaluation_date: datetime.date | None = None,
) -> GateReport:
    """Run the pack over a recorded program with `policies/config/<stack>.json`, judging exemptions on
    `evaluation_date` (default: today in UTC); see the module docstring."""
    started = time.perf_counter()
    on = evaluation_date or datetime.datetime.now(datetime.UTC).date()
    path = config_file or config_path(stack, pack_dir)
    given = load_config_file(path)
    with PolicyPackProcess(recording.project, stack, recording.preview, pack_dir, stack_config=stack_config) as process:
        config = reconcile(process.policies.values(), given, origin=str(path), evaluation_date=on)
        report = process.analyze(recording, config, on)
    report.seconds = time.perf_counter() - started
    return report
