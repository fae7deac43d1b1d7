"""The Dataset tab's one background job at a time (scan, import, check, kohya) and its status line."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.worker import JobFunction, Worker
from lora_studio.core.errors import LoraStudioError
from lora_studio.core.events import Event, Progress

if TYPE_CHECKING:
    from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel


class JobControl(QObject):
    job_event = Signal(Event)  # from the running job (the check listens for its problems)
    ended = Signal()

    def __init__(self, view: DatasetPanel) -> None:
        super().__init__(view)
        self.view = view
        self.job: Worker | None = None
        self.status_text = ""
        view.job_cancel.clicked.connect(self.cancel)

    @property
    def busy(self) -> bool:
        return self.job is not None

    def start(
        self,
        fn: JobFunction,
        name: str,
        done: Callable[..., None],
        *,
        failed: Callable[[ErrorInfo], None] | None = None,
    ) -> bool:
        """Start ``fn`` unless another job runs (then say so in the status line and return False).
        ``done`` gets the result on the GUI thread."""
        view = self.view
        if self.refuse_if_busy():
            return False
        worker = Worker(fn, name=name, gpu=False)
        worker.event.connect(self._on_event)
        worker.finished.connect(done)
        worker.failed.connect(failed or self._on_failed)
        worker.ended.connect(self._on_ended)
        self.job = worker
        view.loader.set_quiet(True)  # leave the import/scan thread a core; thumbnails go on slower
        view.job_label.setText(f"{name}…")
        view.job_bar.setRange(0, 0)
        view.job_bar.show()
        view.job_cancel.show()
        view.context.jobs.start(worker)
        return True

    def refuse_if_busy(self) -> bool:
        """True (after saying so in the status line) when a job is running."""
        if self.job is not None:
            self.set_status(f"Please wait: {self.job.name.lower()} is still running.")
        return self.job is not None

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.view.job_label.setText("Stopping…")

    def set_status(self, text: str) -> None:
        """A result for the user; it stays after the job that wrote it (progress text does not)."""
        self.status_text = text
        self.view.job_label.setText(text)

    def show_exception(self, exc: LoraStudioError) -> None:
        self.set_status(exc.message)
        show_error(ErrorInfo.from_exception(exc, title="That didn't work"), self.view)

    @Slot(Event)
    def _on_event(self, event: Event) -> None:
        if isinstance(event, Progress):
            self.view.job_bar.setRange(0, max(1, event.total))
            self.view.job_bar.setValue(event.done)
            if event.text:
                self.view.job_label.setText(event.text)
        self.job_event.emit(event)

    @Slot(ErrorInfo)
    def _on_failed(self, info: ErrorInfo) -> None:
        self.set_status(info.message)
        show_error(info, self.view)

    @Slot()
    def _on_ended(self) -> None:
        view = self.view
        self.job = None
        view.loader.set_quiet(False)
        view.job_bar.hide()
        view.job_cancel.hide()
        view.job_label.setText(self.status_text)
        self.ended.emit()
