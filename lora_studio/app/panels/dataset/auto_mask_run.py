"""One Auto-mask run or preview, on a worker: the dialog's choices are copied into a Qt-free job
(``captioning.masking.auto_mask_job``); the report goes back to the dialog, which hands it to the
controller to write."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QImage, QPixmap

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.worker import JobFunction, Worker
from lora_studio.captioning.masking import (
    MaskOptions,
    MaskRunReport,
    MaskTarget,
    auto_mask_job,
    learned_share,
)
from lora_studio.core.control import RunControl
from lora_studio.core.errors import LoraStudioError
from lora_studio.core.events import Event, Progress, Reporter, StatusChanged
from lora_studio.dataset.scan import ImageRow

if TYPE_CHECKING:
    from lora_studio.app.panels.dataset.auto_mask_dialog import AutoMaskDialog
    from lora_studio.app.state import AppContext

PREVIEW_SIDE = 360
LEFT_OUT_TINT = (220, 40, 40)  # the mask painter's colour for what training leaves out


def targets_for(rows: list[ImageRow]) -> list[MaskTarget]:
    return [MaskTarget(r.concept, r.key, r.path, r.mask) for r in rows if not r.error]


def overlay(image: Image.Image, mask: Image.Image) -> Image.Image:
    """The picture with the left-out (black) part of ``mask`` tinted, as the mask painter shows it."""
    tint = Image.blend(image, Image.new("RGB", image.size, LEFT_OUT_TINT), 0.6)
    return Image.composite(image, tint, mask)


def to_pixmap(image: Image.Image) -> QPixmap:
    rgb = np.ascontiguousarray(np.asarray(image.convert("RGB")))
    h, w = rgb.shape[:2]
    return QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())


class AutoMaskRun(QObject):
    def __init__(self, dialog: AutoMaskDialog) -> None:
        super().__init__(dialog)
        self.dialog = dialog
        self.worker: Worker | None = None
        self.report: MaskRunReport | None = None
        self.context: AppContext | None = None  # its job runner runs the work; set by the controller
        self._preview_row: ImageRow | None = None

    @property
    def running(self) -> bool:
        return self.worker is not None

    def _launch(self, fn: JobFunction, name: str) -> Worker | None:
        worker = Worker(fn, name=name, gpu=True)
        worker.event.connect(self._on_event)
        worker.failed.connect(self._on_failed)
        worker.ended.connect(self._on_ended)
        try:
            assert self.context is not None
            self.context.jobs.start(worker)
        except LoraStudioError as exc:
            self.dialog.status.setText(f"{exc.message} {exc.hint}".strip())
            return None
        self.worker = worker
        self.dialog.set_running(True)
        return worker

    @Slot()
    def start(self) -> bool:
        dialog = self.dialog
        folder, scope = dialog.selected_model(), dialog.selected_scope()
        if self.worker is not None or dialog.blocked_reason() or folder is None or scope is None:
            return False
        worker = self._launch(
            auto_mask_job(folder.path, targets_for(list(scope.rows)), dialog.options()), "Auto-masking"
        )
        if worker is None:
            return False
        worker.finished.connect(self._on_finished)
        worker.cancelled.connect(self._on_cancelled)
        self.report = None
        dialog.progress.setRange(0, 0)
        dialog.status.setText(f"Starting {folder.path.name}…")
        return True

    @Slot()
    def preview(self) -> bool:
        dialog = self.dialog
        folder = dialog.selected_model()
        rows = [r for s in dialog.scopes for r in s.rows if not r.error][:1]
        if self.worker is not None or folder is None or not rows:
            dialog.status.setText(
                "Select a picture in the grid first." if not rows else dialog.blocked_reason()
            )
            return False
        row = rows[0]
        options = dialog.options()
        job = auto_mask_job(folder.path, targets_for([row]), _replace(options))

        def fn(reporter: Reporter, control: RunControl) -> tuple[Image.Image, Image.Image] | None:
            from lora_studio.dataset.images import load_upright

            report = job(reporter, control)
            if not report.masks:
                return None
            image = load_upright(row.path).convert("RGB")
            return image, report.masks[0][1]

        worker = self._launch(fn, "Mask preview")
        if worker is None:
            return False
        self._preview_row = row
        worker.finished.connect(self._show_preview)  # a bound slot: runs on the GUI thread
        dialog.status.setText(f"Masking {row.name} for the preview…")
        return True

    @Slot(object)
    def _show_preview(self, out: tuple[Image.Image, Image.Image] | None) -> None:
        row = self._preview_row
        if row is None:
            return
        if out is None:
            self.dialog.status.setText(f"{row.name} could not be read.")
            return
        image, mask = out
        shown = overlay(image, mask)
        shown.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        self.dialog.preview_image.setPixmap(to_pixmap(shown))
        self.dialog.status.setText(
            f"{row.name}: {learned_share(mask):.0%} of the picture is learned (red is left out). "
            "Change the threshold and preview again, or make the masks."
        )

    @Slot()
    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.dialog.status.setText("Stopping after the current picture…")

    @Slot()
    def _on_cancelled(self) -> None:
        self.dialog.status.setText("Stopped before any mask was made.")

    @Slot(Event)
    def _on_event(self, event: Event) -> None:
        if isinstance(event, Progress):
            self.dialog.progress.setRange(0, max(1, event.total))
            self.dialog.progress.setValue(event.done)
        elif isinstance(event, StatusChanged):
            self.dialog.status.setText(event.text)

    @Slot(object)
    def _on_finished(self, report: MaskRunReport) -> None:
        self.report = report
        self.dialog.masks_made.emit(report)

    @Slot(ErrorInfo)
    def _on_failed(self, info: ErrorInfo) -> None:
        self.dialog.status.setText(info.message)
        show_error(info, self.dialog)

    @Slot()
    def _on_ended(self) -> None:
        self.worker = None
        self.dialog.progress.setRange(0, 1)
        self.dialog.progress.setValue(1 if self.report is not None else 0)
        self.dialog.set_running(False)


def _replace(options: MaskOptions) -> MaskOptions:
    """A preview masks the picture even when it has a mask already (nothing is written)."""
    return dataclasses.replace(options, replace_existing=True)
