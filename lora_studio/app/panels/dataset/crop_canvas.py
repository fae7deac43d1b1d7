"""The crop box on top of the picture: drag inside to move, drag a handle to resize, drag outside
to draw a new box; arrow keys nudge it (Shift: 10 px), Ctrl+arrows resize it."""

from __future__ import annotations

import enum

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QWidget

from lora_studio.app.widgets.image_canvas import ImageCanvas
from lora_studio.dataset.items import CropBox
from lora_studio.dataset.ops import fit_crop

HANDLE = 9  # widget pixels


class Drag(enum.Enum):
    NONE = 0
    MOVE = 1
    NEW = 2
    LEFT = 3
    RIGHT = 4
    TOP = 5
    BOTTOM = 6
    TOP_LEFT = 7
    TOP_RIGHT = 8
    BOTTOM_LEFT = 9
    BOTTOM_RIGHT = 10


_CURSORS = {
    Drag.MOVE: Qt.CursorShape.SizeAllCursor,
    Drag.LEFT: Qt.CursorShape.SizeHorCursor,
    Drag.RIGHT: Qt.CursorShape.SizeHorCursor,
    Drag.TOP: Qt.CursorShape.SizeVerCursor,
    Drag.BOTTOM: Qt.CursorShape.SizeVerCursor,
    Drag.TOP_LEFT: Qt.CursorShape.SizeFDiagCursor,
    Drag.BOTTOM_RIGHT: Qt.CursorShape.SizeFDiagCursor,
    Drag.TOP_RIGHT: Qt.CursorShape.SizeBDiagCursor,
    Drag.BOTTOM_LEFT: Qt.CursorShape.SizeBDiagCursor,
}


class CropCanvas(ImageCanvas):
    crop_edited = Signal(CropBox)  # CropBox, while dragging or nudging
    crop_finished = Signal(CropBox)  # CropBox, when a drag ends or a nudge settles

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.crop: CropBox | None = None
        self.aspect: float | None = None  # width / height, None = any shape
        self._drag = Drag.NONE
        self._press_img = QPointF()
        self._start: CropBox | None = None

    # -- state ---------------------------------------------------------------------------------
    def set_crop(self, crop: CropBox | None) -> None:
        self.crop = crop
        self.update()

    def set_aspect(self, aspect: float | None) -> None:
        self.aspect = aspect

    def whole(self) -> CropBox:
        return CropBox(0, 0, self.full_size.width(), self.full_size.height())

    def effective(self) -> CropBox:
        return self.crop if self.crop is not None else self.whole()

    def _clamp(self, box: CropBox) -> CropBox:
        return fit_crop(box, self.full_size.width(), self.full_size.height())

    # -- painting ------------------------------------------------------------------------------
    def paint_overlay(self, painter: QPainter) -> None:
        if self.crop is None:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        image = self.image_rect()
        box = self.rect_to_widget(QRectF(*_xywh(self.crop)))
        shade = QPainterPath()
        shade.addRect(image)
        hole = QPainterPath()
        hole.addRect(box)
        painter.fillPath(shade.subtracted(hole), QColor(0, 0, 0, 140))
        painter.setPen(QPen(QColor("white"), 1.5))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(box)
        painter.setPen(QPen(QColor(255, 255, 255, 90), 1, Qt.PenStyle.DashLine))
        for i in (1, 2):  # rule of thirds
            x = box.left() + box.width() * i / 3
            y = box.top() + box.height() * i / 3
            painter.drawLine(QPointF(x, box.top()), QPointF(x, box.bottom()))
            painter.drawLine(QPointF(box.left(), y), QPointF(box.right(), y))
        painter.setPen(QPen(QColor("#3d7be0"), 1))
        painter.setBrush(QColor("white"))
        for p in _handle_points(box).values():
            painter.drawRect(QRectF(p.x() - HANDLE / 2, p.y() - HANDLE / 2, HANDLE, HANDLE))
        label = f"{self.crop.width} × {self.crop.height}"
        painter.setPen(QColor("white"))
        fm = painter.fontMetrics()
        tag = QRectF(box.left(), box.top() - fm.height() - 6, fm.horizontalAdvance(label) + 12, fm.height() + 4)
        if tag.top() < 0:
            tag.moveTop(box.top() + 4)
            tag.moveLeft(box.left() + 4)
        painter.fillRect(tag, QColor(0, 0, 0, 170))
        painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, label)

    # -- mouse ---------------------------------------------------------------------------------
    def _hit(self, pos: QPointF) -> Drag:
        if self.crop is None:
            return Drag.NEW
        box = self.rect_to_widget(QRectF(*_xywh(self.crop)))
        for drag, p in _handle_points(box).items():
            if abs(pos.x() - p.x()) <= HANDLE and abs(pos.y() - p.y()) <= HANDLE:
                return drag
        return Drag.MOVE if box.contains(pos) else Drag.NEW

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.start_pan(event) or not self.has_image() or event.button() != Qt.MouseButton.LeftButton:
            return
        self.setFocus()
        self._drag = self._hit(event.position())
        self._press_img = self.to_image(event.position())
        self._start = self.crop

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.continue_pan(event) or not self.has_image():
            return
        if self._drag == Drag.NONE:
            self.setCursor(_CURSORS.get(self._hit(event.position()), Qt.CursorShape.CrossCursor))
            return
        p = self.to_image(event.position())
        box = self._dragged(p)
        if box is not None:
            self.crop = box
            self.crop_edited.emit(box)
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.end_pan() or self._drag == Drag.NONE:
            return
        self._drag = Drag.NONE
        if self.crop is not None and self.crop != self._start:
            self.crop_finished.emit(self.crop)

    def _dragged(self, p: QPointF) -> CropBox | None:
        w, h = self.full_size.width(), self.full_size.height()
        if self._drag == Drag.MOVE and self._start is not None:
            dx, dy = round(p.x() - self._press_img.x()), round(p.y() - self._press_img.y())
            s = self._start
            return CropBox(min(max(0, s.x + dx), w - s.width), min(max(0, s.y + dy), h - s.height), s.width, s.height)
        # Resizing: keep the opposite side/corner (the anchor) where it is.
        if self._drag == Drag.NEW or self._start is None:
            ax, ay = self._press_img.x(), self._press_img.y()
            fx, fy = p.x(), p.y()
            moves_x = moves_y = True
        else:
            s, d = self._start, self._drag
            left, top, right, bottom = s.x, s.y, s.x + s.width, s.y + s.height
            moves_x = d in (Drag.LEFT, Drag.RIGHT, Drag.TOP_LEFT, Drag.TOP_RIGHT, Drag.BOTTOM_LEFT, Drag.BOTTOM_RIGHT)
            moves_y = d in (Drag.TOP, Drag.BOTTOM, Drag.TOP_LEFT, Drag.TOP_RIGHT, Drag.BOTTOM_LEFT, Drag.BOTTOM_RIGHT)
            ax = right if d in (Drag.LEFT, Drag.TOP_LEFT, Drag.BOTTOM_LEFT) else left
            ay = bottom if d in (Drag.TOP, Drag.TOP_LEFT, Drag.TOP_RIGHT) else top
            fx = p.x() if moves_x else (right if ax == left else left)
            fy = p.y() if moves_y else (bottom if ay == top else top)
        fx, fy = min(max(0.0, fx), w), min(max(0.0, fy), h)
        bw, bh = abs(fx - ax), abs(fy - ay)
        if self.aspect:
            if moves_x and (not moves_y or bw / max(bh, 1e-6) > self.aspect):
                bh = bw / self.aspect
            else:
                bw = bh * self.aspect
            # Stay inside the picture on the side the box grows towards.
            room_x = (w - ax) if fx >= ax else ax
            room_y = (h - ay) if fy >= ay else ay
            k = min(1.0, room_x / max(bw, 1e-6), room_y / max(bh, 1e-6))
            bw, bh = bw * k, bh * k
        if bw < 4 or bh < 4:
            return None
        x = ax if fx >= ax else ax - bw
        y = ay if fy >= ay else ay - bh
        if not moves_x and self._start is not None:  # an edge handle with a fixed shape: stay centred
            x = self._start.x + (self._start.width - bw) / 2
        if not moves_y and self._start is not None:
            y = self._start.y + (self._start.height - bh) / 2
        return self._clamp(CropBox(round(x), round(y), max(1, round(bw)), max(1, round(bh))))

    # -- keyboard ------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        keys = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}
        if event.key() not in keys or not self.has_image():
            super().keyPressEvent(event)
            return
        dx, dy = keys[event.key()]
        step = 10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.resize_by(dx * step, dy * step)
        else:
            self.nudge(dx * step, dy * step)

    def nudge(self, dx: int, dy: int) -> None:
        box = self.effective()
        self._set_and_emit(CropBox(box.x + dx, box.y + dy, box.width, box.height))

    def resize_by(self, dw: int, dh: int) -> None:
        box = self.effective()
        w, h = max(8, box.width + dw), max(8, box.height + dh)
        if self.aspect:
            if dw:
                h = max(8, round(w / self.aspect))
            else:
                w = max(8, round(h * self.aspect))
        self._set_and_emit(CropBox(box.x, box.y, w, h))

    def _set_and_emit(self, box: CropBox) -> None:
        box = self._clamp(box)
        if box == self.crop:
            return
        self.crop = box
        self.update()
        self.crop_edited.emit(box)
        self.crop_finished.emit(box)


def _xywh(c: CropBox) -> tuple[int, int, int, int]:
    return (c.x, c.y, c.width, c.height)


def _handle_points(box: QRectF) -> dict[Drag, QPointF]:
    cx, cy = box.center().x(), box.center().y()
    return {
        Drag.TOP_LEFT: box.topLeft(),
        Drag.TOP_RIGHT: box.topRight(),
        Drag.BOTTOM_LEFT: box.bottomLeft(),
        Drag.BOTTOM_RIGHT: box.bottomRight(),
        Drag.LEFT: QPointF(box.left(), cy),
        Drag.RIGHT: QPointF(box.right(), cy),
        Drag.TOP: QPointF(cx, box.top()),
        Drag.BOTTOM: QPointF(cx, box.bottom()),
    }
