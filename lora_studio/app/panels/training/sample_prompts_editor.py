"""The sample-prompt editor: a list of prompts, each with its own text, negative, steps, size, seed, CFG.

Reads and writes ``sample.prompts`` (a tuple of :class:`SamplePrompt`), the same values the config
file stores; no kohya ``--s 20 --l 7`` syntax to learn. Pick a prompt in the list to edit its fields.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from lora_studio.training.config import SamplePrompt

NEW_PROMPT = "a picture of your subject"


def _spin(minimum: int, maximum: int, step: int, special: str, tip: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(minimum, maximum)
    spin.setSingleStep(step)
    spin.setKeyboardTracking(False)
    spin.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.UpDownArrows)
    if special:
        spin.setSpecialValueText(special)
    spin.setToolTip(tip)
    spin.setMinimumWidth(70)
    return spin


class SamplePromptsEditor(QWidget):
    """Edits a tuple of :class:`SamplePrompt`. ``changed`` fires after every edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._prompts: list[SamplePrompt] = []
        self._loading = False

        self.list = QListWidget()
        self.list.setFixedHeight(62)
        self.list.setToolTip("Your sample prompts. Pick one to change it below.")
        self.add_button = QPushButton("Add prompt")
        self.add_button.setToolTip("Adds a prompt (a copy of the one picked, or a new one).")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Removes the picked prompt.")
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)

        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("mxstyle, a cat on a sofa")
        self.prompt.setToolTip("What to draw. Include your trigger word.")
        self.negative = QLineEdit()
        self.negative.setPlaceholderText("blurry, low quality (optional)")
        self.negative.setToolTip("What to keep out of the picture. Optional.")
        self.steps = _spin(1, 150, 1, "", "How many drawing steps: 20–30 is enough for a preview.")
        self.cfg = QDoubleSpinBox()
        self.cfg.setRange(1.0, 30.0)
        self.cfg.setSingleStep(0.5)
        self.cfg.setDecimals(1)
        self.cfg.setKeyboardTracking(False)
        self.cfg.setToolTip("How closely the picture follows the prompt (CFG): 5–8 is usual.")
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(0.0, 30.0)
        self.guidance.setSingleStep(0.5)
        self.guidance.setDecimals(1)
        self.guidance.setKeyboardTracking(False)
        self.guidance.setToolTip("FLUX.1-dev only: its built-in guidance (Forge's “Distilled CFG Scale”), 3.5 is usual. FLUX samples don't use CFG.")
        self.width_box = _spin(0, 2048, 64, "Auto", "Picture width in pixels (a multiple of 8). “Auto”: the training size.")
        self.height_box = _spin(0, 2048, 64, "Auto", "Picture height in pixels (a multiple of 8). “Auto”: the training size.")
        self.seed = _spin(-1, 2**31 - 1, 1, "Automatic", "Fixes the noise the picture starts from, so samples are comparable. “Automatic”: the run's seed + the prompt's number.")

        fields = QGridLayout()
        fields.setContentsMargins(0, 0, 0, 0)
        fields.setHorizontalSpacing(6)
        fields.setVerticalSpacing(4)
        self._field_labels: list[QLabel] = []
        rows: list[list[tuple[str, QWidget]]] = [
            [("Prompt", self.prompt)],
            [("Leave out", self.negative)],
            [("Steps", self.steps), ("CFG", self.cfg)],
            [("Width", self.width_box), ("Height", self.height_box)],
            [("Seed", self.seed)],
            [("Guidance", self.guidance)],
        ]
        for r, row in enumerate(rows):
            for c, (text, widget) in enumerate(row):
                label = QLabel(text)
                label.setBuddy(widget)
                label.setToolTip(widget.toolTip())
                self._field_labels.append(label)
                fields.addWidget(label, r, c * 2)
                fields.addWidget(widget, r, c * 2 + 1, 1, 3 if len(row) == 1 else 1)
        fields.setColumnStretch(1, 1)
        fields.setColumnStretch(3, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addLayout(fields)

        self.list.currentRowChanged.connect(self._show_current)
        self.add_button.clicked.connect(self.add_prompt)
        self.remove_button.clicked.connect(self.remove_prompt)
        self.prompt.textEdited.connect(self._store)
        self.negative.textEdited.connect(self._store)
        for spin in (self.steps, self.width_box, self.height_box, self.seed):
            spin.valueChanged.connect(self._store)
        self.cfg.valueChanged.connect(self._store)
        self.guidance.valueChanged.connect(self._store)
        self._show_current(-1)

    # -- values --------------------------------------------------------------------------------
    def prompts(self) -> tuple[SamplePrompt, ...]:
        """The prompts as edited; prompts left without text are not sampled, so they are left out."""
        return tuple(p for p in self._prompts if p.prompt.strip())

    def set_prompts(self, prompts: tuple[SamplePrompt, ...] | None) -> None:
        if tuple(prompts or ()) == self.prompts():
            return  # our own edit coming back: keep a prompt whose text is being retyped
        row = self.list.currentRow()
        self._prompts = list(prompts or ())
        self._loading = True
        try:
            self.list.clear()
            self.list.addItems([self._title(p) for p in self._prompts])
        finally:
            self._loading = False
        self.list.setCurrentRow(min(max(row, 0), len(self._prompts) - 1))
        self._show_current(self.list.currentRow())

    # -- buttons -------------------------------------------------------------------------------
    def add_prompt(self) -> None:
        row = self.list.currentRow()
        base = self._prompts[row] if 0 <= row < len(self._prompts) else SamplePrompt(prompt=NEW_PROMPT)
        self._prompts.append(base)
        self.list.addItem(self._title(base))
        self.list.setCurrentRow(len(self._prompts) - 1)
        self.prompt.setFocus()
        self.prompt.selectAll()
        self.changed.emit()

    def remove_prompt(self) -> None:
        row = self.list.currentRow()
        if not 0 <= row < len(self._prompts):
            return
        del self._prompts[row]
        self._loading = True
        try:
            self.list.takeItem(row)
        finally:
            self._loading = False
        self.list.setCurrentRow(min(row, len(self._prompts) - 1))
        self._show_current(self.list.currentRow())
        self.changed.emit()

    # -- inner workings ------------------------------------------------------------------------
    @staticmethod
    def _title(p: SamplePrompt) -> str:
        return p.prompt or "(no prompt yet)"

    def _show_current(self, row: int) -> None:
        if self._loading:
            return
        has = 0 <= row < len(self._prompts)
        p = self._prompts[row] if has else SamplePrompt(prompt="")
        self._loading = True
        try:
            self.prompt.setText(p.prompt)
            self.negative.setText(p.negative)
            self.steps.setValue(p.steps)
            self.cfg.setValue(p.cfg)
            self.guidance.setValue(p.guidance)
            self.width_box.setValue(p.width)
            self.height_box.setValue(p.height)
            self.seed.setValue(p.seed)
        finally:
            self._loading = False
        for w in (self.prompt, self.negative, self.steps, self.cfg, self.guidance, self.width_box, self.height_box, self.seed, self.remove_button, *self._field_labels):
            w.setEnabled(has)

    def _store(self) -> None:
        row = self.list.currentRow()
        if self._loading or not 0 <= row < len(self._prompts):
            return
        p = dataclasses.replace(
            self._prompts[row],
            prompt=self.prompt.text(),
            negative=self.negative.text(),
            steps=self.steps.value(),
            cfg=round(self.cfg.value(), 1),
            guidance=round(self.guidance.value(), 1),
            width=self.width_box.value(),
            height=self.height_box.value(),
            seed=self.seed.value(),
        )
        if p == self._prompts[row]:
            return
        self._prompts[row] = p
        item = self.list.item(row)
        if item is not None:
            item.setText(self._title(p))
        self.changed.emit()
