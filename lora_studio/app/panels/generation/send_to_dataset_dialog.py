"""Choose the concept (and caption) for a generated picture that goes into the project's dataset."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QWidget


class SendToDatasetDialog(QDialog):
    def __init__(self, concepts: Sequence[str], caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send to dataset")
        self.setMinimumWidth(480)
        self.concept = QComboBox()
        self.concept.addItems(list(concepts))
        self.caption = QLineEdit(caption)
        note = QLabel(
            "A copy of the picture is added; you can crop it or edit the caption in the Dataset tab."
        )
        note.setWordWrap(True)
        note.setProperty("muted", True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add to dataset")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Concept", self.concept)
        form.addRow("Caption", self.caption)
        form.addRow(note)
        form.addRow(buttons)

    def chosen(self) -> tuple[str, str]:
        return self.concept.currentText(), self.caption.text().strip()
