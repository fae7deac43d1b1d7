"""Sample pictures as they arrive, arranged prompt (rows) × step (columns, newest first); click to enlarge.

Pictures are decoded and scaled in a thread pool, never on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QImage, QImageReader, QMouseEvent, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from lora_studio.app.workers.task_pool import TaskPool

THUMB = 150


@dataclass(frozen=True, slots=True)
class SampleInfo:
    path: str
    step: int
    epoch: int
    prompt: str
    prompt_index: int


def load_thumb(path: str, size: int) -> QImage:
    """Decode and scale a sample picture (on a pool thread)."""
    reader = QImageReader(path)
    original = reader.size()
    if original.isValid():
        reader.setScaledSize(original.scaled(QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio))
    return reader.read()


class _Thumb(QLabel):
    clicked = Signal(SampleInfo)

    def __init__(self, info: SampleInfo) -> None:
        super().__init__()
        self.info = info
        self.setFixedSize(THUMB + 6, THUMB + 6)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setText("…")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"{info.prompt}\nStep {info.step}, epoch {info.epoch}\n{info.path}\n\nClick to enlarge.")
        self.setStyleSheet("QLabel { background: palette(base); border: 1px solid palette(midlight); border-radius: 4px; }")

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.info)


class SampleViewDialog(QDialog):
    """One sample picture at full size with its prompt and step."""

    def __init__(self, info: SampleInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Sample — step {info.step}, epoch {info.epoch}")
        picture = QLabel()
        pixmap = QPixmap(info.path)
        if pixmap.width() > 900 or pixmap.height() > 900:
            pixmap = pixmap.scaled(900, 900, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        picture.setPixmap(pixmap)
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        caption = QLabel(f"<b>{info.prompt}</b><br>Step {info.step} · epoch {info.epoch}<br><small>{info.path}</small>")
        caption.setWordWrap(True)
        caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(picture, 1)
        layout.addWidget(caption)


class SampleGalleryWidget(QScrollArea):
    sample_clicked = Signal(SampleInfo)
    _loaded = Signal(str, QImage)  # from the pool thread

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self._inner = QWidget()
        self._grid = QGridLayout(self._inner)
        self._grid.setSpacing(8)
        self._grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.setWidget(self._inner)
        self.samples: list[SampleInfo] = []
        self._cells: dict[tuple[int, int], _Thumb] = {}
        self._prompts: dict[int, str] = {}
        self._steps: list[int] = []
        self._headers: dict[int, QLabel] = {}
        self._row_labels: dict[int, QLabel] = {}
        self._pending: dict[str, _Thumb] = {}
        self._loaded.connect(self._on_loaded)
        self._pool = TaskPool(self, threads=2)
        self._empty = QLabel("Sample pictures appear here while training runs.\nAdd sample prompts in the settings to get them.")
        self._empty.setProperty("muted", True)
        self._grid.addWidget(self._empty, 0, 0)
        self.sample_clicked.connect(self.enlarge)

    def add_sample(self, path: str, step: int, epoch: int, prompt: str, prompt_index: int) -> None:
        info = SampleInfo(path, step, epoch, prompt, prompt_index)
        self.samples.append(info)
        self._empty.hide()
        self._prompts.setdefault(prompt_index, prompt)
        new_column = step not in self._steps
        if new_column:
            self._steps.append(step)
            self._steps.sort(reverse=True)  # newest first, next to the prompt names
        thumb = _Thumb(info)
        thumb.clicked.connect(self.sample_clicked)
        old = self._cells.pop((prompt_index, step), None)
        if old is not None:
            old.deleteLater()
        self._cells[(prompt_index, step)] = thumb
        self._pending[path] = thumb
        self._relayout()
        self._pool.queue(lambda _request: self._loaded.emit(path, load_thumb(path, THUMB)))
        if new_column:
            self.horizontalScrollBar().setValue(0)

    def clear(self) -> None:
        for w in [*self._cells.values(), *self._headers.values(), *self._row_labels.values()]:
            w.deleteLater()
        self._cells.clear()
        self._headers.clear()
        self._row_labels.clear()
        self._prompts.clear()
        self._steps.clear()
        self._pending.clear()
        self.samples.clear()
        self._empty.show()

    def _relayout(self) -> None:
        rows = sorted(self._prompts)
        for c, step in enumerate(self._steps, start=1):
            header = self._headers.get(step)
            if header is None:
                epoch = next((s.epoch for s in self.samples if s.step == step), 0)
                header = QLabel(f"<b>Step {step}</b><br><small>epoch {epoch}</small>")
                header.setAlignment(Qt.AlignmentFlag.AlignCenter)
                self._headers[step] = header
            self._grid.addWidget(header, 0, c)
        for r, index in enumerate(rows, start=1):
            label = self._row_labels.get(index)
            if label is None:
                label = QLabel(self._prompts[index])
                label.setWordWrap(True)
                label.setFixedWidth(150)
                label.setToolTip(self._prompts[index])
                self._row_labels[index] = label
            self._grid.addWidget(label, r, 0)
            for c, step in enumerate(self._steps, start=1):
                cell = self._cells.get((index, step))
                if cell is not None:
                    self._grid.addWidget(cell, r, c)

    @Slot(str, QImage)
    def _on_loaded(self, path: str, image: QImage) -> None:
        thumb = self._pending.pop(path, None)
        if thumb is None:
            return
        if image.isNull():
            thumb.setText("Can't\nread")
        else:
            thumb.setPixmap(QPixmap.fromImage(image))

    @property
    def loaded_count(self) -> int:
        return sum(1 for t in self._cells.values() if t.pixmap() is not None and not t.pixmap().isNull())

    @Slot(SampleInfo)
    def enlarge(self, info: SampleInfo) -> None:
        dialog = SampleViewDialog(info, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

