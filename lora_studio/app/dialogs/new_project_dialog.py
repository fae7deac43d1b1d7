"""Asks for a project name and where to keep the project folder."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


def default_projects_folder() -> Path:
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(documents or Path.home()) / "LoRA Studio"


def folder_name_for(name: str) -> str:
    """A safe folder name on every system: letters, digits, spaces, dashes and underscores."""
    cleaned = re.sub(r"[^\w\- ]+", "", name, flags=re.UNICODE).strip().rstrip(".")
    return re.sub(r"\s+", " ", cleaned) or "project"


class NewProjectDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, location: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.setMinimumWidth(520)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("For example: My cat Miso")
        self.location_edit = QLineEdit(str(location or default_projects_folder()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        location_row = QHBoxLayout()
        location_row.addWidget(self.location_edit, 1)
        location_row.addWidget(browse)
        self.preview = QLabel()
        self.preview.setProperty("muted", True)
        self.preview.setWordWrap(True)

        form = QFormLayout()
        form.setVerticalSpacing(10)
        form.addRow("Name:", self.name_edit)
        form.addRow("Keep it in:", location_row)
        form.addRow("", self.preview)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 20, 20, 16)
        layout.setSpacing(16)
        intro = QLabel("A project is a folder that holds your pictures, settings and trained LoRAs.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.name_edit.textChanged.connect(self._update)
        self.location_edit.textChanged.connect(self._update)
        self._update()

    def project_name(self) -> str:
        return self.name_edit.text().strip()

    def project_path(self) -> Path:
        return Path(self.location_edit.text().strip()) / folder_name_for(self.project_name())

    def _update(self) -> None:
        ok = bool(self.project_name()) and bool(self.location_edit.text().strip())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
        self.preview.setText(f"The project folder will be {self.project_path()}" if ok else "")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Where to keep the project", self.location_edit.text()
        )
        if folder:
            self.location_edit.setText(str(Path(folder)))
