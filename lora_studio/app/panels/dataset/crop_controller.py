"""The Dataset tab's crops, and the full-size picture the crop and mask editors show (loaded on a
pool thread when one of them is visible)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from lora_studio.app.panels.dataset.preview_loader import Preview, PreviewLoader
from lora_studio.core.errors import LoraStudioError
from lora_studio.dataset import project as proj
from lora_studio.dataset.items import CropBox
from lora_studio.dataset.ops import buckets_for, center_crop_box, nearest_bucket
from lora_studio.dataset.scan import ImageRow
from lora_studio.training.config import update

if TYPE_CHECKING:
    from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel


class CropController(QObject):
    def __init__(self, view: DatasetPanel) -> None:
        super().__init__(view)
        self.view = view
        self.previews = PreviewLoader(self)
        self.previews.loaded.connect(self._on_preview_loaded)
        self.previews.failed.connect(self._on_preview_failed)
        self._preview_for: Path | None = None
        view.crop_editor.crop_changed.connect(self.set_crop)
        view.crop_editor.batch_requested.connect(self._on_batch_crop)
        view.grid.selection_changed.connect(lambda rows: view.crop_editor.set_selection_count(len(rows)))
        # One training resolution per project: the Training settings' (training.toml), shown and
        # changed here; the dataset check reads it from the crop editor.
        view.crop_editor.resolution_chosen.connect(self._on_resolution_chosen)
        view.context.training.config_changed.connect(self._on_training_settings)
        view.context.project_changed.connect(self.show_training_resolution)
        self.show_training_resolution()

    def _on_training_settings(self, config: object) -> None:
        if config is not None:  # None: a project was opened, project_changed follows
            self.show_training_resolution()

    def show_training_resolution(self, *_: object) -> None:
        resolution = self.view.context.training.current().dataset.resolution
        if resolution != self.view.crop_editor.train_resolution():
            self.view.crop_editor.set_train_resolution(resolution)

    def _on_resolution_chosen(self, resolution: int) -> None:
        training = self.view.context.training
        if resolution != training.current().dataset.resolution:
            training.edit(update(training.current(), **{"dataset.resolution": resolution}))

    # -- the picture in the editors --------------------------------------------------------------
    def show_row(self, row: ImageRow | None) -> None:
        self.view.crop_editor.set_row(row)
        self.view.mask_painter.set_row(row)
        self._preview_for = None
        self.load_preview_if_needed()

    def load_preview_if_needed(self) -> None:
        view = self.view
        row = view.grid.current_row()
        if (
            row is None
            or row.error
            or view.editors.currentWidget() not in (view.crop_editor, view.mask_painter)
        ):
            return
        if self._preview_for == row.path:
            return
        self._preview_for = row.path
        self.previews.load(row.path, row.mask, row.erase, row.erased)

    def _on_preview_loaded(self, request: int, preview: Preview) -> None:
        if request != self.previews.latest:
            return
        view = self.view
        row = view.grid.current_row()
        if row is None or row.path != preview.path:
            return
        view.crop_editor.set_image(row, preview.image, preview.size)
        view.mask_painter.set_image(
            row, preview.image, preview.size, preview.mask, preview.erase, preview.erased
        )
        if preview.mask_error:
            view.jobs.set_status(preview.mask_error)

    def _on_preview_failed(self, request: int, path: Path, text: str) -> None:
        if request == self.previews.latest:
            self.view.crop_editor.canvas.set_message(text)
            self.view.mask_painter.canvas.set_message(text)

    # -- crops -----------------------------------------------------------------------------------
    def set_crop(self, row: ImageRow, crop: CropBox | None) -> None:
        view = self.view
        if view.project is None:
            return
        try:
            proj.set_crop(view.project, row.concept, row.key, crop)
        except LoraStudioError as exc:
            view.jobs.show_exception(exc)
            return
        # the grid's row, not the editor's copy: a mask painted since must stay on it
        updated = dataclasses.replace(view.model.resolve(row.path) or row, crop=crop)
        view.model.replace_row(updated)
        view.crop_editor.row = updated
        view.steps_soon()

    def _on_batch_crop(self, mode: str, aspect: float | None, resolution: int) -> None:
        view = self.view
        if view.project is None:
            return
        buckets = buckets_for(resolution)
        done = same = 0
        for row in view.grid.selected_rows():
            if not row.width or row.error:
                continue
            if mode == "fit" or aspect is None:
                bw, bh = nearest_bucket(row.width, row.height, buckets)
                box = center_crop_box(row.width, row.height, bw / bh)
            else:
                box = center_crop_box(row.width, row.height, aspect)
            crop = None if (box.width, box.height) == (row.width, row.height) else box
            if crop == row.crop:
                same += 1  # already so: say it, rather than claim a change
                continue
            self.set_crop(row, crop)
            done += 1
        current = view.grid.current_row()
        if current is not None:
            view.crop_editor.set_row(current)
            self._preview_for = None
            self.load_preview_if_needed()
        verb = "Trimmed" if mode == "fit" else "Centre-cropped"
        text = f"{verb} {done} picture{'s' if done != 1 else ''}."
        if same:
            text += f" {same} already had that crop."
        view.jobs.set_status(text)
