"""A picture view with zoom and pan that maps between widget and picture pixels.

The crop editor and the mask painter draw on top of it. Coordinates of the *full* upright
picture are used throughout, even when the shown image is a smaller preview.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPalette, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

MARGIN = 16


class ImageCanvas(QWidget):
    zoom_changed = Signal(float)  # shown pixels per picture pixel

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.full_size = QSize(0, 0)
        self.message = "No picture selected"
        self.zoom = 1.0  # 1.0 = the whole picture fits
        self.pan = QPointF(0, 0)  # widget-pixel offset added to the centred position
        self._panning: QPointF | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 200)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(640, 480)

    # -- content -------------------------------------------------------------------------------
    def set_image(self, image: QImage | None, full_size: tuple[int, int] | None = None) -> None:
        self.image = image
        if image is not None:
            w, h = full_size or (image.width(), image.height())
            self.full_size = QSize(w, h)
        else:
            self.full_size = QSize(0, 0)
        self.zoom, self.pan = 1.0, QPointF(0, 0)
        self.zoom_changed.emit(self.scale())
        self.update()

    def set_message(self, text: str) -> None:
        self.image = None
        self.full_size = QSize(0, 0)
        self.message = text
        self.update()

    def has_image(self) -> bool:
        return self.image is not None and self.full_size.width() > 0

    # -- geometry ------------------------------------------------------------------------------
    def fit_scale(self) -> float:
        if not self.has_image():
            return 1.0
        w, h = self.full_size.width(), self.full_size.height()
        return max(1e-6, min((self.width() - 2 * MARGIN) / w, (self.height() - 2 * MARGIN) / h))

    def scale(self) -> float:
        return self.fit_scale() * self.zoom

    def image_rect(self) -> QRectF:
        """Where the picture is drawn, in widget pixels."""
        s = self.scale()
        w, h = self.full_size.width() * s, self.full_size.height() * s
        return QRectF((self.width() - w) / 2 + self.pan.x(), (self.height() - h) / 2 + self.pan.y(), w, h)

    def to_image(self, p: QPointF) -> QPointF:
        r, s = self.image_rect(), self.scale()
        return QPointF((p.x() - r.x()) / s, (p.y() - r.y()) / s)

    def to_widget(self, p: QPointF) -> QPointF:
        r, s = self.image_rect(), self.scale()
        return QPointF(r.x() + p.x() * s, r.y() + p.y() * s)

    def rect_to_widget(self, r: QRectF) -> QRectF:
        return QRectF(self.to_widget(r.topLeft()), self.to_widget(r.bottomRight()))

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        zoom = min(32.0, max(0.25, zoom))
        if anchor is not None and self.has_image():
            before = self.to_image(anchor)
            self.zoom = zoom
            after = self.to_widget(before)
            self.pan += anchor - after
        else:
            self.zoom = zoom
            if zoom <= 1.0:
                self.pan = QPointF(0, 0)
        self.zoom_changed.emit(self.scale())
        self.update()

    def zoom_to_actual(self) -> None:
        self.set_zoom(1.0 / self.fit_scale())

    # -- painting ------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Base).darker(104))
        if not self.has_image():
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.scale() < 2)
        target = self.image_rect()
        self.paint_image(painter, target)
        painter.setPen(QColor(0, 0, 0, 60))
        painter.drawRect(target)
        self.paint_overlay(painter)

    def paint_image(self, painter: QPainter, target: QRectF) -> None:
        assert self.image is not None
        painter.drawImage(target, self.image)

    def paint_overlay(self, painter: QPainter) -> None:
        """Subclasses draw the crop box or the mask here."""

    # -- zoom and pan input --------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier or self.zoom <= 1.0:
            self.set_zoom(self.zoom * (1.25**steps), event.position())
        else:
            self.pan += QPointF(event.angleDelta().x() / 2, event.angleDelta().y() / 2)
            self.update()

    def start_pan(self, event: QMouseEvent) -> bool:
        """Middle button (or right button) drags the view."""
        if event.button() in (Qt.MouseButton.MiddleButton,):
            self._panning = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return True
        return False

    def continue_pan(self, event: QMouseEvent) -> bool:
        if self._panning is None:
            return False
        self.pan += event.position() - self._panning
        self._panning = event.position()
        self.update()
        return True

    def end_pan(self) -> bool:
        if self._panning is None:
            return False
        self._panning = None
        self.unsetCursor()
        return True
