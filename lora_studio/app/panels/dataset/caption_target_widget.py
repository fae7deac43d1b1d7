"""The auto-caption dialog's "What to change" box: how new text meets the old caption, which
pictures, the trigger word, and what a masked picture shows the model."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QRadioButton,
    QVBoxLayout,
)

from lora_studio.captioning.runner import CaptionMode, MaskHandling
from lora_studio.dataset.scan import ImageRow

MODE_LABELS = {
    CaptionMode.REPLACE: "Replace the caption",
    CaptionMode.APPEND: "Add after the existing caption",
    CaptionMode.PREPEND: "Add before the existing caption",
    CaptionMode.ONLY_MISSING: "Only pictures without a caption",
}
MASK_LABELS = {
    MaskHandling.CROP: "Describe only the painted (learned) area",
    MaskHandling.GREY: "Show the whole picture, ignored area greyed out",
    MaskHandling.IGNORE: "Ignore masks",
}


@dataclasses.dataclass(frozen=True, slots=True)
class CaptionScope:
    """One choice of "which pictures": a label and the rows it covers."""

    key: str  # "selection", "concept" or "all"
    label: str
    rows: tuple[ImageRow, ...]


class CaptionTargetBox(QGroupBox):
    """``changed`` is called whenever the mode or the pictures change (Start may become possible)."""

    def __init__(self, scopes: Sequence[CaptionScope], changed: Callable[[], None]) -> None:
        super().__init__("What to change")
        self.scopes = list(scopes)
        self.mode = QComboBox()
        for mode, label in MODE_LABELS.items():
            self.mode.addItem(label, mode.value)
        self.mode.currentIndexChanged.connect(lambda *_: changed())
        self.scope_group = QButtonGroup(self)
        scope_layout = QVBoxLayout()
        scope_layout.setSpacing(2)
        self.scope_buttons: dict[str, QRadioButton] = {}
        for i, scope in enumerate(self.scopes):
            button = QRadioButton(f"{scope.label} ({len(scope.rows)})")
            button.setEnabled(bool(scope.rows))
            self.scope_group.addButton(button, i)
            self.scope_buttons[scope.key] = button
            scope_layout.addWidget(button)
        first = next((b for b in self.scope_buttons.values() if b.isEnabled()), None)
        if first is not None:
            first.setChecked(True)
        self.scope_group.idToggled.connect(lambda *_: changed())
        self.keep_trigger = QCheckBox("Keep the concept's trigger word first")
        self.keep_trigger.setChecked(True)
        self.keep_trigger.setToolTip(
            "Each picture's caption starts with its concept's trigger word (set in the concept's settings)."
        )
        self.mask_mode = QComboBox()
        for value, label in MASK_LABELS.items():
            self.mask_mode.addItem(label, value.value)
        self.mask_mode.setToolTip("Pictures with a mask: what the model gets to see")
        form = QFormLayout(self)
        form.addRow("New text", self.mode)
        form.addRow("Pictures", scope_layout)
        form.addRow("", self.keep_trigger)
        form.addRow("Masks", self.mask_mode)

    def mode_value(self) -> CaptionMode:
        return CaptionMode(self.mode.currentData())

    def scope(self) -> CaptionScope | None:
        i = self.scope_group.checkedId()
        return self.scopes[i] if 0 <= i < len(self.scopes) else None

    def set_scope(self, key: str) -> None:
        button = self.scope_buttons.get(key)
        if button is not None and button.isEnabled():
            button.setChecked(True)
