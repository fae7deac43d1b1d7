"""Compare: an X/Y grid across LoRA files (epochs), strengths, prompts, seeds, CFG or steps."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.panels.generation.image_view_widget import ImageViewWidget
from lora_studio.generation.grid import GridAxis
from lora_studio.generation.model_library import LoraItem

AXES: list[tuple[str, str, str]] = [  # kind, label, default values
    ("lora", "LoRA file (e.g. each saved epoch)", ""),
    ("weight", "LoRA strength", "0, 0.5, 1"),
    ("prompt", "Prompt: swap a word", ""),
    ("seed", "Seed", "1, 2, 3"),
    ("cfg", "CFG scale", "4, 7, 10"),
    ("guidance", "Distilled CFG Scale (FLUX.1-dev)", "2, 3.5, 5"),
    ("steps", "Steps", "10, 20, 30"),
]
HELP = {
    "lora": "Tick the LoRA files to compare, for example every epoch of one training.",
    "weight": "Strengths separated by commas, e.g. 0, 0.5, 1.",
    "prompt": "The first word is looked up in your prompt and swapped for each of the others, e.g. cat, dog, fox.",
    "seed": "Seeds separated by commas.",
    "cfg": "CFG values separated by commas.",
    "guidance": "FLUX.1-dev guidance values separated by commas, e.g. 2, 3.5, 5.",
    "steps": "Step counts separated by commas.",
}
_EPOCH = re.compile(r"[-_](?:e|ep|epoch|step)?\d+$", re.IGNORECASE)


def training_stem(name: str) -> str:
    """``miso-e000004`` → ``miso``: files saved by one training share this."""
    return _EPOCH.sub("", name)


def parse_values(kind: str, text: str) -> tuple[Any, ...]:
    """Comma-separated values for ``kind``; raises ValueError with a plain message."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError("Enter at least one value.")
    try:
        if kind in ("seed", "steps"):
            return tuple(int(p) for p in parts)
        if kind in ("weight", "cfg", "guidance"):
            return tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"“{text}” are not all numbers.") from None
    return tuple(parts)


class AxisEditor(QGroupBox):
    changed = Signal()

    def __init__(
        self,
        title: str,
        loras: list[LoraItem],
        slots: list[str],
        optional: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(title, parent)
        self.kind = QComboBox()
        if optional:
            self.kind.addItem("Nothing (one row)", "")
        for kind, label, _ in AXES:
            self.kind.addItem(label, kind)
        self.slot = QComboBox()
        for i, name in enumerate(slots):
            self.slot.addItem(name, i)
        if not slots:
            self.slot.addItem("(no LoRA in use)", 0)
        self.values = QLineEdit()
        self.lora_list = QListWidget()
        self.lora_list.setMaximumHeight(150)
        for item in loras:
            row = QListWidgetItem(item.name + (f"  (epoch {item.epoch})" if item.epoch is not None else ""))
            row.setData(Qt.ItemDataRole.UserRole, str(item.path))
            row.setFlags(row.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            row.setCheckState(Qt.CheckState.Unchecked)
            self.lora_list.addItem(row)
        self.help = QLabel()
        self.help.setWordWrap(True)
        self.help.setProperty("muted", True)
        form = QFormLayout(self)
        form.addRow("Vary", self.kind)
        form.addRow("Which LoRA", self.slot)
        form.addRow("Values", self.values)
        form.addRow("Files", self.lora_list)
        form.addRow("", self.help)
        self._form = form
        self.kind.currentIndexChanged.connect(self._on_kind)
        self.values.textChanged.connect(self.changed)
        self.lora_list.itemChanged.connect(lambda *_: self.changed.emit())
        self._on_kind()

    def check_loras(self, paths: set[str]) -> None:
        for i in range(self.lora_list.count()):
            row = self.lora_list.item(i)
            checked = row.data(Qt.ItemDataRole.UserRole) in paths
            row.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def current_kind(self) -> str:
        return str(self.kind.currentData() or "")

    def set_kind(self, kind: str, values: str | None = None) -> None:
        self.kind.setCurrentIndex(max(0, self.kind.findData(kind)))
        if values is not None:
            self.values.setText(values)

    def _on_kind(self, *_: object) -> None:
        kind = self.current_kind()
        self._form.setRowVisible(self.slot, kind in ("lora", "weight"))
        self._form.setRowVisible(self.values, bool(kind) and kind != "lora")
        self._form.setRowVisible(self.lora_list, kind == "lora")
        self.help.setText(HELP.get(kind, "Every picture uses the same settings along this side."))
        default = next((d for k, _, d in AXES if k == kind), "")
        if kind and kind != "lora":
            self.values.setText(default)
        self.changed.emit()

    def axis(self) -> GridAxis | None:
        """The axis, None for "nothing"; raises ValueError when the values can't be read."""
        kind = self.current_kind()
        if not kind:
            return None
        if kind == "lora":
            values = tuple(
                self.lora_list.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.lora_list.count())
                if self.lora_list.item(i).checkState() == Qt.CheckState.Checked
            )
            if not values:
                raise ValueError("Tick at least one LoRA file.")
        else:
            values = parse_values(kind, self.values.text())
        slot = int(self.slot.currentData() or 0)
        return GridAxis(kind, values, lora_index=slot, search_replace=kind == "prompt")


class GridDialog(QDialog):
    run_requested = Signal(list)  # list[GridAxis]
    cancel_requested = Signal()

    def __init__(self, loras: list[LoraItem], enabled: list[LoraItem], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare in a grid")
        self.resize(1100, 720)
        self.seconds_per_image: float | None = None
        self.grid_path: Path | None = None
        slots = [item.name for item in enabled]
        self.x_axis = AxisEditor("Across (columns)", loras, slots, optional=False)
        self.y_axis = AxisEditor("Down (rows)", loras, slots, optional=True)
        if enabled:
            stem = training_stem(enabled[0].name).lower()
            same_training = {str(i.path) for i in loras if training_stem(i.name).lower() == stem}
            self.x_axis.check_loras(same_training)
            self.x_axis.set_kind("lora" if len(same_training) > 1 else "weight")
            self.y_axis.set_kind("weight" if len(same_training) > 1 else "seed")
        else:
            self.x_axis.set_kind("seed")
        self.count_label = QLabel()
        self.count_label.setWordWrap(True)
        self.run_button = QPushButton("Make grid")
        self.run_button.setProperty("primary", True)
        self.run_button.clicked.connect(self._run)
        self.cancel_button = QPushButton("Stop")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the grid (only while it is being made)")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)

        side = QWidget()
        column = QVBoxLayout(side)
        intro = QLabel(
            "Every picture uses your current prompt, settings and LoRAs, with one fixed seed, "
            "and changes only what you pick here."
        )
        intro.setWordWrap(True)
        column.addWidget(intro)
        column.addWidget(self.x_axis)
        column.addWidget(self.y_axis)
        column.addWidget(self.count_label)
        column.addWidget(self.progress)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        column.addLayout(buttons)
        column.addStretch(1)

        self.view = ImageViewWidget("The grid appears here.")
        self.zoom_label = QLabel()
        self.zoom_label.setProperty("muted", True)
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        fit = QPushButton("Fit")
        fit.clicked.connect(self.view.fit)
        actual = QPushButton("100 %")
        actual.clicked.connect(self.view.actual_size)
        self.zoom_buttons = (fit, actual)
        for button in self.zoom_buttons:  # enabled with the first grid (show_result)
            button.setEnabled(False)
            button.setToolTip("Zoom the grid once it is made")
        self.save_button = QPushButton("Save grid as…")
        self.save_button.setEnabled(False)
        self.save_button.setToolTip("Save the grid picture where you choose (once it is made)")
        self.save_button.clicked.connect(self._save)
        view_tools = QHBoxLayout()
        for w in (fit, actual, self.zoom_label):
            view_tools.addWidget(w)
        view_tools.addStretch(1)
        view_tools.addWidget(self.save_button)
        right = QWidget()
        right_column = QVBoxLayout(right)
        right_column.setContentsMargins(0, 0, 0, 0)
        right_column.addWidget(self.view, 1)
        right_column.addLayout(view_tools)

        splitter = QSplitter()
        splitter.addWidget(side)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([380, 720])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.x_axis.changed.connect(self._update_count)
        self.y_axis.changed.connect(self._update_count)
        self._update_count()

    def axes(self) -> list[GridAxis]:
        x = self.x_axis.axis()
        y = self.y_axis.axis()
        assert x is not None
        return [x] if y is None else [x, y]

    def _update_count(self) -> None:
        try:
            axes = self.axes()
        except ValueError as exc:
            self.count_label.setText(f"<span style='color:#c0392b'>{exc}</span>")
            self.run_button.setEnabled(False)
            return
        n = 1
        sizes = []
        for axis in axes:
            n *= len(axis.values)
            sizes.append(str(len(axis.values)))
        estimate = ""
        if self.seconds_per_image:
            estimate = f", about {max(1, round(n * self.seconds_per_image))} s"
        self.count_label.setText(
            f"<b>{' × '.join(sizes)} = {n} picture{'s' if n != 1 else ''}</b>{estimate}."
        )
        self.run_button.setEnabled(not self.cancel_button.isEnabled())

    def _run(self) -> None:
        try:
            axes = self.axes()
        except ValueError:
            return
        self.run_requested.emit(axes)

    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.run_button.setEnabled(not running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(f"Picture {done} of {total}")

    def show_result(self, path: Path) -> None:
        self.grid_path = Path(path)
        self.view.set_image(QImage(str(path)))
        self.save_button.setEnabled(True)
        for button, tip in zip(
            self.zoom_buttons, ("Fit the grid in the window", "Show the grid pixel for pixel")
        ):
            button.setEnabled(True)
            button.setToolTip(tip)

    def _save(self) -> None:
        if self.grid_path is None:
            return
        target, _ = QFileDialog.getSaveFileName(
            self, "Save grid as", str(Path.home() / self.grid_path.name), "PNG picture (*.png)"
        )
        if target:
            shutil.copyfile(self.grid_path, target)
