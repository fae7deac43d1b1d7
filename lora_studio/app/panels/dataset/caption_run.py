"""One Auto-caption run: started from the dialog's choices on a worker, its captions shown as they
come, its edit pushed on the app's caption history (in the GUI thread) when it ends."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QTableWidgetItem

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.worker import Worker
from lora_studio.captioning.base import OutputKind, get_spec
from lora_studio.captioning.jobs import auto_caption_job, items_for_rows
from lora_studio.captioning.runner import CaptionMode, CaptionReady, CaptionRunReport, compose_caption
from lora_studio.core.errors import LoraStudioError
from lora_studio.core.events import Event, Progress, StatusChanged

if TYPE_CHECKING:
    from lora_studio.app.panels.dataset.auto_caption_dialog import AutoCaptionDialog


class CaptionRun(QObject):
    def __init__(self, dialog: AutoCaptionDialog) -> None:
        super().__init__(dialog)
        self.dialog = dialog
        self.worker: Worker | None = None
        self.report: CaptionRunReport | None = None
        self._old_captions: dict[str, str] = {}
        self._trigger_of: dict[str, str] = {}
        self._preview_rows: dict[str, int] = {}
        self._sentence = False
        self._mode = CaptionMode.REPLACE

    @Slot()
    def start(self) -> bool:
        folder, scope = self.dialog.selected_folder(), self.dialog.scope()
        if self.worker is not None or folder is None or not folder.usable or scope is None or not scope.rows:
            return False
        triggers = self.dialog.triggers if self.dialog.keep_trigger.isChecked() else {}
        groups = items_for_rows(scope.rows, triggers)
        if not groups:
            self.dialog.status.setText("None of these pictures can be read, so there is nothing to caption.")
            return False
        mode = self.dialog.mode_value()
        fn = auto_caption_job(folder.path, groups, self.dialog.options(), mode.value, self.dialog.mask_mode.currentData())
        worker = Worker(fn, name="Auto-captioning", gpu=True)
        worker.event.connect(self._on_event)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        worker.ended.connect(self._on_ended)
        try:
            self.dialog.context.jobs.start(worker)
        except LoraStudioError as exc:
            self.dialog.status.setText(f"{exc.message} {exc.hint}".strip())
            return False
        self.worker = worker
        self.report = None
        self._old_captions = {str(r.path): r.caption for r in scope.rows}
        self._trigger_of = {str(r.path): triggers.get(r.concept, "") for r in scope.rows}
        self._sentence = get_spec(folder.kind or "").output == OutputKind.SENTENCE
        self._mode = mode
        self.dialog.preview.setRowCount(0)
        self._preview_rows.clear()
        self.dialog.progress.setRange(0, 0)
        self.dialog.status.setText(f"Starting {folder.name}…")
        self.dialog.set_running(True)
        return True

    @Slot()
    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.dialog.status.setText("Stopping after the current pictures…")
            self.dialog.cancel_button.setEnabled(False)

    @Slot(Event)
    def _on_event(self, event: Event) -> None:
        if isinstance(event, Progress):
            self.dialog.progress.setRange(0, max(1, event.total))
            self.dialog.progress.setValue(event.done)
        elif isinstance(event, StatusChanged):
            self.dialog.status.setText(event.text)
        elif isinstance(event, CaptionReady):
            self._show_caption(event.image, event.caption)

    def _show_caption(self, image: str, generated: str) -> None:
        old = self._old_captions.get(image, "")
        text = compose_caption(
            old, generated, self._mode, self._trigger_of.get(image, ""), sentence=self._sentence
        )
        row = self._preview_rows.get(image)
        if row is None:
            row = self.dialog.preview.rowCount()
            self.dialog.preview.insertRow(row)
            self._preview_rows[image] = row
        name = QTableWidgetItem(Path(image).name)
        name.setToolTip(image)
        caption = QTableWidgetItem(text)
        caption.setToolTip(f"Before: {old or '(no caption)'}\nAfter: {text}")
        self.dialog.preview.setItem(row, 0, name)
        self.dialog.preview.setItem(row, 1, caption)
        self.dialog.preview.scrollToItem(caption)

    @Slot(CaptionRunReport)
    def _on_finished(self, report: CaptionRunReport) -> None:
        self.report = report
        summary = report.summary()
        if report.edit is not None and report.edit.changes:
            try:
                self.dialog.history.push(report.edit)
            except LoraStudioError as exc:
                self.dialog.status.setText(exc.message)
                show_error(ErrorInfo.from_exception(exc, title="The captions could not be saved"), self.dialog)
                return
            summary = dataclasses.replace(report, applied=True).summary()
        self.dialog.status.setText(summary)
        self.dialog.applied.emit(summary)

    @Slot(ErrorInfo)
    def _on_failed(self, info: ErrorInfo) -> None:
        self.dialog.status.setText(info.message)
        show_error(info, self.dialog)

    @Slot()
    def _on_cancelled(self) -> None:
        self.dialog.status.setText("Stopped before any picture was captioned. No caption was changed.")

    @Slot()
    def _on_ended(self) -> None:
        self.worker = None
        self.dialog.progress.setRange(0, 1)
        self.dialog.progress.setValue(1 if self.report is not None else 0)
        self.dialog.set_running(False)
