"""The Qt item model of the picture grid: plain rows in, thumbnails from the loader.

``data()`` never touches the disk: it returns what is in memory and, for a thumbnail that is not
there yet, queues it with the loader and returns nothing (the delegate draws a placeholder).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QImage

from lora_studio.app.panels.dataset.thumbnail_loader import ThumbKey, ThumbnailLoader
from lora_studio.core.issues import Issue, Severity
from lora_studio.dataset.scan import ImageRow

Index = QModelIndex | QPersistentModelIndex
PICTURES_MIME = "application/x-lorastudio-pictures"  # pictures dragged from the grid: [[concept, key], …]
MAX_THUMBS_IN_MEMORY = 6000  # about 75 KB each


class Role(enum.IntEnum):
    ROW = Qt.ItemDataRole.UserRole + 1  # the ImageRow
    THUMB = Qt.ItemDataRole.UserRole + 2  # QImage or None (never loads)
    THUMB_ERROR = Qt.ItemDataRole.UserRole + 3  # why the thumbnail failed, or ""
    ISSUES = Qt.ItemDataRole.UserRole + 4  # list[Issue]
    WORST = Qt.ItemDataRole.UserRole + 5  # Severity of the worst issue, or None


_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def worst_severity(issues: Iterable[Issue]) -> Severity | None:
    found = sorted((i.severity for i in issues), key=_SEVERITY_ORDER.__getitem__)
    return found[0] if found else None


def thumb_key(row: ImageRow) -> ThumbKey:
    """The grid shows what is trained: the cleaned copy when a region was erased."""
    if row.erased is not None and row.erased_mtime_ns:
        return ThumbKey(str(row.erased), 0, row.erased_mtime_ns)
    return ThumbKey(str(row.path), row.file_size, row.mtime_ns)


class ImageListModel(QAbstractListModel):
    def __init__(self, loader: ThumbnailLoader, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self._rows: list[ImageRow] = []
        self._by_path: dict[Path, int] = {}
        self._by_caption: dict[Path, int] = {}
        self._by_mask: dict[Path, int] = {}
        self._by_thumb: dict[Path, int] = {}
        self._thumbs: dict[ThumbKey, QImage] = {}
        self._thumb_errors: dict[ThumbKey, str] = {}
        self._issues: dict[Path, list[Issue]] = {}
        self._dirty: set[int] = set()
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(80)  # batch repaints: many thumbnails arrive close together
        self._flush.timeout.connect(self._emit_dirty)
        # Background prefetch is queued in chunks from a timer, so a big set of rows never
        # queues thousands of jobs in one go on the GUI thread.
        self._prefetch: list[ThumbKey] = []
        self._prefetch_timer = QTimer(self)
        self._prefetch_timer.setInterval(15)
        self._prefetch_timer.timeout.connect(self._prefetch_chunk)
        loader.ready.connect(self._on_thumb_ready)
        loader.failed.connect(self._on_thumb_failed)

    # -- Qt model API --------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.name
        if role == Role.ROW:
            return row
        if role == Role.THUMB:
            return self.thumbnail(index.row())
        if role == Role.THUMB_ERROR:
            return self.thumb_error(index.row())
        if role == Role.ISSUES:
            return self._issues.get(row.path, [])
        if role == Role.WORST:
            return self.worst(index.row())
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    # -- dragging pictures onto a concept --------------------------------------------------------
    def mimeTypes(self) -> list[str]:  # noqa: N802
        return [PICTURES_MIME]

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802
        return Qt.DropAction.MoveAction | Qt.DropAction.CopyAction

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:  # noqa: N802
        """The dragged pictures as (concept, key) pairs; only LoRA Studio's concept list takes them."""
        rows = sorted({i.row() for i in indexes if i.isValid()})
        mime = QMimeData()
        payload = [[self._rows[r].concept, self._rows[r].key] for r in rows]
        mime.setData(PICTURES_MIME, json.dumps(payload).encode())
        return mime

    # -- direct access for the delegate ---------------------------------------------------------
    # PySide6 6.12 drops a reference to None each time an empty QVariant is turned back into
    # Python None (``index.data(role)`` for a role with no value); enough of those crash the
    # interpreter. The delegate therefore asks these plain methods instead of ``index.data()``.
    def thumbnail(self, i: int) -> QImage | None:
        """The thumbnail if it is in memory; else queue it (never decodes here) and return None."""
        key = thumb_key(self._rows[i])
        image = self._thumbs.get(key)
        if image is None and key not in self._thumb_errors:
            self.loader.request(key, urgent=True)
        return image

    def thumb_error(self, i: int) -> str:
        row = self._rows[i]
        return self._thumb_errors.get(thumb_key(row), "") or row.error

    def worst(self, i: int) -> Severity | None:
        return worst_severity(self._issues.get(self._rows[i].path, []))

    # -- rows ----------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[ImageRow], *, prefetch: bool = True) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._reindex()
        self._dirty.clear()
        self.endResetModel()
        self._prefetch = []
        self._prefetch_timer.stop()
        if prefetch:  # behind whatever the view asks for first
            self._prefetch = [thumb_key(row) for row in reversed(self._rows)]
            self._prefetch_timer.start()

    PREFETCH_CHUNK = 64

    def _prefetch_chunk(self) -> None:
        chunk = self._prefetch[-self.PREFETCH_CHUNK :]
        del self._prefetch[-self.PREFETCH_CHUNK :]
        for key in reversed(chunk):
            if key not in self._thumbs and key not in self._thumb_errors:
                self.loader.request(key)
        if not self._prefetch:
            self._prefetch_timer.stop()

    def rows(self) -> list[ImageRow]:
        return list(self._rows)

    def row_at(self, i: int) -> ImageRow:
        return self._rows[i]

    def index_of_path(self, path: Path) -> QModelIndex:
        i = self._by_path.get(Path(path))
        return self.index(i) if i is not None else QModelIndex()

    def replace_row(self, row: ImageRow) -> None:
        i = self._by_path.get(row.path)
        if i is None:
            return
        self._rows[i] = row
        self._by_caption[row.caption_path] = i
        if row.mask is not None:
            self._by_mask[row.mask] = i
        self._by_thumb[Path(thumb_key(row).path)] = i
        idx = self.index(i)
        self.dataChanged.emit(idx, idx)

    def refresh_captions(self, caption_paths: Iterable[Path]) -> list[ImageRow]:
        """Re-read the captions at ``caption_paths`` (after an edit, undo or redo)."""
        changed = []
        for p in caption_paths:
            i = self._by_caption.get(Path(p))
            if i is None:
                continue
            self._rows[i] = self._rows[i].with_caption()
            changed.append(self._rows[i])
            self._mark(i)
        self._emit_dirty()
        return changed

    def resolve(self, path: Path | None) -> ImageRow | None:
        """The row a path belongs to: the picture itself, its caption file or its mask."""
        if path is None:
            return None
        p = Path(path)
        i = self._by_path.get(p)
        if i is None:
            i = self._by_caption.get(p)
        if i is None:
            i = self._by_mask.get(p)
        return self._rows[i] if i is not None else None

    def set_issues(self, issues: Iterable[Issue]) -> None:
        self._issues = {}
        for issue in issues:
            row = self.resolve(issue.path)
            if row is not None:
                self._issues.setdefault(row.path, []).append(issue)
        if self._rows:
            self.dataChanged.emit(self.index(0), self.index(len(self._rows) - 1))

    def thumbnail_count(self) -> int:
        """Rows whose thumbnail is in memory (or known to be broken)."""
        return sum(1 for r in self._rows if (k := thumb_key(r)) in self._thumbs or k in self._thumb_errors)

    def _reindex(self) -> None:
        self._by_path = {r.path: i for i, r in enumerate(self._rows)}
        self._by_caption = {r.caption_path: i for i, r in enumerate(self._rows)}
        self._by_mask = {r.mask: i for i, r in enumerate(self._rows) if r.mask is not None}
        self._by_thumb = {Path(thumb_key(r).path): i for i, r in enumerate(self._rows)}

    # -- thumbnails ----------------------------------------------------------------------------
    def _on_thumb_ready(self, key: ThumbKey, image: QImage) -> None:
        if len(self._thumbs) >= MAX_THUMBS_IN_MEMORY:
            self._thumbs.pop(next(iter(self._thumbs)))  # oldest first; the disk cache has it
        self._thumbs[key] = image
        i = self._by_thumb.get(Path(key.path))
        if i is not None:
            self._mark(i)

    def _on_thumb_failed(self, key: ThumbKey, reason: str) -> None:
        self._thumb_errors[key] = reason
        i = self._by_thumb.get(Path(key.path))
        if i is not None:
            self._mark(i)

    def _mark(self, i: int) -> None:
        self._dirty.add(i)
        if not self._flush.isActive():
            self._flush.start()

    def _emit_dirty(self) -> None:
        if not self._dirty:
            return
        rows = sorted(r for r in self._dirty if r < len(self._rows))
        self._dirty.clear()
        # One signal per contiguous run keeps repaints small and few.
        runs: list[list[int]] = []
        for r in rows:
            if runs and r == runs[-1][1] + 1:
                runs[-1][1] = r
            else:
                runs.append([r, r])
        for start, end in runs:
            self.dataChanged.emit(self.index(start), self.index(end))

    @staticmethod
    def _tooltip(row: ImageRow) -> str:
        parts = [f"<b>{row.name}</b> — {row.concept}"]
        if row.width:
            parts.append(f"{row.width} × {row.height} px")
        if row.crop is not None:
            parts.append(f"Cropped to {row.crop.width} × {row.crop.height}")
        if row.mask is not None:
            parts.append("Has a mask")
        if row.erased is not None:
            parts.append("A region is erased: training uses the cleaned copy")
        if row.error:
            parts.append(f"<span style='color:#cf222e'>{row.error}</span>")
        caption = row.caption if row.has_caption else "(no caption yet)"
        parts.append(caption[:300])
        return "<br>".join(parts)
