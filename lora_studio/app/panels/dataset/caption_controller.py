"""The Dataset tab's captions: typed edits, the tag counts, bulk tag changes, auto-captioning and
the one undo history they all go through."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtGui import QPixmap

from lora_studio.app.panels.dataset.auto_caption_dialog import AutoCaptionDialog
from lora_studio.app.panels.dataset.caption_target_widget import CaptionScope
from lora_studio.app.panels.dataset.tag_tools_widget import BulkRequest, Scope
from lora_studio.core.errors import LoraStudioError
from lora_studio.dataset import captions as cap
from lora_studio.dataset import edits
from lora_studio.dataset.edits import CaptionEdit, Edit
from lora_studio.dataset.jobs import bulk_edit
from lora_studio.dataset.scan import ImageRow

if TYPE_CHECKING:
    from collections.abc import Callable

    from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel


class CaptionController(QObject):
    def __init__(self, view: DatasetPanel) -> None:
        super().__init__(view)
        self.view = view
        self.history = view.history
        self.autocaption: AutoCaptionDialog | None = None
        self._freq_timer = QTimer(self)
        self._freq_timer.setSingleShot(True)
        self._freq_timer.setInterval(150)
        self._freq_timer.timeout.connect(self.update_frequency)
        view.caption_editor.caption_edited.connect(self._on_caption_edited)
        view.tag_tools.tag_clicked.connect(view.grid.set_tag_filter)
        view.tag_tools.tag_picked.connect(view.caption_editor.add_tag)
        view.tag_tools.bulk_requested.connect(self.run_bulk)
        view.autocaption_button.clicked.connect(self.auto_caption_dialog)
        view.undo_action.triggered.connect(self.undo)
        view.redo_action.triggered.connect(self.redo)
        self.history.files_changed.connect(self._on_captions_written)
        view.model.dataChanged.connect(self._preview_when_ready)
        self.history.history_changed.connect(self._update_undo_actions)
        self._update_undo_actions()

    def _on_caption_edited(self, row: ImageRow, text: str) -> None:
        try:
            self.history.push(edits.set_caption_edit(row.caption_path, text, f"Edit caption of {row.name}"))
        except LoraStudioError as exc:
            self.view.jobs.show_exception(exc)

    def _on_captions_written(self, paths: list[Path]) -> None:
        view = self.view
        changed = view.model.refresh_captions(paths)
        current = view.grid.current_row()
        if current is not None:
            for r in changed:
                if r.path == current.path:
                    view.caption_editor.set_row(r)
        self._freq_timer.start()

    def _preview_when_ready(self, *_: object) -> None:
        """The picture beside the caption, once its thumbnail is made (a picture chosen right after
        it was added or moved has none yet when it is shown)."""
        view = self.view
        row = view.caption_editor.row
        if row is None or not view.caption_editor.preview.pixmap().isNull():
            return
        index = view.model.index_of_path(row.path)
        thumb = view.model.thumbnail(index.row()) if index.isValid() else None
        if thumb is not None:
            view.caption_editor.set_preview(QPixmap.fromImage(thumb))

    def frequency_soon(self, rows: int) -> None:
        """Count the tags after the grid has painted when there are many captions, else now."""
        if rows > 300:
            self._freq_timer.start()
        else:
            self.update_frequency()

    def update_frequency(self) -> None:
        rows = self.view.model.rows()
        self.view.caption_editor.set_frequency(cap.tag_frequency(r.caption for r in rows))
        self.view.tag_tools.set_frequency(cap.frequency_table(r.caption for r in rows), len(rows))

    # -- undo ----------------------------------------------------------------------------------
    def undo(self) -> None:
        view = self.view
        if view.editors.currentWidget() is view.mask_painter and view.mask_painter.can_undo:
            view.mask_painter.undo()
            return
        view.caption_editor.commit()
        self._history_step(self.history.undo, undo=True)

    def redo(self) -> None:
        self._history_step(self.history.redo, undo=False)

    def _history_step(self, step: Callable[[], Edit | None], *, undo: bool) -> None:
        try:
            edit = step()
        except LoraStudioError as exc:
            self.view.jobs.show_exception(exc)
            return
        if isinstance(edit, CaptionEdit) and undo:
            self.view.jobs.set_status(f"{edit.label}: {len(edit.changes)} caption(s) changed back.")
        elif edit is not None:
            self.view.jobs.set_status(f"Undone: {edit.label}." if undo else f"{edit.label} again.")

    def _update_undo_actions(self) -> None:
        h, undo, redo = self.history, self.view.undo_action, self.view.redo_action
        undo.setEnabled(h.can_undo)
        redo.setEnabled(h.can_redo)
        undo.setText(f"Undo {h.undo_label}" if h.can_undo else "Undo")
        redo.setText(f"Redo {h.redo_label}" if h.can_redo else "Redo")
        # the toolbar buttons show the icon text and stay short; the Edit menu and the tooltip say what
        undo.setIconText("Undo")
        redo.setIconText("Redo")
        undo.setToolTip(undo.text() + " (Ctrl+Z)")
        redo.setToolTip(redo.text() + " (Ctrl+Shift+Z)")

    # -- many captions at once -----------------------------------------------------------------
    def auto_caption_dialog(self) -> AutoCaptionDialog | None:
        """Open the Auto-caption dialog (not modal) for the selection, the concept or everything."""
        view = self.view
        if view.project is None:
            return None
        view.caption_editor.commit()
        if self.autocaption is not None and self.autocaption.running:
            self.autocaption.raise_()
            self.autocaption.activateWindow()
            return self.autocaption
        rows = view.model.rows()
        concept = self._current_concept()
        scopes = [CaptionScope("selection", "Selected pictures", tuple(view.grid.selected_rows()))]
        if concept is not None:
            in_concept = tuple(r for r in rows if r.concept == concept)
            scopes.append(CaptionScope("concept", f"Every picture of “{concept}”", in_concept))
        scopes.append(CaptionScope("all", "Every picture in the project", tuple(rows)))
        triggers = {c.name: c.trigger for c in view.project.concepts}
        if self.autocaption is not None:
            self.autocaption.deleteLater()
        dialog = AutoCaptionDialog(view.context, self.history, scopes, triggers, view)
        if len(scopes) > 2 and len(scopes[0].rows) < 2:
            dialog.set_scope("concept")  # one picture selected: usually the whole concept is meant
        dialog.applied.connect(view.jobs.set_status)
        self.autocaption = dialog
        dialog.show()
        return dialog

    @Slot(BulkRequest)
    def run_bulk(self, request: BulkRequest) -> None:
        view = self.view
        view.caption_editor.commit()
        rows = self._rows_in_scope(request.scope)
        if not rows:
            view.tag_tools.show_result("No pictures to change: select some first.")
            return
        triggers = {c.name: c.trigger for c in view.project.concepts} if view.project else {}
        try:
            edit = bulk_edit(request.operation.value, rows, request.first, request.second, triggers)
            self.history.push(edit)
        except LoraStudioError as exc:
            view.tag_tools.show_result(exc.message)
            return
        text = (
            f"Changed {len(edit.changes)} of {len(rows)} captions."
            if edit.changes
            else "Nothing needed changing."
        )
        if edit.skipped:
            text += f" Left {len(edit.skipped)} alone ({edit.skipped[0][1]})."
        view.tag_tools.show_result(text)

    def _current_concept(self) -> str | None:
        current = self.view.grid.current_row()
        return self.view.concepts.current_concept() or (current.concept if current else None)

    def _rows_in_scope(self, scope: Scope) -> list[ImageRow]:
        grid = self.view.grid
        if scope == Scope.SELECTED:
            return grid.selected_rows()
        if scope == Scope.SHOWN:
            return grid.visible_rows()
        if scope == Scope.CONCEPT:
            concept = self._current_concept()
            return [r for r in self.view.model.rows() if r.concept == concept]
        return self.view.model.rows()
