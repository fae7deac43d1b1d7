"""The optional start picture (img2img) with its strength, and the inpainting mask."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QPixmap
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QWidget,
)

from lora_studio.core import paths

IMAGE_FILTER = "Pictures (*.png *.jpg *.jpeg *.webp *.bmp)"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def dropped_image(event: QDragEnterEvent | QDropEvent) -> Path | None:
    for url in event.mimeData().urls():
        if url.isLocalFile() and url.toLocalFile().lower().endswith(IMAGE_SUFFIXES):
            return Path(url.toLocalFile())
    return None


class InitImageWidget(QGroupBox):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Start from a picture (optional)", parent)
        self.setAcceptDrops(True)
        self.image_path: Path | None = None
        self.mask_path: Path | None = None

        self.thumb = QLabel()
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setFixedSize(112, 84)
        self.thumb.setProperty("muted", True)
        self.thumb.setStyleSheet("border: 1px dashed palette(mid); border-radius: 6px;")
        self.choose_button = QPushButton("Choose…")
        self.choose_button.clicked.connect(self._choose)
        self.clear_button = QPushButton("Remove")
        self.clear_button.setToolTip("Stop using a start picture (back to plain text-to-image)")
        self.clear_button.clicked.connect(self.clear)

        self.strength_slider = QSlider(Qt.Orientation.Horizontal)
        self.strength_slider.setRange(5, 100)
        self.strength = QDoubleSpinBox()
        self.strength.setRange(0.05, 1.0)
        self.strength.setSingleStep(0.05)
        self.strength.setDecimals(2)
        tip = "How much to change the picture: low keeps it close, 1 repaints it completely."
        self.strength_slider.setToolTip(tip)
        self.strength.setToolTip(tip)
        self.strength_slider.valueChanged.connect(lambda v: self.strength.setValue(v / 100))
        self.strength.valueChanged.connect(lambda v: self.strength_slider.setValue(round(v * 100)))
        self.strength.setValue(0.6)

        self.mask_label = QLabel("No mask: the whole picture changes.")
        self.mask_label.setProperty("muted", True)
        self.mask_label.setWordWrap(True)
        self.paint_button = QPushButton("Paint mask…")
        self.paint_button.setToolTip("Paint over the part to redo (inpainting)")
        self.paint_button.clicked.connect(self._paint_mask)
        self.load_mask_button = QPushButton("Load mask…")
        self.load_mask_button.setToolTip("A black-and-white picture: white parts are redone")
        self.load_mask_button.clicked.connect(self._load_mask)
        self.clear_mask_button = QPushButton("No mask")
        self.clear_mask_button.setToolTip("Change the whole picture")
        self.clear_mask_button.clicked.connect(lambda: self.set_mask(None))

        strength_row = QHBoxLayout()
        strength_row.addWidget(QLabel("Change"))
        strength_row.addWidget(self.strength_slider, 1)
        strength_row.addWidget(self.strength)
        buttons = QHBoxLayout()
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        mask_buttons = QHBoxLayout()
        for b in (self.paint_button, self.load_mask_button, self.clear_mask_button):
            mask_buttons.addWidget(b)
        mask_buttons.addStretch(1)
        grid = QGridLayout(self)
        grid.addWidget(self.thumb, 0, 0, 4, 1)
        grid.addLayout(buttons, 0, 1)
        grid.addLayout(strength_row, 1, 1)
        grid.addLayout(mask_buttons, 2, 1)
        grid.addWidget(self.mask_label, 3, 1)
        grid.setColumnStretch(1, 1)
        self._update()

    # -- state -----------------------------------------------------------------------------------
    def set_image(self, path: Path | None) -> None:
        self.image_path = Path(path) if path else None
        if self.image_path is None:
            self.mask_path = None
        self._update()
        self.changed.emit()

    def clear(self) -> None:
        self.set_image(None)

    def set_mask(self, path: Path | None) -> None:
        self.mask_path = Path(path) if path else None
        self._update()
        self.changed.emit()

    def set_strength(self, value: float) -> None:
        self.strength.setValue(value)

    def request_fields(self) -> dict[str, Any]:
        if self.image_path is None:
            return {"init_image": None, "mask": None}
        return {
            "init_image": str(self.image_path),
            "mask": str(self.mask_path) if self.mask_path else None,
            "strength": round(self.strength.value(), 2),
        }

    def _update(self) -> None:
        has = self.image_path is not None
        if has:
            assert self.image_path is not None
            pix = QPixmap(str(self.image_path))
            self.thumb.setPixmap(
                pix.scaled(
                    self.thumb.size(),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
            self.thumb.setToolTip(str(self.image_path))
        else:
            self.thumb.clear()
            self.thumb.setText("Drop a picture\nhere, or\nChoose…")
            self.thumb.setToolTip("")
        for w in (
            self.clear_button,
            self.strength,
            self.strength_slider,
            self.paint_button,
            self.load_mask_button,
        ):
            w.setEnabled(has)
        self.clear_mask_button.setEnabled(self.mask_path is not None)
        if not has:
            self.mask_label.setText("Without a start picture, pictures start from noise.")
        elif self.mask_path is None:
            self.mask_label.setText("No mask: the whole picture changes.")
        else:
            self.mask_label.setText(
                f"Mask: only the white part of {self.mask_path.name} is redone (inpainting)."
            )

    # -- user actions ----------------------------------------------------------------------------
    def _choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a start picture", "", IMAGE_FILTER)
        if path:
            self.set_image(Path(path))

    def _load_mask(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a mask picture", "", IMAGE_FILTER)
        if path:
            self.set_mask(Path(path))

    def _paint_mask(self) -> None:
        from lora_studio.app.panels.generation.mask_painter_dialog import MaskPainterDialog

        if self.image_path is None:
            return
        dialog = MaskPainterDialog(self.image_path, self.mask_path, self)
        if dialog.exec():
            target = paths.cache_dir() / "masks" / f"{self.image_path.stem}-{int(time.time())}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            dialog.mask_image().save(str(target), "PNG")
            self.set_mask(target)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if dropped_image(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        path = dropped_image(event)
        if path is not None:
            event.acceptProposedAction()
            self.set_image(path)
