"""One undo/redo history for every caption edit in the app, and for the pictures moved, copied,
removed or added in the Dataset tab.

A thin Qt wrapper around ``lora_studio.dataset.edits.EditStack``: the core writes the files
(atomically, byte-for-byte reversible); this object only names the actions and tells listeners
which caption files changed, or that pictures changed place.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from lora_studio.dataset.edits import CaptionEdit, Edit, EditStack
from lora_studio.dataset.picture_edits import PictureEdit


class CaptionHistory(QObject):
    files_changed = Signal(list)  # [Path] of caption files written by a push, undo or redo
    history_changed = Signal()
    pictures_changed = Signal(object)  # the PictureEdit done, undone or redone

    def __init__(self, parent: QObject | None = None, limit: int = 200) -> None:
        super().__init__(parent)
        self.stack = EditStack(limit)

    def push(self, edit: CaptionEdit) -> CaptionEdit:
        """Apply and record ``edit`` (raises DatasetError when a file can't be written)."""
        self.stack.push(edit)
        self._changed(edit)
        return edit

    def record(self, edit: PictureEdit) -> PictureEdit:
        """Record a picture edit that is already done (it applies itself when made)."""
        self.stack.record(edit)
        self._changed(edit)
        return edit

    def undo(self) -> Edit | None:
        edit = self.stack.undo()
        if edit is not None:
            self._changed(edit)
        return edit

    def redo(self) -> Edit | None:
        edit = self.stack.redo()
        if edit is not None:
            self._changed(edit)
        return edit

    def clear(self) -> None:
        self.stack.clear()
        self.history_changed.emit()

    @property
    def can_undo(self) -> bool:
        return self.stack.can_undo

    @property
    def can_redo(self) -> bool:
        return self.stack.can_redo

    @property
    def undo_label(self) -> str:
        return self.stack.undo_label

    @property
    def redo_label(self) -> str:
        return self.stack.redo_label

    def _changed(self, edit: Edit) -> None:
        self.history_changed.emit()
        if isinstance(edit, PictureEdit):
            self.pictures_changed.emit(edit)
        elif isinstance(edit, CaptionEdit) and edit.changes:
            self.files_changed.emit([Path(c.path) for c in edit.changes])
