"""The Dataset tab's auto-masks: the "Auto-mask…" button in the Mask tab, the dialog, writing the
masks it makes (GUI thread, through the project's mask storage) and undoing a run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QPushButton

from lora_studio.app.dialogs.models_dialog import show_models_dialog
from lora_studio.app.panels.dataset.auto_mask_dialog import AutoMaskDialog
from lora_studio.app.panels.dataset.caption_target_widget import CaptionScope
from lora_studio.captioning.masking import MaskRunReport, MaskUndo, apply_masks, undo_masks
from lora_studio.core.errors import LoraStudioError
from lora_studio.dataset.scan import read_row

if TYPE_CHECKING:
    from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel


class AutoMaskController(QObject):
    def __init__(self, view: DatasetPanel) -> None:
        super().__init__(view)
        self.view = view
        self.dialog: AutoMaskDialog | None = None
        self.undos: list[MaskUndo] = []  # one per applied run, newest last
        self.button = QPushButton("Auto-mask…")
        self.button.setToolTip("Let a model mask out the background of many pictures at once")
        self.button.clicked.connect(self.open_dialog)
        row = QHBoxLayout()
        row.addWidget(self.button)
        row.addStretch(1)
        layout = view.mask_painter.layout()
        if isinstance(layout, QBoxLayout):
            layout.insertLayout(0, row)  # above the painter's own tools
        view.context.project_changed.connect(lambda *_: self.undos.clear())

    def scopes(self) -> list[CaptionScope]:
        view = self.view
        rows = view.model.rows()
        current = view.grid.current_row()
        concept = view.concepts.current_concept() or (current.concept if current else None)
        scopes = [CaptionScope("selection", "Selected pictures", tuple(view.grid.selected_rows()))]
        if concept is not None:
            scopes.append(
                CaptionScope(
                    "concept", f"Every picture of “{concept}”", tuple(r for r in rows if r.concept == concept)
                )
            )
        scopes.append(CaptionScope("all", "Every picture in the project", tuple(rows)))
        return scopes

    @Slot()
    def open_dialog(self) -> AutoMaskDialog | None:
        view = self.view
        if view.project is None:
            return None
        view.mask_painter.flush()  # a mask being painted is saved first
        if self.dialog is not None and self.dialog.run.running:
            self.dialog.raise_()
            return self.dialog
        if self.dialog is not None:
            self.dialog.deleteLater()
        dialog = AutoMaskDialog(view.context.settings.captioner_folders(), self.scopes(), view)
        dialog.run.context = view.context
        if len(view.grid.selected_rows()) < 2:
            dialog.set_scope("concept")
        dialog.masks_made.connect(self.apply)
        dialog.undo_requested.connect(self.undo)
        dialog.models_requested.connect(lambda kind: self.get_models(dialog, kind))
        dialog.undo_button.setEnabled(bool(self.undos))
        self.dialog = dialog
        dialog.show()
        return dialog

    def get_models(self, dialog: AutoMaskDialog, kind: str) -> None:
        """The dialog's "Get models…": the Models dialog at the mask models; the model list refreshes
        once a download is in place."""
        models = show_models_dialog(self.view.context, dialog, kind or "clipseg")
        models.model_installed.connect(dialog.reload_models, Qt.ConnectionType.UniqueConnection)
        dialog.status.setText(
            "Download a mask model in the Models dialog; it appears in the list here when it is ready."
        )

    @Slot(object)
    def apply(self, report: MaskRunReport) -> None:
        view = self.view
        if view.project is None:
            return
        view.mask_painter.flush()
        try:
            undo = apply_masks(view.project, report.masks, "Auto-mask")
        except LoraStudioError as exc:
            view.jobs.show_exception(exc)
            return
        if len(undo):
            self.undos.append(undo)
        self._refresh([(concept, key) for concept, key, _ in undo.previous])
        text = f"{report.summary()} Saved: touch them up in the Mask tab; “Undo auto-mask” puts the old ones back."
        view.jobs.set_status(report.summary())
        if self.dialog is not None:
            self.dialog.status.setText(text)
            self.dialog.undo_button.setEnabled(bool(self.undos))

    @Slot()
    def undo(self) -> None:
        view = self.view
        if not self.undos or view.project is None:
            return
        undo = self.undos.pop()
        try:
            undo_masks(view.project, undo)
        except LoraStudioError as exc:
            view.jobs.show_exception(exc)
            return
        self._refresh([(concept, key) for concept, key, _ in undo.previous])
        text = f"{undo.label} undone: {len(undo)} picture(s) have their previous mask again."
        view.jobs.set_status(text)
        if self.dialog is not None:
            self.dialog.status.setText(text)
            self.dialog.undo_button.setEnabled(bool(self.undos))

    def _refresh(self, keys: list[tuple[str, str]]) -> None:
        view = self.view
        if view.project is None:
            return
        for concept, key in keys:
            view.model.replace_row(read_row(view.project, concept, key))
        view.crops.show_row(view.grid.current_row())  # the painter shows the new mask
        if self.dialog is not None:  # its pictures' "has a mask" must be current for the next run
            self.dialog.scopes = [s for s in self.scopes() if s.rows]
            self.dialog.refresh()
