"""Paint a mask over a picture: the Dataset tab's training masks and erase regions, and the
Generation tab's inpainting mask (its "region": white = painted).

The painted layer holds what the LoRA should *ignore* (a signature, a watermark, a busy
background), shown in red. Saved masks follow kohya's convention: white = learn, black = ignore.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPen,
    QRadialGradient,
)
from PySide6.QtWidgets import QWidget

from lora_studio.app.widgets.image_canvas import ImageCanvas

HIDE_COLOR = QColor(235, 40, 40)
ERASE_COLOR = QColor(20, 160, 230)  # the erase-region layer (fill in a watermark) is blue
UNDO_LIMIT = 30


class Tool(enum.StrEnum):
    HIDE = "hide"  # brush: leave this area out of training
    SHOW = "show"  # eraser: learn this area again
    FILL = "fill"  # fill the enclosed area under the click


def layer_from_mask(mask: QImage, color: QColor = HIDE_COLOR) -> QImage:
    """A Grayscale8 mask (white = learn) -> the coloured, premultiplied paint layer."""
    grey = mask.convertToFormat(QImage.Format.Format_Grayscale8)
    w, h = grey.width(), grey.height()
    arr = np.frombuffer(grey.constBits(), np.uint8).reshape(h, grey.bytesPerLine())[:, :w]
    alpha = 255 - arr.astype(np.uint16)
    out = np.empty((h, w, 4), np.uint8)  # BGRA in memory = ARGB32 on little-endian machines
    out[..., 0] = (alpha * color.blue() // 255).astype(np.uint8)
    out[..., 1] = (alpha * color.green() // 255).astype(np.uint8)
    out[..., 2] = (alpha * color.red() // 255).astype(np.uint8)
    out[..., 3] = alpha.astype(np.uint8)
    return QImage(out.tobytes(), w, h, w * 4, QImage.Format.Format_ARGB32_Premultiplied).copy()


def layer_alpha(layer: QImage) -> np.ndarray:
    """How much of each pixel is hidden (0-255), as an (h, w) array."""
    img = layer.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    w, h = img.width(), img.height()
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(h, img.bytesPerLine())[:, : w * 4]
    return arr.reshape(h, w, 4)[..., 3].copy()


def mask_from_layer(layer: QImage) -> Image.Image:
    """The paint layer -> the mask to save: an "L" image, white = learn, black = ignore."""
    return Image.fromarray(255 - layer_alpha(layer), mode="L")


def _grey_image(arr: np.ndarray) -> QImage:
    h, w = arr.shape
    return QImage(arr.astype(np.uint8).tobytes(), w, h, w, QImage.Format.Format_Grayscale8).copy()


class MaskCanvas(ImageCanvas):
    mask_edited = Signal()  # after a stroke, fill, invert, clear or undo

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layer: QImage | None = None
        self.color = QColor(HIDE_COLOR)  # the colour of what is painted (red mask, blue erase)
        self.read_only = False  # showing a result: no painting
        self.show_layer = True
        self.tool = Tool.HIDE
        self.brush_size = 40  # diameter in picture pixels
        self.hardness = 0.8  # 1 = sharp edge
        self.opacity = 0.55
        self.mask_only = False
        self._undo: list[tuple[QRect, QImage]] = []
        self._before: QImage | None = None
        self._dirty = QRect()
        self._last: QPointF | None = None
        self._hover: QPointF | None = None

    # -- state ---------------------------------------------------------------------------------
    def set_image(self, image: QImage | None, full_size: tuple[int, int] | None = None) -> None:
        super().set_image(image, full_size)
        self._undo.clear()
        if self.has_image():
            self.layer = QImage(self.full_size, QImage.Format.Format_ARGB32_Premultiplied)
            self.layer.fill(Qt.GlobalColor.transparent)
        else:
            self.layer = None

    def set_mask(self, mask: QImage | None) -> None:
        """Start from a saved mask (same size as the picture)."""
        if self.layer is None:
            return
        if mask is None:
            self.layer.fill(Qt.GlobalColor.transparent)
        else:
            self.layer = layer_from_mask(mask.scaled(self.full_size), self.color)
        self._undo.clear()
        self.update()

    def set_region(self, region: QImage | None) -> None:
        """Start from a saved region where white = painted (the erase region)."""
        if region is None:
            self.set_mask(None)
            return
        inverted = region.convertToFormat(QImage.Format.Format_Grayscale8)
        inverted.invertPixels()
        self.set_mask(inverted)

    def region_image(self) -> Image.Image | None:
        """The painted layer as an "L" image where white = painted (the erase region)."""
        return Image.fromarray(layer_alpha(self.layer), mode="L") if self.layer is not None else None

    def take_layer(self) -> tuple[QImage | None, list[tuple[QRect, QImage]]]:
        """Hand over the layer and its undo steps (to paint another layer for a while)."""
        state = (self.layer, self._undo)
        self._undo = []
        return state

    def put_layer(self, layer: QImage | None, undo: list[tuple[QRect, QImage]], color: QColor) -> None:
        self.layer, self._undo, self.color = layer, undo, QColor(color)
        self.update()

    def set_shown_image(self, image: QImage) -> None:
        """Show another rendering of the same picture (the cleaned copy); zoom and layer stay."""
        self.image = image
        self.update()

    def is_empty(self) -> bool:
        return self.layer is None or not layer_alpha(self.layer).any()

    def mask_image(self) -> Image.Image | None:
        return mask_from_layer(self.layer) if self.layer is not None else None

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    # -- whole-mask actions (undoable) ---------------------------------------------------------
    def _whole(self, change: Callable[[QImage], None]) -> None:
        if self.layer is None:
            return
        self._push_undo(self.layer.rect(), self.layer.copy())
        change(self.layer)
        self.update()
        self.mask_edited.emit()

    def hide_all(self) -> None:
        self._whole(lambda layer: layer.fill(self.color))

    def clear(self) -> None:
        self._whole(lambda layer: layer.fill(Qt.GlobalColor.transparent))

    def invert(self) -> None:
        def flip(layer: QImage) -> None:
            # The hidden amount, read as a mask (white = learn), swaps hidden and learned areas.
            self.layer = layer_from_mask(_grey_image(layer_alpha(layer)), self.color)

        self._whole(flip)

    def fill_at(self, p: QPointF) -> None:
        """Hide the area around ``p`` up to the painted strokes (a paint-bucket fill)."""
        if self.layer is None:
            return
        x, y = int(p.x()), int(p.y())
        if not (0 <= x < self.full_size.width() and 0 <= y < self.full_size.height()):
            return
        alpha = layer_alpha(self.layer)
        if alpha[y, x] >= 128:
            return  # already hidden
        binary = Image.fromarray(np.where(alpha >= 128, 255, 0).astype(np.uint8), mode="L")
        ImageDraw.floodfill(binary, (x, y), 255)
        hidden = np.maximum(alpha, np.asarray(binary))
        new_layer = layer_from_mask(_grey_image(255 - hidden), self.color)
        def replace(_layer: QImage) -> None:
            self.layer = new_layer

        self._whole(replace)

    def undo(self) -> bool:
        if not self._undo or self.layer is None:
            return False
        rect, before = self._undo.pop()
        painter = QPainter(self.layer)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(rect.topLeft(), before)
        painter.end()
        self.update()
        self.mask_edited.emit()
        return True

    def _push_undo(self, rect: QRect, before: QImage) -> None:
        self._undo.append((rect, before))
        del self._undo[:-UNDO_LIMIT]

    # -- painting strokes ----------------------------------------------------------------------
    def _dab(self, painter: QPainter, p: QPointF) -> None:
        r = max(0.5, self.brush_size / 2)
        if self.hardness >= 0.99:
            painter.setBrush(self.color)
        else:
            gradient = QRadialGradient(p, r)
            solid = QColor(self.color)
            clear = QColor(self.color)
            clear.setAlpha(0)
            gradient.setColorAt(0.0, solid)
            gradient.setColorAt(max(0.0, min(0.99, self.hardness)), solid)
            gradient.setColorAt(1.0, clear)
            painter.setBrush(gradient)
        painter.drawEllipse(p, r, r)
        self._dirty = self._dirty.united(QRectF(p.x() - r - 2, p.y() - r - 2, 2 * r + 4, 2 * r + 4).toAlignedRect())

    def _stroke_to(self, p: QPointF) -> None:
        assert self.layer is not None
        painter = QPainter(self.layer)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        if self.tool == Tool.SHOW:
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationOut)
        start = self._last or p
        spacing = max(1.0, self.brush_size * 0.15)
        dx, dy = p.x() - start.x(), p.y() - start.y()
        steps = max(1, int((dx * dx + dy * dy) ** 0.5 / spacing))
        for i in range(1 if self._last is not None else 0, steps + 1):
            self._dab(painter, QPointF(start.x() + dx * i / steps, start.y() + dy * i / steps))
        painter.end()
        self._last = p
        self.update()

    def stroke(self, a: QPointF, b: QPointF) -> None:
        """Paint (or, with the SHOW tool, erase) a line from ``a`` to ``b`` in picture pixels, as a
        mouse drag would: one undo step, then ``mask_edited``."""
        if self.layer is None:
            return
        self._before, self._dirty, self._last = self.layer.copy(), QRect(), None
        self._stroke_to(a)
        self._stroke_to(b)
        self._finish_stroke()

    def _finish_stroke(self) -> None:
        """End a stroke: one undo step for what it touched, then ``mask_edited``."""
        assert self.layer is not None and self._before is not None
        rect = self._dirty.intersected(self.layer.rect())
        if not rect.isEmpty():
            self._push_undo(rect, self._before.copy(rect))
        self._before = None
        self._last = None
        self.mask_edited.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.start_pan(event) or self.layer is None or self.read_only:
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self.setFocus()
        p = self.to_image(event.position())
        if self.tool == Tool.FILL:
            self.fill_at(p)
            return
        self._before = self.layer.copy()
        self._dirty = QRect()
        self._last = None
        self._stroke_to(p)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._hover = event.position()
        if self.continue_pan(event):
            return
        if self._before is not None:
            self._stroke_to(self.to_image(event.position()))
        else:
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.end_pan() or self._before is None or self.layer is None:
            return
        self._finish_stroke()

    def leaveEvent(self, event: object) -> None:  # noqa: N802
        self._hover = None
        self.update()

    # -- drawing -------------------------------------------------------------------------------
    def paint_image(self, painter: QPainter, target: QRectF) -> None:
        if not self.mask_only:
            super().paint_image(painter, target)
            return
        # White where learned, black where hidden, built at screen size so it stays cheap.
        size = target.toAlignedRect().size()
        view = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
        view.fill(QColor("white"))
        if self.layer is not None:
            p = QPainter(view)
            p.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationOut)
            p.drawImage(QRectF(0, 0, size.width(), size.height()), self.layer)
            p.end()
        painter.fillRect(target, QColor("black"))
        painter.drawImage(target, view)

    def paint_overlay(self, painter: QPainter) -> None:
        if self.layer is not None and not self.mask_only and self.show_layer:
            painter.setOpacity(self.opacity)
            painter.drawImage(self.image_rect(), self.layer)
            painter.setOpacity(1.0)
        if self._hover is not None and self.tool != Tool.FILL and not self.read_only:
            r = self.brush_size / 2 * self.scale()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor(0, 0, 0, 160), 2))
            painter.drawEllipse(self._hover, r, r)
            painter.setPen(QPen(QColor(255, 255, 255, 220), 1))
            painter.drawEllipse(self._hover, r, r)

    def widget_point(self, x: float, y: float) -> QPoint:
        """Where picture pixel (x, y) is on screen (for tests and keyboard users)."""
        return self.to_widget(QPointF(x, y)).toPoint()
