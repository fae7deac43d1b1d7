"""The Training tab's "Which epoch should I keep?": runs the epoch advisor on the last run's saved
files (one graphics-card job, like comparing epochs) and shows its ranking and reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.panels.training.run_queue import QueueEntry
from lora_studio.app.panels.training.side_job import start_side_job
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.worker import Worker
from lora_studio.core.errors import LoraStudioError
from lora_studio.core.events import Event, HistoryLoaded, ValidationLoss
from lora_studio.training.advisor import Advice, advice_request, run_advisor

if TYPE_CHECKING:
    from lora_studio.app.panels.training.training_panel import TrainingPanel


class AdvisorController(QObject):
    def __init__(self, view: TrainingPanel) -> None:
        super().__init__(view)
        self.view = view
        self.worker: Worker | None = None
        self.advice: Advice | None = None
        self.validation: list[tuple[int, float]] = []  # of the last run, as it reported them
        view.queue.run_started.connect(self._on_run_started)
        view.queue.run_event.connect(self._on_run_event)
        view.advise_button.clicked.connect(self.advise)

    @Slot(QueueEntry, object)
    def _on_run_started(self, entry: QueueEntry, _worker: object = None) -> None:
        if not entry.request.resume_point:  # a resumed run is one run with the one before
            self.validation = []
        self.advice = None

    @Slot(QueueEntry, Event)
    def _on_run_event(self, _entry: QueueEntry, event: Event) -> None:
        if isinstance(event, ValidationLoss):
            self.validation.append((event.step, event.loss))
        elif isinstance(event, HistoryLoaded):
            self.validation = [(int(s), float(v)) for s, v in event.validation]

    @Slot()
    def advise(self) -> None:
        view, entry = self.view, self.view.runs.last_entry
        files = view.monitor_control.compare_files()
        if entry is None or not files:
            return
        try:
            request = advice_request(entry.request.config, files, self.validation)
        except LoraStudioError as exc:
            show_error(ErrorInfo.from_exception(exc, title="Nothing to judge"), view)
            return
        worker = start_side_job(
            view,
            view.context,
            view.monitor.set_status,
            lambda r, c: run_advisor(request, r, c),
            "Epoch advice",
            on_done=self._on_done,
            on_failed=self._on_failed,
            busy_title="The epoch advisor can't start yet",
        )
        if worker is None:
            return
        self.worker = worker
        view.monitor.set_status(f"Judging {len(files)} saved files…")
        view.runs.update_buttons()

    @Slot(Advice)
    def _on_done(self, advice: Advice) -> None:
        self.worker = None
        self.advice = advice
        view = self.view
        view.advice.show_advice(advice)
        view.tabs.setCurrentWidget(view.advice)
        view.monitor.set_status(f"Recommended: {advice.reason}.")
        view.monitor.append_log(f"Epoch advice: {advice.reason}.")
        view.runs.update_buttons()

    @Slot()
    def _on_failed(self, info: ErrorInfo | None = None) -> None:
        self.worker = None
        self.view.runs.update_buttons()
        if info is not None:
            show_error(info, self.view)
