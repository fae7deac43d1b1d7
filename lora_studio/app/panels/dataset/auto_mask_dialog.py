"""The "Auto-mask…" dialog: pick a mask model (CLIPSeg with a prompt, or a background remover), the
threshold and which pictures; preview the mask on the selected picture; make the masks in a worker
with Stop. The masks are written by the controller (GUI thread) through the project's mask
storage; "Undo auto-mask" puts the previous masks back. Pictures with a mask keep it unless
"Replace masks that are already there" is ticked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.panels.dataset.auto_mask_run import AutoMaskRun
from lora_studio.app.panels.dataset.caption_target_widget import CaptionScope
from lora_studio.captioning.masking import (
    MASKERS,
    MaskerFolder,
    MaskOptions,
    find_masker_folders,
    missing_masker_text,
)

READY = "Ready. Preview first to choose the threshold."


class AutoMaskDialog(QDialog):
    masks_made = Signal(object)  # MaskRunReport: the controller writes its masks
    undo_requested = Signal()
    models_requested = Signal(str)  # "get a mask model": the controller opens the Models dialog

    def __init__(
        self, roots: Sequence[Path], scopes: Sequence[CaptionScope], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Auto-mask pictures")
        self.roots = list(roots)
        self.scopes = [s for s in scopes if s.rows]
        self.run = AutoMaskRun(self)
        self._reason = ""  # the "can't start" text shown last
        self._build()
        self.reload_models()
        self.resize(820, 560)

    def _build(self) -> None:
        intro = QLabel(
            "Let a model find the subject of each picture and mask out the rest, so masked training "
            "learns only the subject. Your pictures are not changed; touch the masks up in the Mask tab."
        )
        intro.setWordWrap(True)
        self.model = QComboBox()
        self.model.currentIndexChanged.connect(self._on_model_changed)
        self.missing = QLabel()
        self.missing.setWordWrap(True)
        self.missing.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.prompt = QLineEdit("the character")
        self.prompt.setToolTip("What to keep, in a few words (CLIPSeg only): “the character”, “a cat”")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.05, 0.95)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(MaskOptions().threshold)
        self.threshold.setToolTip("Lower: a larger learned area. Higher: only what the model is sure of.")
        self.learn = QComboBox()
        self.learn.addItem("The subject (the background is left out)", False)
        self.learn.addItem("The background (the subject is left out)", True)
        self.grow = QSpinBox()
        self.grow.setRange(-30, 60)
        self.grow.setSuffix(" px")
        self.grow.setToolTip("Widen the learned area by this much (negative: narrow it)")
        self.scope = QComboBox()
        for scope in self.scopes:
            self.scope.addItem(f"{scope.label} ({len(scope.rows)})", scope.key)
        self.scope.currentIndexChanged.connect(self._update)
        self.replace = QCheckBox()
        self.replace.setToolTip("Off: pictures that already have a mask (painted by hand) keep it")
        self.replace.toggled.connect(self._update)
        form = QFormLayout()
        form.addRow("Model", self.model)
        form.addRow("", self.missing)
        self.get_models_button = QPushButton("Get models…")
        self.get_models_button.setToolTip("Download a mask model (opens the Models dialog)")
        self.get_models_button.clicked.connect(self.request_models)
        form.addRow("", self.get_models_button)
        form.addRow("Keep", self.prompt)
        form.addRow("Threshold", self.threshold)
        form.addRow("Learn", self.learn)
        form.addRow("Grow", self.grow)
        form.addRow("Pictures", self.scope)
        form.addRow("", self.replace)

        self.preview_button = QPushButton("Preview on the selected picture")
        self.preview_button.clicked.connect(self.run.preview)
        self.preview_button.setToolTip("Mask the selected picture with these settings; nothing is saved")
        self.preview_image = QLabel("The mask of the selected picture shows here.")
        self.preview_image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_image.setMinimumSize(320, 240)
        self.preview_image.setProperty("muted", True)
        right = QVBoxLayout()
        right.addWidget(self.preview_button)
        right.addWidget(self.preview_image, 1)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.start_button = QPushButton("Make masks")
        self.start_button.setProperty("primary", True)
        self.start_button.clicked.connect(self.run.start)
        self.cancel_button = QPushButton("Stop")
        self.cancel_button.setToolTip("Stop after the current picture; the masks made so far are kept")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.run.cancel)
        self.undo_button = QPushButton("Undo auto-mask")
        self.undo_button.setToolTip("Put back the masks the last auto-mask run replaced")
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.undo_requested)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.undo_button)
        buttons.addStretch(1)
        for b in (self.start_button, self.cancel_button, close):
            buttons.addWidget(b)
        columns = QHBoxLayout()
        left = QWidget()
        left.setLayout(form)
        columns.addWidget(left, 1)
        columns.addLayout(right, 1)
        outer = QVBoxLayout(self)
        outer.addWidget(intro)
        outer.addLayout(columns, 1)
        outer.addWidget(self.status)
        outer.addWidget(self.progress)
        outer.addLayout(buttons)

    # -- models --------------------------------------------------------------------------------
    @Slot()
    def reload_models(self) -> None:
        self.model.clear()
        for folder in find_masker_folders(self.roots):
            self.model.addItem(folder.label, folder)
        self.missing.setText(missing_masker_text(self.roots[0]) if self.model.count() == 0 else "")
        self.missing.setVisible(self.model.count() == 0)
        self._on_model_changed()

    def request_models(self) -> None:
        """Ask for the Models dialog (``models_requested``) at the chosen mask model's family."""
        folder = self.selected_model()
        self.models_requested.emit(folder.kind.value if folder is not None else "")

    def selected_model(self) -> MaskerFolder | None:
        folder = self.model.currentData()
        return folder if isinstance(folder, MaskerFolder) else None

    def _on_model_changed(self, *_: object) -> None:
        folder = self.selected_model()
        self.prompt.setEnabled(folder is not None and MASKERS[folder.kind].uses_prompt)
        self._update()

    # -- the request ---------------------------------------------------------------------------
    def selected_scope(self) -> CaptionScope | None:
        key = self.scope.currentData()
        return next((s for s in self.scopes if s.key == key), None)

    def set_scope(self, key: str) -> None:
        index = self.scope.findData(key)
        if index >= 0:
            self.scope.setCurrentIndex(index)

    def options(self) -> MaskOptions:
        return MaskOptions(
            prompt=self.prompt.text().strip(),
            threshold=self.threshold.value(),
            learn_background=bool(self.learn.currentData()),
            grow=self.grow.value(),
            replace_existing=self.replace.isChecked(),
        )

    def blocked_reason(self) -> str:
        if self.run.running:
            return "Masking is running; press Stop to end it."
        if self.selected_model() is None:
            return "No auto-mask model yet: put one in the captioners folder (see above)."
        scope = self.selected_scope()
        if scope is None:
            return "There are no pictures to mask."
        if not self.replace.isChecked() and all(r.mask is not None for r in scope.rows):
            return "Every one of these pictures has a mask already; tick “Replace …” to make new ones."
        return ""

    def refresh(self) -> None:
        """The pictures changed (masks written or undone): count their masks again."""
        self._update()

    @Slot()
    def _update(self, *_: object) -> None:
        scope = self.selected_scope()
        with_mask = sum(1 for r in scope.rows if r.mask is not None) if scope else 0
        self.replace.setText(f"Replace masks that are already there ({with_mask} of these pictures have one)")
        reason = self.blocked_reason()
        self.start_button.setEnabled(not reason)
        self.start_button.setToolTip(reason or "Make a mask for each of these pictures")
        can_preview = self.selected_model() is not None and not self.run.running
        self.preview_button.setEnabled(can_preview)
        self.preview_button.setToolTip(
            "Mask the selected picture with these settings; nothing is saved"
            if can_preview
            else reason or "Wait for the running job"
        )
        if self.run.running:
            return
        if self.status.text() in ("", READY, self._reason):  # a run's result stays until the next one
            self.status.setText(reason or READY)
        self._reason = reason

    def set_running(self, running: bool) -> None:
        for w in (self.model, self.prompt, self.threshold, self.learn, self.grow, self.scope, self.replace):
            w.setEnabled(not running)
        if not running:
            self._on_model_changed()
        self.cancel_button.setEnabled(running)
        self._update()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.run.cancel()
        super().closeEvent(event)

    def reject(self) -> None:
        self.run.cancel()
        super().reject()
