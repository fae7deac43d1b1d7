"""Paint the part of the start picture to redo (white in the mask), with the app's one mask canvas."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.widgets.mask_canvas import MaskCanvas, Tool

VIEW_SIZE = 512


class MaskPainterDialog(QDialog):
    def __init__(
        self, image_path: Path, mask_path: Path | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Paint the part to redo")
        self.canvas = MaskCanvas()
        self.canvas.hardness = 1.0  # an inpainting mask has a crisp edge
        image = QImage(str(image_path))
        self.canvas.set_image(image)
        self.canvas.set_region(QImage(str(mask_path)) if mask_path else None)
        self.canvas.brush_size = max(4, image.width() // 16)
        self.canvas.setMinimumSize(VIEW_SIZE, VIEW_SIZE)
        hint = QLabel(
            "Paint with the left mouse button over what should change; turn on “Eraser” to take "
            "paint away. The mouse wheel zooms, the middle button pans."
        )
        hint.setWordWrap(True)
        self.brush_slider = QSlider(Qt.Orientation.Horizontal)
        self.brush_slider.setRange(2, max(8, image.width() // 3))
        self.brush_slider.setValue(self.canvas.brush_size)
        self.brush_slider.valueChanged.connect(lambda v: setattr(self.canvas, "brush_size", v))
        self.eraser = QPushButton("Eraser")
        self.eraser.setCheckable(True)
        self.eraser.toggled.connect(lambda on: setattr(self.canvas, "tool", Tool.SHOW if on else Tool.HIDE))
        clear = QPushButton("Clear")
        clear.clicked.connect(self.canvas.clear)
        tools = QHBoxLayout()
        tools.addWidget(QLabel("Brush size"))
        tools.addWidget(self.brush_slider, 1)
        tools.addWidget(self.eraser)
        tools.addWidget(clear)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Use this mask")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(tools)
        layout.addWidget(buttons)

    def mask_image(self) -> Image.Image:
        """The mask to inpaint with: white = redo, black = keep (the picture's size)."""
        region = self.canvas.region_image()
        assert region is not None  # the canvas always has the picture
        return region
