"""Paint the part of the start picture to redo (white in the mask), with a round brush."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
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

VIEW_SIZE = 512


class MaskCanvas(QWidget):
    """Shows the picture with the mask over it in red; left button paints, right button erases."""

    def __init__(self, image: QPixmap, mask: QImage | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = image
        self.mask = QImage(image.size(), QImage.Format.Format_Grayscale8)
        self.mask.fill(0)
        if mask is not None and not mask.isNull():
            self.mask = mask.convertToFormat(QImage.Format.Format_Grayscale8).scaled(image.size())
        self.brush = max(4, image.width() // 16)
        self._last: QPointF | None = None
        self._erase = False
        scale = min(VIEW_SIZE / max(1, image.width()), VIEW_SIZE / max(1, image.height()))
        self.setFixedSize(max(64, round(image.width() * scale)), max(64, round(image.height() * scale)))
        self.setCursor(Qt.CursorShape.CrossCursor)

    def _to_image(self, pos: QPointF) -> QPointF:
        return QPointF(
            pos.x() * self.image.width() / self.width(), pos.y() * self.image.height() / self.height()
        )

    def stroke(self, a: QPointF, b: QPointF, erase: bool = False) -> None:
        painter = QPainter(self.mask)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = QColor(0, 0, 0) if erase else QColor(255, 255, 255)
        painter.setPen(QPen(color, self.brush, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.drawLine(a, b)
        painter.end()
        self.update()

    def clear(self) -> None:
        self.mask.fill(0)
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._erase = event.button() == Qt.MouseButton.RightButton
        self._last = self._to_image(event.position())
        self.stroke(self._last, self._last, self._erase)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._last is None:
            return
        point = self._to_image(event.position())
        self.stroke(self._last, point, self._erase)
        self._last = point

    def mouseReleaseEvent(self, _event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._last = None

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.drawPixmap(self.rect(), self.image)
        overlay = QImage(self.mask.size(), QImage.Format.Format_ARGB32)
        overlay.fill(QColor(230, 40, 60))
        overlay.setAlphaChannel(self.mask)
        painter.setOpacity(0.55)
        painter.drawImage(self.rect(), overlay)
        painter.end()


class MaskPainterDialog(QDialog):
    def __init__(
        self, image_path: Path, mask_path: Path | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Paint the part to redo")
        mask = QImage(str(mask_path)) if mask_path else None
        self.canvas = MaskCanvas(QPixmap(str(image_path)), mask)
        hint = QLabel("Paint with the left mouse button over what should change; the right button erases.")
        hint.setWordWrap(True)
        self.brush_slider = QSlider(Qt.Orientation.Horizontal)
        self.brush_slider.setRange(2, max(8, self.canvas.image.width() // 3))
        self.brush_slider.setValue(self.canvas.brush)
        self.brush_slider.valueChanged.connect(lambda v: setattr(self.canvas, "brush", v))
        clear = QPushButton("Clear")
        clear.clicked.connect(self.canvas.clear)
        tools = QHBoxLayout()
        tools.addWidget(QLabel("Brush size"))
        tools.addWidget(self.brush_slider, 1)
        tools.addWidget(clear)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Use this mask")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(self.canvas, 0, Qt.AlignmentFlag.AlignCenter)
        layout.addLayout(tools)
        layout.addWidget(buttons)

    def mask_image(self) -> QImage:
        return self.canvas.mask
