"""The Generation tab's running jobs, one per kind ("scan", "history", "generate", "grid", "bake").

Every job goes through the app's :class:`JobRunner` (one graphics-card job at a time); this keeps
which of them belong to the tab, forwards the graphics-card job's events, and says when all ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QWidget

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.job_runner import JobRunner
from lora_studio.app.workers.worker import JobFunction, Worker
from lora_studio.core.errors import LoraStudioError
from lora_studio.core.events import Event

log = logging.getLogger(__name__)


class TabJobs(QObject):
    gpu_started = Signal(str)  # the kind of graphics-card job that started
    job_event = Signal(Event)  # from the running graphics-card job
    gpu_failed = Signal(ErrorInfo)
    gpu_cancelled = Signal()
    ended = Signal()  # a job of the tab ended (finished, failed or stopped)

    def __init__(self, runner: JobRunner, view: QWidget) -> None:
        super().__init__(view)
        self.runner = runner
        self.view = view  # parent of error dialogs
        self.workers: dict[str, Worker] = {}
        self.gpu_kind = ""  # the kind of the graphics-card job running, "" when none

    @property
    def idle(self) -> bool:
        return not self.workers

    def start(
        self, key: str, fn: JobFunction, name: str, on_finished: Callable[..., None], *, gpu: bool = False
    ) -> Worker | None:
        """Start a job; None (after telling the user why) when the runner refuses it."""
        worker = Worker(fn, name=name, gpu=gpu)
        worker.finished.connect(on_finished)
        if gpu:
            worker.event.connect(self.job_event)
            worker.failed.connect(self.gpu_failed)
            worker.cancelled.connect(self.gpu_cancelled)
        else:
            worker.failed.connect(self._on_background_failed)
        worker.ended.connect(self._on_ended)
        try:
            self.runner.start(worker)
        except LoraStudioError as exc:
            show_error(ErrorInfo.from_exception(exc, title=f"{name} can't start"), self.view)
            return None
        self.workers[key] = worker
        if gpu:
            self.gpu_kind = key
            self.gpu_started.emit(key)
        return worker

    def replace(self, key: str, on_finished: Callable[..., None]) -> None:
        """Stop the job of ``key`` (if any) and drop its answer: a newer one replaces it."""
        if (old := self.workers.pop(key, None)) is not None:
            old.finished.disconnect(on_finished)
            old.cancel()

    def is_generating(self) -> bool:
        return any(w.gpu and w.is_running for w in self.workers.values())

    def cancel(self) -> None:
        for worker in self.workers.values():
            if worker.gpu:
                worker.cancel()

    @Slot()
    def _on_ended(self) -> None:
        self.workers = {k: w for k, w in self.workers.items() if w.is_running}
        if not self.is_generating():
            self.gpu_kind = ""
        self.ended.emit()

    @Slot(ErrorInfo)
    def _on_background_failed(self, info: ErrorInfo) -> None:
        log.warning("%s: %s", info.title, info.message)
