"""Choose the base model: models from the model folders and the project, with their family."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from lora_studio.generation.model_library import ModelItem


class ModelPickerWidget(QWidget):
    model_changed = Signal(object)  # ModelItem or None
    load_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.items: list[ModelItem] = []
        self.loaded: Path | None = None

        title = QLabel("Base model")
        font = title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        title.setFont(font)
        self.combo = QComboBox()
        self.combo.setMinimumContentsLength(18)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.currentIndexChanged.connect(self._on_index)
        self.load_button = QPushButton("Load")
        self.load_button.setToolTip("Load the model now, so the first picture comes faster")
        self.load_button.clicked.connect(self.load_requested)
        self.family_label = QLabel()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setProperty("muted", True)

        row = QHBoxLayout()
        row.addWidget(self.combo, 1)
        row.addWidget(self.load_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(title)
        layout.addLayout(row)
        layout.addWidget(self.family_label)
        layout.addWidget(self.status_label)
        self._load_seconds: dict[str, float] = {}
        self._update_status()

    # -- contents --------------------------------------------------------------------------------
    def set_models(self, items: Iterable[ModelItem], prefer: Path | None = None) -> None:
        current = self.current()
        wanted = prefer or (current.path if current else None) or self.loaded
        self.items = list(items)
        self.combo.blockSignals(True)
        self.combo.clear()
        for item in self.items:
            label = f"{item.name}  (this project)" if item.source == "project" else item.name
            self.combo.addItem(label, str(item.path))
            self.combo.setItemData(
                self.combo.count() - 1, f"{item.path}\n{item.family_label}", Qt.ItemDataRole.ToolTipRole
            )
        if not self.items:
            self.combo.addItem("No models found — add one in Settings", "")
        index = 0
        if wanted is not None:
            found = self.combo.findData(str(wanted))
            index = found if found >= 0 else 0
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)
        self.combo.setEnabled(bool(self.items))
        self._on_index(self.combo.currentIndex())

    def current(self) -> ModelItem | None:
        index = self.combo.currentIndex()
        return self.items[index] if 0 <= index < len(self.items) else None

    def select_path(self, path: Path) -> bool:
        index = self.combo.findData(str(path))
        if index >= 0:
            self.combo.setCurrentIndex(index)
        return index >= 0

    def set_loaded(self, path: Path | None, seconds: float | None = None) -> None:
        self.loaded = path
        if path is not None and seconds:
            self._load_seconds[str(path)] = seconds
        self._update_status()

    def set_busy(self, busy: bool, loading: bool = False) -> None:
        """``loading``: this tab's job loads the chosen model first (it isn't in memory yet): say so."""
        self.combo.setEnabled(not busy and bool(self.items))
        self._update_status()
        self.load_button.setEnabled(not busy and self.current() is not None and not self.is_current_loaded())
        item = self.current()
        if loading and item is not None and not self.is_current_loaded():
            self.status_label.setText(f"Loading {item.name}… The pictures follow once it is in memory.")

    def is_current_loaded(self) -> bool:
        item = self.current()
        return item is not None and self.loaded is not None and item.path == self.loaded

    # -- internals -------------------------------------------------------------------------------
    def _on_index(self, _index: int) -> None:
        item = self.current()
        self.family_label.setText(
            f"Kind: <b>{item.family_label}</b>" + (f" · {item.note}" if item.note else "") if item else ""
        )
        self.family_label.setToolTip(str(item.path) if item else "")
        self._update_status()
        self.model_changed.emit(item)

    def _update_status(self) -> None:
        item = self.current()
        self.load_button.setEnabled(item is not None and not self.is_current_loaded())
        if item is None:
            self.status_label.setText(
                "Put a Stable Diffusion model (.safetensors) in the models folder set in Settings, "
                "or open a project that has one."
            )
        elif self.is_current_loaded():
            self.status_label.setText("In memory: trying other LoRAs, weights or prompts is quick.")
        else:
            seconds = self._load_seconds.get(str(item.path))
            cost = f"about {seconds:.0f} s" if seconds else "from a few seconds up to a minute"
            replaced = (
                f" It replaces {self.loaded.name} in memory; switching back costs the same wait."
                if self.loaded is not None
                else ""
            )
            self.status_label.setText(f"Not loaded yet. Loading takes {cost}.{replaced}")
