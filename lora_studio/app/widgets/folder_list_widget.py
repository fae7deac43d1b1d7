"""Edits a list of folders; when the list is empty, a note says which default folder is used."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class FolderListWidget(QWidget):
    folders_changed = Signal()

    def __init__(self, default_folder: Path, title: str = "Choose a folder", parent: QWidget | None = None):
        super().__init__(parent)
        self._title = title
        self.default_folder = default_folder
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setMinimumHeight(64)
        self.list.setMaximumHeight(96)
        self.list.setAlternatingRowColors(True)
        self.list.itemSelectionChanged.connect(self._update_buttons)

        self.add_button = QPushButton("Add folder…")
        self.add_button.clicked.connect(self._browse)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QVBoxLayout()
        buttons.setSpacing(6)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)

        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note.setProperty("muted", True)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.list, 1)
        row.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(row)
        layout.addWidget(self.note)
        self._update_buttons()

    def folders(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def set_folders(self, folders: list[str] | tuple[str, ...]) -> None:
        self.list.clear()
        for folder in folders:
            self.add_folder(folder)
        self._update_buttons()

    def add_folder(self, folder: str | Path) -> None:
        text = str(Path(folder))
        if text not in self.folders():
            self.list.addItem(text)
            self.folders_changed.emit()
        self._update_buttons()

    def remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self.folders_changed.emit()
        self._update_buttons()

    def _browse(self) -> None:
        start = self.folders()[-1] if self.folders() else str(self.default_folder)
        folder = QFileDialog.getExistingDirectory(self, self._title, start)
        if folder:
            self.add_folder(folder)

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(bool(self.list.selectedItems()))
        if self.list.count():
            self.note.setText("LoRA Studio looks in these folders, top to bottom.")
        else:
            self.note.setText(f"No folders added, so LoRA Studio uses {self.default_folder}")
