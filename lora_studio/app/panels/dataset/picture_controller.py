"""The Dataset tab's picture moves: "Move to ▸" / "Copy to ▸" in the grid's context menu and pictures
dragged from the grid onto a concept (Ctrl copies). Each one is a ``picture_edits`` edit on the
app's one undo history; whatever changes pictures there (a move, a removal, an import, their undo
and redo) makes the grid read the pictures again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from lora_studio.core.errors import LoraStudioError
from lora_studio.dataset import picture_edits

if TYPE_CHECKING:
    from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel
    from lora_studio.dataset.scan import ImageRow


class PictureController(QObject):
    def __init__(self, view: DatasetPanel) -> None:
        super().__init__(view)
        self.view = view
        view.grid.transfer_requested.connect(self._on_transfer_requested)
        view.concepts.pictures_dropped.connect(self.transfer)
        view.history.pictures_changed.connect(self._on_pictures_changed)
        view.concepts.concepts_changed.connect(self.update_targets)
        view.model.modelReset.connect(self.update_targets)
        self.update_targets()

    def update_targets(self) -> None:
        """The concepts the grid's "Move to" / "Copy to" menus offer."""
        project = self.view.project
        self.view.grid.set_concepts([c.name for c in project.concepts] if project is not None else [])

    def _on_transfer_requested(self, rows: list[ImageRow], concept: str, copy: bool) -> None:
        self.transfer(concept, [(r.concept, r.key) for r in rows], copy)

    def transfer(self, concept: str, pictures: list[tuple[str, str]], copy: bool) -> bool:
        """Move (or copy) pictures, given as (concept, key), into ``concept``; Ctrl+Z undoes it."""
        view = self.view
        if view.project is None or not pictures:
            return False
        if view.jobs.busy:
            view.jobs.set_status("Wait for the current job to finish, then move the pictures.")
            return False
        view.caption_editor.commit()
        view.mask_painter.flush()
        try:
            edit = picture_edits.transfer(view.project, pictures, concept, copy=copy)
        except LoraStudioError as exc:
            view.rescan()
            view.jobs.show_exception(exc)
            return False
        done = len(edit.pictures)
        verb = "Copied" if copy else "Moved"
        text = f"{verb} {done} picture{'s' if done != 1 else ''} to “{concept}”."
        if edit.skipped:
            path, reason = edit.skipped[0]
            text += f" Left {len(edit.skipped)} where {'it was' if len(edit.skipped) == 1 else 'they were'} ({path.name}: {reason})."
        if done:
            view.follow = list(edit.pictures)  # the grid chooses them where they are now
            view.history.record(edit)  # rescans
            text += " Ctrl+Z undoes it."
        view.jobs.set_status(text)
        return done > 0

    def _on_pictures_changed(self, edit: picture_edits.PictureEdit) -> None:
        self.view.concepts.update_steps()
        self.view.rescan()
