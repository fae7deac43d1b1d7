"""Preset choice (purpose × model type × graphics memory), "Automatic steps" and the step maths."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QPushButton, QWidget

from lora_studio.core.families import ModelFamily
from lora_studio.training.config_files import DEFAULT_PURPOSE, DEFAULT_VRAM_GB
from lora_studio.training.presets import VRAM_TIERS, Purpose

PURPOSE_LABELS = {
    Purpose.STYLE: "Style",
    Purpose.CHARACTER: "Character / subject",
    Purpose.QUICK_TEST: "Quick test",
}
PURPOSE_TIPS = {
    Purpose.STYLE: "A look or art style: bigger LoRA, mirrored pictures, more pictures per epoch.",
    Purpose.CHARACTER: "A person, pet, object or character: keeps it recognisable, no mirroring.",
    Purpose.QUICK_TEST: "A small, short run to check that everything works before a long one.",
}


class PresetBar(QWidget):
    apply_requested = Signal(Purpose, ModelFamily, int)  # Purpose, ModelFamily, VRAM GB
    automatic_steps_requested = Signal(Purpose)  # Purpose

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.purpose = QComboBox()
        for p, label in PURPOSE_LABELS.items():
            self.purpose.addItem(label, p.value)
            self.purpose.setItemData(self.purpose.count() - 1, PURPOSE_TIPS[p], Qt.ItemDataRole.ToolTipRole)
        self.purpose.setCurrentIndex(self.purpose.findData(DEFAULT_PURPOSE.value))
        self.purpose.setToolTip("What you are teaching. Each purpose has settings that usually work.")
        self.family = QComboBox()
        for fam in (ModelFamily.SD1, ModelFamily.SD2, ModelFamily.SDXL):
            self.family.addItem(fam.label, fam.value)
        self.family.setToolTip("The type of the base model. Set automatically when you pick a base model.")
        self.vram = QComboBox()
        for gb in VRAM_TIERS:
            self.vram.addItem(f"{gb} GB", gb)
        self.vram.setCurrentIndex(VRAM_TIERS.index(DEFAULT_VRAM_GB))
        self.vram.setToolTip("Memory of your graphics card. Set from the detected card; lower it to leave room for other apps.")
        self.apply_button = QPushButton("Use preset")
        self.apply_button.setToolTip("Replace the learning settings with the preset (your model, pictures, names and prompts stay).")
        self.apply_button.clicked.connect(self._apply)
        self.auto_button = QPushButton("Auto steps")
        self.auto_button.setToolTip("Choose repeats and epochs from the number of pictures in the project.")
        self.auto_button.clicked.connect(lambda: self.automatic_steps_requested.emit(self.current_purpose()))
        self.steps_label = QLabel()
        self.steps_label.setWordWrap(True)
        self.steps_label.setToolTip("Steps = pictures × repeats ÷ batch size × epochs. One step is one learning update.")

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.addWidget(QLabel("Preset"), 0, 0)
        grid.addWidget(self.purpose, 0, 1, 1, 4)  # a row of its own: the purpose names are long
        grid.addWidget(self.family, 1, 1)
        grid.addWidget(self.vram, 1, 2)
        grid.addWidget(self.apply_button, 1, 3, 1, 2)
        grid.addWidget(self.steps_label, 2, 0, 1, 4)
        grid.addWidget(self.auto_button, 2, 4, Qt.AlignmentFlag.AlignTop)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)

    def set_family(self, family: ModelFamily | None) -> None:
        if family is not None:
            self.family.setCurrentIndex(max(0, self.family.findData(ModelFamily(family).value)))

    def set_vram_tier(self, gb: int) -> None:
        self.vram.setCurrentIndex(max(0, self.vram.findData(gb)))

    def current_purpose(self) -> Purpose:
        return Purpose(self.purpose.currentData())

    def _apply(self) -> None:
        self.apply_requested.emit(self.current_purpose(), ModelFamily(self.family.currentData()), int(self.vram.currentData()))
