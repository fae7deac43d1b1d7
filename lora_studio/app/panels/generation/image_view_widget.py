"""A picture viewer: fits the picture by default; the mouse wheel zooms, dragging pans."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QLabel, QWidget


class ImageViewWidget(QGraphicsView):
    zoom_changed = Signal(float)

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setBackgroundBrush(self.palette().alternateBase())
        self._fit = True
        self.placeholder = QLabel(placeholder, self.viewport())
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setProperty("muted", True)

    def has_image(self) -> bool:
        return not self._item.pixmap().isNull()

    def pixmap(self) -> QPixmap:
        return self._item.pixmap()

    def set_image(self, image: QImage | QPixmap | None, *, keep_zoom: bool = False) -> None:
        pix = QPixmap.fromImage(image) if isinstance(image, QImage) else (image or QPixmap())
        self._item.setPixmap(pix)
        self.scene().setSceneRect(self._item.boundingRect())
        self.placeholder.setVisible(pix.isNull())
        if not keep_zoom:
            self._fit = True
        if self._fit:
            self.fit()

    def fit(self) -> None:
        self._fit = True
        if self.has_image():
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)
            self.zoom_changed.emit(self.zoom)

    def actual_size(self) -> None:
        self._fit = False
        self.resetTransform()
        self.zoom_changed.emit(1.0)

    @property
    def zoom(self) -> float:
        return float(self.transform().m11())

    def zoom_by(self, factor: float) -> None:
        new = self.zoom * factor
        if 0.05 <= new <= 16:
            self._fit = False
            self.scale(factor, factor)
            self.zoom_changed.emit(self.zoom)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        if not self.has_image():
            return
        self.zoom_by(1.25 if event.angleDelta().y() > 0 else 0.8)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.placeholder.setGeometry(self.viewport().rect().adjusted(20, 20, -20, -20))
        if self._fit:
            self.fit()
