"""The embeddings in ``models/embeddings``: pick one and add its name to the prompt or the negative
prompt (as A1111 writes it: the bare file name)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.generation.embedding_files import EmbeddingFile, default_embedding_dirs, list_embeddings

EMPTY_TIP = "No embeddings yet: put textual-inversion files (.safetensors) into {folder}."


def add_reference(text: str, name: str) -> str:
    """``text`` with ``name`` appended (", "-separated), unless it is there already."""
    words = [w.strip().lower() for w in text.split(",")]
    if name.lower() in words or f"embedding:{name}".lower() in words:
        return text
    stripped = text.rstrip().rstrip(",")
    return f"{stripped}, {name}" if stripped else name


class EmbeddingListWidget(QWidget):
    """A short list of embedding files with "Add to prompt" / "Add to negative"."""

    add_to_prompt = Signal(str)
    add_to_negative = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folders: list[Path] = default_embedding_dirs()
        self.items: list[EmbeddingFile] = []
        self.heading = QLabel("Embeddings")
        self.heading.setStyleSheet("font-weight: 600;")
        self.list = QListWidget()
        self.list.setMaximumHeight(84)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.prompt_button = QPushButton("Add to prompt")
        self.negative_button = QPushButton("Add to negative")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Look for embedding files again")
        self.prompt_button.clicked.connect(lambda: self._emit(self.add_to_prompt))
        self.negative_button.clicked.connect(lambda: self._emit(self.add_to_negative))
        self.refresh_button.clicked.connect(lambda: self.refresh(announce=True))
        buttons = QVBoxLayout()
        for button in (self.prompt_button, self.negative_button, self.refresh_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.list, 1)
        row.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addLayout(row)
        self.found = QLabel()  # what the last Refresh found, in words
        self.found.setProperty("muted", True)
        self.found.setWordWrap(True)
        self.found.hide()
        layout.addWidget(self.found)
        self._update_buttons()

    def refresh(self, folders: list[Path] | None = None, *, announce: bool = False) -> None:
        if folders is not None:
            self.folders = list(folders)
        self.items = list_embeddings(self.folders)
        self.list.clear()
        for item in self.items:
            row = QListWidgetItem(f"{item.name}  ({item.family_label})")
            row.setData(Qt.ItemDataRole.UserRole, item.name)
            row.setToolTip(str(item.path))
            if item.pickled:  # listed so the user learns why it is not offered
                row.setFlags(row.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                row.setToolTip(
                    f"{item.path.name} is a pickled file, which is never loaded; use a .safetensors one."
                )
            self.list.addItem(row)
        folder = self.folders[0] if self.folders else Path("models/embeddings")
        self.heading.setText(f"Embeddings ({len(self.items)})" if self.items else "Embeddings (none)")
        self.list.setToolTip("" if self.items else EMPTY_TIP.format(folder=folder))
        if announce:
            n = len(self.items)
            self.found.setText(
                f"Looked again: {n} embedding{'s' * (n != 1)} in {folder}."
                if n
                else f"Looked again: no embeddings yet. Put .safetensors embeddings into {folder}."
            )
            self.found.show()
        self._update_buttons()

    def selected_name(self) -> str | None:
        rows = self.list.selectedItems()
        return rows[0].data(Qt.ItemDataRole.UserRole) if rows else None

    def _emit(self, signal: Signal) -> None:
        name = self.selected_name()
        if name:
            signal.emit(name)  # type: ignore[attr-defined]

    def _update_buttons(self) -> None:
        chosen = self.selected_name() is not None
        tip = "" if chosen else "Click an embedding in the list first"
        for button in (self.prompt_button, self.negative_button):
            button.setEnabled(chosen)
            button.setToolTip(tip)
