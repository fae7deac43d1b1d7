"""The Auto-caption dialog's live preview: caption the selected picture with the chosen model and
options, and show what would be saved (nothing is written). The model stays loaded between
previews, so trying another instruction is quick; it is let go before a full run and on close."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.worker import Worker
from lora_studio.captioning.base import (
    CaptionOptions,
    OutputKind,
    captioner_specs,
    get_spec,
    missing_model_message,
)
from lora_studio.captioning.runner import CaptionMode, MaskHandling, captioning_image, compose_caption
from lora_studio.core.control import RunControl
from lora_studio.core.errors import LoraStudioError
from lora_studio.core.events import Reporter, StatusChanged
from lora_studio.dataset.items import Item
from lora_studio.dataset.scan import ImageRow

if TYPE_CHECKING:
    from lora_studio.app.panels.dataset.auto_caption_dialog import AutoCaptionDialog


def missing_models_text(root: Path) -> str:
    """What to do when no captioning model is installed: the files for each kind, in plain words."""
    lines = [f"No captioning model was found in {root}.", ""]
    for spec in captioner_specs():
        lines.append(f"• {spec.label}: {missing_model_message(spec.kind, root / spec.default_folder_name)}")
    lines += ["", "Then press “Look again”."]
    return "\n".join(lines)


class CaptionPreviewBox(QGroupBox):
    def __init__(self, dialog: AutoCaptionDialog) -> None:
        super().__init__("Try it on one picture")
        self.dialog = dialog
        self.worker: Worker | None = None
        self._loaded: tuple[Any, tuple[Path, str]] | None = None  # (captioner, (folder, how it loaded))
        self._pending: tuple[tuple[Path, str], ImageRow, CaptionMode, str, str] | None = None
        self.button = QPushButton("Preview on the selected picture")
        self.button.setToolTip("Caption the selected picture with these settings; nothing is saved")
        self.button.clicked.connect(self.start)
        self.result = QLabel("Select a picture in the grid, then press Preview to see its caption.")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(self.button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.result)

    def picture(self) -> ImageRow | None:
        """The selected picture, else the first picture of the chosen scope."""
        for scope in (self.dialog.scopes[0] if self.dialog.scopes else None, self.dialog.scope()):
            rows = [r for r in (scope.rows if scope is not None else ()) if not r.error]
            if rows:
                return rows[0]
        return None

    @Slot()
    def start(self) -> bool:
        dialog = self.dialog
        folder, row = dialog.selected_folder(), self.picture()
        if self.worker is not None or dialog.running:
            return False
        if folder is None or not folder.usable or folder.kind is None:
            self.result.setText(dialog.start_blocked_reason() or "Pick a model first.")
            return False
        if row is None:
            self.result.setText("Select a picture in the grid first.")
            return False
        trigger = dialog.triggers.get(row.concept, "") if dialog.keep_trigger.isChecked() else ""
        options = dialog.options().for_trigger(trigger)
        mode, masks = dialog.mode_value(), MaskHandling(dialog.mask_mode.currentData())
        item = Item(image=row.path, crop=row.crop, mask=row.mask, caption_path=row.caption_path)
        how = (folder.path, repr(getattr(options, "quantization", "")) + options.device)
        loaded = self._loaded if self._loaded is not None and self._loaded[1] == how else None
        if loaded is None:
            self.release()

        def job(reporter: Reporter, control: RunControl) -> tuple[Any, str, str]:
            captioner = loaded[0] if loaded is not None else _load(folder.path, options, reporter)
            control.checkpoint()
            (result,) = captioner.caption([captioning_image(item, masks)], options)
            asked = (getattr(captioner, "last_prompts", None) or [""])[0]
            return captioner, result.text, asked

        worker = Worker(job, name="Caption preview", gpu=True)
        worker.event.connect(self._on_event)
        self._pending = (how, row, mode, trigger, folder.kind)
        worker.finished.connect(self._on_done)  # a bound slot: runs on the GUI thread
        worker.failed.connect(self._on_failed)
        worker.ended.connect(self._on_ended)
        try:
            dialog.context.jobs.start(worker)
        except LoraStudioError as exc:
            self.result.setText(f"{exc.message} {exc.hint}".strip())
            return False
        self.worker = worker
        self.button.setEnabled(False)
        self.result.setText(f"Captioning {row.name} with {folder.name}…")
        return True

    @Slot(object)
    def _on_event(self, event: object) -> None:
        if isinstance(event, StatusChanged):
            self.result.setText(event.text)

    @Slot(object)
    def _on_done(self, out: tuple[Any, str, str]) -> None:
        assert self._pending is not None
        how, row, mode, trigger, kind = self._pending
        captioner, generated, asked = out
        self._loaded = (captioner, how)
        sentence = get_spec(kind).output == OutputKind.SENTENCE
        text = compose_caption(row.caption, generated, mode, trigger, sentence=sentence)
        lines = [f"{row.name} would get: {text}"]
        if asked:
            lines.append(f"(The model was asked: {asked})")
        self.result.setText("\n".join(lines))

    @Slot(ErrorInfo)
    def _on_failed(self, info: ErrorInfo) -> None:
        self.release()
        self.result.setText(f"{info.message} {info.hint}".strip())

    @Slot()
    def _on_ended(self) -> None:
        self.worker = None
        self.button.setEnabled(True)

    def release(self) -> None:
        """Let go of the loaded model (before a full run, and when the dialog closes)."""
        if self._loaded is not None and self.worker is None:
            self._loaded[0].unload()
            self._loaded = None


def _load(folder: Path, options: CaptionOptions, reporter: Reporter) -> Any:
    from lora_studio.captioning.base import load_captioner

    reporter(StatusChanged(f"Loading {folder.name}…"))
    return load_captioner(folder, options.device, options=options)
