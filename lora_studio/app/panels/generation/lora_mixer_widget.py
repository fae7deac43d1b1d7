"""The list of every LoRA with its strength (NMKD-like): filter, enabled ones on top, info popups.
A run's epoch files are one row with a choice of epoch (``rows`` finds that row by any of its names)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.panels.generation.lora_row_widget import LoraRowWidget
from lora_studio.core.families import ModelFamily
from lora_studio.generation.lora_runs import group_runs
from lora_studio.generation.model_library import LoraItem

ROW_STYLE = """
QWidget#loraRow { border-radius: 6px; }
QWidget#loraRow[active="true"] { background: palette(alternate-base); border: 1px solid palette(highlight); }
"""


class LoraMixerWidget(QWidget):
    changed = Signal(str, bool, float)  # a user edit: name, enabled, weight
    info_requested = Signal(LoraItem)
    refresh_requested = Signal()
    rows_replaced = Signal()  # set_loras made new rows (they show the remembered weights)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: dict[str, LoraRowWidget] = {}  # lowercase name of every file -> its row
        self._family: ModelFamily | None = None

        title = QLabel("LoRAs")
        title.setProperty("role", "section")
        font = title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        title.setFont(font)
        self.count_label = QLabel()
        self.count_label.setProperty("muted", True)
        self.refresh_button = QToolButton()
        self.refresh_button.setText("Refresh")
        self.refresh_button.setToolTip("Look for new LoRA files in your folders and this project")
        self.refresh_button.clicked.connect(self.refresh_requested)
        header = QHBoxLayout()
        header.addWidget(title)
        header.addWidget(self.count_label, 1)
        header.addWidget(self.refresh_button)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter LoRAs by name…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._apply_filter)

        self.list_widget = QWidget()
        self.list_widget.setStyleSheet(ROW_STYLE)
        self.list_layout = QVBoxLayout(self.list_widget)
        self.list_layout.setContentsMargins(0, 0, 0, 0)
        self.list_layout.setSpacing(2)
        self.list_layout.addStretch(1)
        self.empty_label = QLabel(
            "No LoRA files found yet. Put .safetensors LoRAs in the LoRA folder (see Settings), "
            "or train one in the Training tab."
        )
        self.empty_label.setWordWrap(True)
        self.empty_label.setProperty("muted", True)
        self.list_layout.insertWidget(0, self.empty_label)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.list_widget)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll = scroll

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(header)
        layout.addWidget(self.filter_edit)
        layout.addWidget(scroll, 1)

        # Re-sorting right when a box is ticked would move the row under the mouse; wait a moment.
        self._sort_timer = QTimer(self)
        self._sort_timer.setSingleShot(True)
        self._sort_timer.setInterval(600)
        self._sort_timer.timeout.connect(self.sort_rows)

    # -- contents --------------------------------------------------------------------------------
    def set_loras(self, items: Iterable[LoraItem], weight_for: Callable[[str], float]) -> None:
        """Replace the list, keeping the state of LoRAs that stay."""
        old = {row.name.lower(): (row.enabled, row.weight) for row in self.unique_rows()}
        for row in self.unique_rows():
            row.setParent(None)
            row.deleteLater()
        self.rows.clear()
        for group in group_runs(items):
            # same name twice: the first (project files come first) wins, as A1111 does
            group = [item for item in group if item.name.lower() not in self.rows]
            if not group:
                continue
            # the epoch in use stays shown; otherwise the run's newest file (a finished run: the final)
            shown = next((item for item in group if old.get(item.name.lower(), (False,))[0]), group[0])
            enabled, weight = old.get(shown.name.lower(), (False, weight_for(shown.name)))
            row = LoraRowWidget(group[0], weight, epochs=group)
            row.show_file(shown.name)
            row.set_state(enabled, weight)
            row.set_model_family(self._family)
            row.changed.connect(self._on_row_changed)
            row.info_requested.connect(self.info_requested)
            for item in group:
                self.rows[item.name.lower()] = row
        self.empty_label.setVisible(not self.rows)
        self.sort_rows()
        self._apply_filter(self.filter_edit.text())
        self.rows_replaced.emit()

    def row(self, name: str) -> LoraRowWidget | None:
        return self.rows.get(name.strip().lower())

    def unique_rows(self) -> list[LoraRowWidget]:
        """Each row once (a run's row is listed under every one of its file names)."""
        return list({id(row): row for row in self.rows.values()}.values())

    def set_lora(self, name: str, enabled: bool, weight: float | None = None) -> bool:
        """Set one LoRA without emitting :attr:`changed`. False when no LoRA has that name."""
        row = self.row(name)
        if row is None:
            return False
        if enabled:
            row.show_file(name)  # a run's row shows the epoch the prompt names
        elif row.name.lower() != name.strip().lower():
            return True  # another epoch of that run is the one in use
        row.set_state(enabled, row.weight if weight is None else weight)
        self._sort_timer.start()
        return True

    def enabled_rows(self) -> list[LoraRowWidget]:
        return [row for row in self.unique_rows() if row.enabled]

    def set_model_family(self, family: ModelFamily | None) -> None:
        self._family = family
        for row in self.unique_rows():
            row.set_model_family(family)

    # -- layout ----------------------------------------------------------------------------------
    def sort_rows(self) -> None:
        ordered = sorted(
            self.unique_rows(),
            key=lambda r: (not r.enabled, r.item.source != "project", r.name.lower()),
        )
        for row in ordered:
            self.list_layout.removeWidget(row)
        for index, row in enumerate(ordered):
            self.list_layout.insertWidget(index + 1, row)  # after the (hidden) empty label
        self._update_count()

    def _apply_filter(self, text: str) -> None:
        words = text.lower().split()
        for row in self.unique_rows():
            haystack = f"{' '.join(row.names)} {row.item.path.parent.name}".lower()
            row.setVisible(row.enabled or all(w in haystack for w in words))

    def _update_count(self) -> None:
        on = len(self.enabled_rows())
        total = len(self.unique_rows())
        self.count_label.setText(f"{on} of {total} in use" if total else "")

    def _on_row_changed(self, name: str, enabled: bool, weight: float) -> None:
        self._update_count()
        self._sort_timer.start()
        self.changed.emit(name, enabled, weight)
