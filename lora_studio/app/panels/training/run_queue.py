"""A queue of training runs that run one after another; a failed run doesn't stop the ones after it.

The queue owns the workers it starts (through the app's :class:`JobRunner`), forwards their events
and records each run's outcome. Runs train in a child process (:class:`ProcessWorker`), so the
window stays responsive, Stop can always end a run, and a crash of the engine can't close the app;
a ``make_job`` factory (tests: a scripted fake engine) runs in a thread instead. Stopping a run (or closing the app) holds the queue: the runs still
waiting start only when the user starts the queue again.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.job_runner import JobBusyError, JobRunner
from lora_studio.app.workers.process_worker import ProcessWorker
from lora_studio.app.workers.worker import JobFunction, Worker
from lora_studio.core.events import Event
from lora_studio.training.run import RunRequest, process_job

log = logging.getLogger(__name__)


class RunStatus(enum.StrEnum):
    WAITING = "Waiting"
    RUNNING = "Running"
    FINISHED = "Finished"
    FAILED = "Failed"
    STOPPED = "Stopped"


@dataclass(eq=False)
class QueueEntry:
    request: RunRequest
    status: RunStatus = RunStatus.WAITING
    result: str = ""  # plain words: what came out, or what went wrong
    error: ErrorInfo | None = None
    lora_files: list[str] = field(default_factory=list)
    final_lora: str = ""
    output_name: str = ""  # the numbered name a new run took (zorb-2) when the wanted one was used

    @property
    def name(self) -> str:
        return self.request.name


class RunQueue(QObject):
    changed = Signal()  # entries added, removed, reordered or their status changed
    run_started = Signal(QueueEntry, Worker)  # QueueEntry, Worker
    run_event = Signal(QueueEntry, Event)  # QueueEntry, Event
    run_ended = Signal(QueueEntry)  # QueueEntry (status FINISHED, FAILED or STOPPED)
    queue_idle = Signal()  # nothing running and nothing (runnable) waiting
    start_refused = Signal(ErrorInfo)  # ErrorInfo: the GPU is busy with another job

    def __init__(
        self,
        jobs: JobRunner,
        make_job: Callable[[RunRequest], JobFunction] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.make_job = make_job  # None: real training in a child process
        self.entries: list[QueueEntry] = []
        self.current: QueueEntry | None = None
        self.worker: Worker | None = None
        self._holding = True

    # -- editing -------------------------------------------------------------------------------
    def add(self, request: RunRequest) -> QueueEntry:
        entry = QueueEntry(request)
        self.entries.append(entry)
        self.changed.emit()
        return entry

    def remove(self, entry: QueueEntry) -> None:
        if entry is not self.current and entry in self.entries:
            self.entries.remove(entry)
            self.changed.emit()

    def move(self, entry: QueueEntry, offset: int) -> None:
        if entry not in self.entries:
            return
        i = self.entries.index(entry)
        j = max(0, min(len(self.entries) - 1, i + offset))
        self.entries.insert(j, self.entries.pop(i))
        self.changed.emit()

    def clear_done(self) -> None:
        self.entries = [e for e in self.entries if e.status in (RunStatus.WAITING, RunStatus.RUNNING)]
        self.changed.emit()

    def waiting(self) -> list[QueueEntry]:
        return [e for e in self.entries if e.status == RunStatus.WAITING]

    @property
    def is_running(self) -> bool:
        return self.current is not None

    # -- running -------------------------------------------------------------------------------
    def start(self) -> bool:
        """Start the next waiting run (if none runs). False if nothing started."""
        self._holding = False
        return self._start_next()

    def stop_current(self) -> None:
        """Stop the running run at its next step (it saves a state); the queue holds after it."""
        self._holding = True
        if self.worker is not None:
            self.worker.cancel()

    def _start_next(self) -> bool:
        if self.current is not None or self._holding:
            return False
        entry = next(iter(self.waiting()), None)
        if entry is None:
            self._holding = True
            self.queue_idle.emit()
            return False
        worker = self._make_worker(entry.request)
        worker.event.connect(self._on_event)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        try:
            self.jobs.start(worker)
        except JobBusyError as exc:
            self._holding = True
            self.start_refused.emit(ErrorInfo.from_exception(exc, title="Training can't start yet"))
            return False
        self.current, self.worker = entry, worker
        entry.status = RunStatus.RUNNING
        entry.result = "Running…"
        log.info("Training run “%s” started.", entry.name)
        self.changed.emit()
        self.run_started.emit(entry, worker)
        return True

    def _make_worker(self, request: RunRequest) -> Worker:
        if self.make_job is None:
            return ProcessWorker(process_job(request), name=request.name, gpu=True)
        return Worker(self.make_job(request), name=request.name, gpu=True)

    @Slot(Event)
    def _on_event(self, event: Event) -> None:
        if self.current is not None:
            self.run_event.emit(self.current, event)

    @Slot(object)
    def _on_finished(self, result: Any) -> None:
        entry = self._end(RunStatus.FINISHED)
        final = getattr(result, "final_lora", None)
        entry.final_lora = str(final) if final else ""
        entry.lora_files = [str(p) for p in getattr(result, "lora_files", [])]
        steps = getattr(result, "steps", 0)
        entry.result = f"Done: {Path(entry.final_lora).name} after {steps} steps" if final else "Done"
        self._after(entry)

    @Slot(ErrorInfo)
    def _on_failed(self, info: ErrorInfo) -> None:
        entry = self._end(RunStatus.FAILED)
        entry.error = info
        entry.result = info.message
        self._after(entry)

    @Slot()
    def _on_cancelled(self) -> None:
        entry = self._end(RunStatus.STOPPED)
        self._holding = True
        entry.result = "Stopped; a state was saved to resume from"
        self._after(entry)

    def _end(self, status: RunStatus) -> QueueEntry:
        entry = self.current
        assert entry is not None
        entry.status = status
        self.current, self.worker = None, None
        return entry

    def _after(self, entry: QueueEntry) -> None:
        log.info("Training run “%s”: %s — %s", entry.name, entry.status.value, entry.result)
        self.changed.emit()
        self.run_ended.emit(entry)
        # Next run after the listeners had their turn (the job has already released the GPU).
        QTimer.singleShot(0, self._start_next)
