"""The Dataset tab's masks and erased regions. The cleaned copy of an erased region is made on a
pool thread; its record is written on the GUI thread."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from PIL import Image
from PySide6.QtCore import QObject
from PySide6.QtGui import QImage

from lora_studio.app.panels.dataset.erase_worker import EraseFiles, EraseRunner
from lora_studio.core.errors import LoraStudioError
from lora_studio.dataset import project as proj
from lora_studio.dataset.scan import ImageRow, read_row

if TYPE_CHECKING:
    from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel


class MaskController(QObject):
    def __init__(self, view: DatasetPanel) -> None:
        super().__init__(view)
        self.view = view
        self.erasers = EraseRunner(self)
        self.erasers.done.connect(self._on_erase_done)
        self.erasers.failed.connect(self._on_erase_failed)
        view.mask_painter.mask_changed.connect(self.set_mask)
        view.mask_painter.erase_changed.connect(self._on_erase_changed)

    def set_mask(self, row: ImageRow, mask: Image.Image | None) -> None:
        view = self.view
        if view.project is None:
            return
        try:
            path = proj.set_mask(view.project, row.concept, row.key, mask)
        except LoraStudioError as exc:
            view.jobs.show_exception(exc)
            return
        # the grid's row, not the painter's copy: a crop made since must stay on it
        updated = dataclasses.replace(view.model.resolve(row.path) or row, mask=path)
        view.model.replace_row(updated)
        view.mask_painter.row = updated

    def _on_erase_changed(self, row: ImageRow, region: Image.Image | None) -> None:
        if self.view.project is not None:
            self.erasers.run(self.view.project, row, region)

    def _on_erase_done(
        self, project: proj.Project, row: ImageRow, files: EraseFiles | None, preview: QImage | None
    ) -> None:
        try:
            proj.record_erase(project, row.concept, row.key, files)
        except LoraStudioError as exc:
            self.view.jobs.show_exception(exc)
            return
        if project is not self.view.project:
            return
        updated = read_row(project, row.concept, row.key)
        self.view.model.replace_row(updated)
        self.view.mask_painter.set_result(updated, preview)
        self.view.jobs.set_status(
            f"Erased a region of {row.name}: training uses the cleaned copy."
            if updated.erased is not None
            else f"{row.name} is trained as it is again."
        )

    def _on_erase_failed(self, row: ImageRow, text: str) -> None:
        self.view.mask_painter.set_result(row, None)
        self.view.jobs.set_status(text)
