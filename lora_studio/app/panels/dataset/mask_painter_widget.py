"""The mask painter: brush, eraser and fill with size and hardness, invert, clear, undo, overlay
opacity and a mask-only view. Every change is saved to the project (debounced)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.panels.dataset.dataset_scan import ImageRow
from lora_studio.app.panels.dataset.mask_canvas import MaskCanvas, Tool

TOOL_LABELS = {
    Tool.HIDE: ("Hide brush", "Paint over what the LoRA should not learn (B)"),
    Tool.SHOW: ("Eraser", "Give painted areas back to training (E)"),
    Tool.FILL: ("Fill", "Hide the area enclosed by your strokes (F)"),
}


def _slider(lo: int, hi: int, value: int) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    s.setMinimumWidth(50)
    return s


class MaskPainterWidget(QWidget):
    mask_changed = Signal(object, object)  # ImageRow, PIL "L" image or None (no mask)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.row: ImageRow | None = None
        self.canvas = MaskCanvas()
        self.canvas.mask_edited.connect(self._on_edited)
        self._save = QTimer(self)
        self._save.setSingleShot(True)
        self._save.setInterval(600)
        self._save.timeout.connect(self.save)
        self._dirty = False

        self.tools = QButtonGroup(self)
        tool_row = QHBoxLayout()
        for tool, (label, tip) in TOOL_LABELS.items():
            b = QToolButton()
            b.setText(label)
            b.setToolTip(tip)
            b.setCheckable(True)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setShortcut({Tool.HIDE: "B", Tool.SHOW: "E", Tool.FILL: "F"}[tool])
            b.setProperty("tool", tool.value)
            self.tools.addButton(b)
            tool_row.addWidget(b)
        self.tools.buttons()[0].setChecked(True)
        self.tools.buttonClicked.connect(lambda b: setattr(self.canvas, "tool", Tool(b.property("tool"))))
        self.size = _slider(2, 600, self.canvas.brush_size)
        self.size_label = QLabel()
        self.size.valueChanged.connect(self._on_size)
        self.hardness = _slider(0, 100, round(self.canvas.hardness * 100))
        self.hardness.valueChanged.connect(lambda v: setattr(self.canvas, "hardness", v / 100))
        brush_row = QHBoxLayout()
        brush_row.addWidget(QLabel("Size"))
        brush_row.addWidget(self.size, 2)
        brush_row.addWidget(self.size_label)
        brush_row.addSpacing(8)
        brush_row.addWidget(QLabel("Hardness"))
        brush_row.addWidget(self.hardness, 1)

        self.opacity = _slider(10, 100, round(self.canvas.opacity * 100))
        self.opacity.valueChanged.connect(self._on_opacity)
        self.mask_only = QCheckBox("Show mask only")
        self.mask_only.setToolTip("White is learned, black is left out (Ctrl+M)")
        self.mask_only.setShortcut("Ctrl+M")
        self.mask_only.toggled.connect(self._on_mask_only)
        self.undo_button = QPushButton("Undo stroke")
        self.undo_button.clicked.connect(self.undo)
        invert = QPushButton("Invert")
        invert.setToolTip("Swap hidden and learned areas")
        invert.clicked.connect(self.canvas.invert)
        hide_all = QPushButton("Hide all")
        hide_all.setToolTip("Start from a fully hidden picture, then erase what should be learned")
        hide_all.clicked.connect(self.canvas.hide_all)
        clear = QPushButton("Clear")
        clear.setToolTip("Remove the mask: the whole picture is learned")
        clear.clicked.connect(self.canvas.clear)
        tool_row.addStretch(1)
        tool_row.addWidget(self.undo_button)
        view_row = QHBoxLayout()
        view_row.addWidget(QLabel("Overlay"))
        view_row.addWidget(self.opacity, 1)
        view_row.addWidget(self.mask_only)
        actions_row = QHBoxLayout()
        for b in (invert, hide_all, clear):
            actions_row.addWidget(b)
        actions_row.addStretch(1)

        self.status = QLabel()
        self.status.setProperty("muted", True)
        explain = QLabel(
            "Paint over what the LoRA should not learn, such as a signature, a watermark or a busy "
            "background. Painted areas are left out when masked training is on; the picture itself "
            "is not changed. Middle-drag or Ctrl+wheel to move and zoom."
        )
        explain.setWordWrap(True)
        explain.setProperty("muted", True)

        layout = QVBoxLayout(self)
        layout.addLayout(tool_row)
        layout.addLayout(brush_row)
        layout.addLayout(view_row)
        layout.addLayout(actions_row)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.status)
        layout.addWidget(explain)
        self._on_size(self.size.value())
        self.set_row(None)

    # -- inputs --------------------------------------------------------------------------------
    def set_row(self, row: ImageRow | None) -> None:
        self.flush()
        self.row = row
        if row is None:
            self.canvas.set_message("Click a picture to paint its mask.")
        elif row.error:
            self.canvas.set_message(row.error)
        else:
            self.canvas.set_message("Loading the picture…")
        self._update_status()

    def set_image(self, row: ImageRow, image: QImage, size: tuple[int, int], mask: QImage | None) -> None:
        if self.row is None or row.path != self.row.path:
            return
        self.canvas.set_image(image, size)
        self.canvas.set_mask(mask)
        self._dirty = False
        self._update_status()

    # -- actions -------------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return self.canvas.can_undo

    def undo(self) -> bool:
        return self.canvas.undo()

    def flush(self) -> None:
        """Save a pending change now (before another picture is shown)."""
        if self._save.isActive() or self._dirty:
            self.save()

    def save(self) -> None:
        self._save.stop()
        if self.row is None or not self.canvas.has_image() or not self._dirty:
            return
        self._dirty = False
        mask = None if self.canvas.is_empty() else self.canvas.mask_image()
        self.mask_changed.emit(self.row, mask)
        self._update_status(saved=True)

    def _on_edited(self) -> None:
        self._dirty = True
        self.undo_button.setEnabled(self.canvas.can_undo)
        self.status.setText("Not saved yet…")
        self._save.start()

    def _on_size(self, value: int) -> None:
        self.canvas.brush_size = value
        self.size_label.setText(f"{value} px")

    def _on_opacity(self, value: int) -> None:
        self.canvas.opacity = value / 100
        self.canvas.update()

    def _on_mask_only(self, on: bool) -> None:
        self.canvas.mask_only = on
        self.canvas.update()

    def _update_status(self, saved: bool = False) -> None:
        self.undo_button.setEnabled(self.canvas.can_undo)
        if self.row is None:
            self.status.setText("")
        elif saved:
            self.status.setText("Mask saved." if not self.canvas.is_empty() else "No mask: the whole picture is learned.")
        elif self.row.mask is not None:
            self.status.setText("This picture has a mask.")
        else:
            self.status.setText("No mask yet: the whole picture is learned.")
