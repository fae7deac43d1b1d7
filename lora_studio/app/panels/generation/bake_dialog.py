"""Bake: merge the LoRAs in use, at their strengths, into a copy of the base model."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.generation.request import LoraSpec, format_weight


def default_bake_path(model: Path, loras: Sequence[LoraSpec]) -> Path:
    names = "+".join(f"{spec.name}-{format_weight(spec.weight)}" for spec in loras)[:80]
    stem = re.sub(r"[^\w.+-]+", "_", f"{model.stem if model.is_file() else model.name}+{names}")
    folder = model.parent
    return folder / f"{stem}.safetensors"


class BakeDialog(QDialog):
    """Asks where to write the merged model; the panel runs the job."""

    def __init__(self, model: Path, loras: Sequence[LoraSpec], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Bake LoRAs into the model")
        self.setMinimumWidth(560)
        self.model = model
        self.loras = list(loras)
        listing = "".join(
            f"<li>{spec.name} at strength <b>{format_weight(spec.weight)}</b></li>" for spec in loras
        )
        intro = QLabel(
            f"This makes a new model file: <b>{model.name}</b> with these LoRAs built in:"
            f"<ul style='margin-left:-16px'>{listing}</ul>"
            "The new model then works without the LoRAs, in any program. Your original files are not changed. "
            "It takes a few minutes and about as much free memory as the model's size × 3."
        )
        intro.setWordWrap(True)
        self.path_edit = QLineEdit(str(default_bake_path(model, loras)))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        self.half = QCheckBox("Save at half size (fp16) — recommended, as downloaded models are")
        self.half.setChecked(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Bake")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(QLabel("Save the new model as:"))
        layout.addLayout(path_row)
        layout.addWidget(self.half)
        layout.addWidget(buttons)

    def out_path(self) -> Path:
        path = Path(self.path_edit.text().strip())
        return path if path.suffix.lower() == ".safetensors" else path.with_suffix(".safetensors")

    def _browse(self) -> None:
        target, _ = QFileDialog.getSaveFileName(
            self, "Save the new model as", self.path_edit.text(), "Model (*.safetensors)"
        )
        if target:
            self.path_edit.setText(target)
