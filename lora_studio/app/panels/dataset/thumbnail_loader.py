"""Thumbnails decoded in a thread pool and cached on disk, never on the GUI thread.

The disk cache lives in the app's cache folder (``cache/thumbnails``), one small JPEG per picture,
named after a hash of the picture's path, size, modification time and the thumbnail size, so an
edited picture gets a new thumbnail and stale ones are simply never read again.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtGui import QImage

from lora_studio.app.workers.task_pool import TaskPool
from lora_studio.core import paths
from lora_studio.core.errors import DatasetError
from lora_studio.core.fileio import atomic_write_with
from lora_studio.dataset.images import load_rgb

log = logging.getLogger(__name__)

THUMB_SIZE = 160  # longest side in pixels
# While thumbnails decode, the GUI thread gives the GIL up on every Qt call (PySide releases it)
# and then waits up to the interpreter's switch interval (5 ms) to get it back from a decoding
# thread: a grid repaint of a few hundred Qt calls could stall for 100-400 ms. A short interval
# while the pool is busy keeps those waits small; the default comes back when it is idle.
BUSY_SWITCH_INTERVAL = 0.0005


@dataclass(frozen=True, slots=True)
class ThumbKey:
    path: str
    file_size: int
    mtime_ns: int

    def cache_name(self, size: int) -> str:
        raw = f"{self.path}|{self.file_size}|{self.mtime_ns}|{size}".encode()
        return hashlib.sha1(raw, usedforsecurity=False).hexdigest() + ".jpg"


def default_cache_dir() -> Path:
    return paths.cache_dir() / "thumbnails"


def make_thumbnail(key: ThumbKey, size: int, cache_dir: Path | None) -> QImage:
    """Read the cached thumbnail or decode the picture and cache it. Runs on a pool thread."""
    cached = cache_dir / key.cache_name(size) if cache_dir is not None else None
    if cached is not None and cached.is_file():
        image = QImage(str(cached))
        if not image.isNull():
            return image
    rgb = load_rgb(key.path, draft=(size * 2, size * 2))
    rgb.thumbnail((size, size))
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_with(cached, lambda tmp: rgb.save(tmp, format="JPEG", quality=88))
        except OSError as exc:  # a full or read-only disk only costs speed next time
            log.debug("Thumbnail not cached for %s: %s", key.path, exc)
    data = rgb.tobytes()
    return QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888).copy()


class _Signals(QObject):
    ready = Signal(ThumbKey, QImage)  # ThumbKey, image
    failed = Signal(ThumbKey, str)  # ThumbKey, plain-words reason


class ThumbnailLoader(QObject):
    """Queue thumbnails; ``ready``/``failed`` arrive on the GUI thread (queued signals).

    Jobs wait in a priority queue of our own: ``request(key, urgent=True)`` (what the view has on
    screen) goes ahead of background requests, the newest urgent one first, so scrolling fast loads
    what is visible now. Each pool task takes the most urgent waiting key when it starts.
    """

    ready = Signal(ThumbKey, QImage)
    failed = Signal(ThumbKey, str)

    def __init__(
        self,
        size: int = THUMB_SIZE,
        cache_dir: Path | None = None,
        threads: int | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.size = size
        self.cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
        ideal = QThreadPool.globalInstance().maxThreadCount()
        self.threads = threads or max(2, min(4, ideal - 1))
        self.pool = TaskPool(self, threads=self.threads)
        self._normal_switch: float | None = None
        self._signals = _Signals()
        self._signals.ready.connect(self._on_ready)
        self._signals.failed.connect(self._on_failed)
        self._lock = threading.Lock()
        self._heap: list[tuple[int, int, ThumbKey]] = []  # (-priority, order, key)
        self._priority: dict[ThumbKey, int] = {}  # waiting keys and their current priority
        self._busy: set[ThumbKey] = set()  # being decoded now
        self._order = itertools.count()
        self._urgency = itertools.count(1)

    def request(self, key: ThumbKey, *, urgent: bool = False) -> None:
        """Queue ``key`` unless it is waiting or being decoded; urgent requests jump the queue."""
        with self._lock:
            if key in self._busy:
                return
            current = self._priority.get(key)
            if current is not None and (not urgent or current > 0):
                return
            priority = next(self._urgency) if urgent else 0
            self._priority[key] = priority
            heapq.heappush(self._heap, (-priority, next(self._order), key))
            new_task = current is None
        if new_task:
            self._set_busy(True)
            self.pool.queue(self._run_one)

    def set_quiet(self, quiet: bool) -> None:
        """One decoding thread while something else works hard (an import), else the normal count."""
        self.pool.set_quiet(quiet)

    def _set_busy(self, busy: bool) -> None:
        # Only called on the GUI thread (request() and _settled()).
        if busy and self._normal_switch is None:
            self._normal_switch = sys.getswitchinterval()
            sys.setswitchinterval(min(self._normal_switch, BUSY_SWITCH_INTERVAL))
        elif not busy and self._normal_switch is not None:
            sys.setswitchinterval(self._normal_switch)
            self._normal_switch = None

    def cancel_all(self) -> None:
        """Drop every job that has not started (for example when another project opens)."""
        with self._lock:
            self._heap.clear()
            self._priority.clear()
        self.pool.clear()
        self._settled()

    def pending(self) -> int:
        with self._lock:
            return len(self._priority) + len(self._busy)

    def wait(self, msecs: int = 30000) -> bool:
        return self.pool.wait(msecs)

    # -- pool threads --------------------------------------------------------------------------
    def _take(self) -> ThumbKey | None:
        with self._lock:
            while self._heap:
                neg, _, key = heapq.heappop(self._heap)
                if self._priority.get(key) == -neg:  # else a stale entry (it was re-prioritised)
                    del self._priority[key]
                    self._busy.add(key)
                    return key
            return None

    def _run_one(self, _request: int) -> None:
        key = self._take()
        if key is None:
            return
        try:
            image = make_thumbnail(key, self.size, self.cache_dir)
        except DatasetError as exc:
            self._signals.failed.emit(key, exc.message)
        except Exception as exc:  # a broken picture must never take the pool down
            log.warning("Thumbnail of %s failed: %r", key.path, exc)
            self._signals.failed.emit(key, f"This picture cannot be shown ({exc}).")
        else:
            self._signals.ready.emit(key, image)
        finally:
            with self._lock:
                self._busy.discard(key)

    # -- GUI thread ----------------------------------------------------------------------------
    def _on_ready(self, key: ThumbKey, image: QImage) -> None:
        self.ready.emit(key, image)
        self._settled()

    def _on_failed(self, key: ThumbKey, reason: str) -> None:
        self.failed.emit(key, reason)
        self._settled()

    def _settled(self) -> None:
        if self._normal_switch is not None and self.pending() == 0:
            self._set_busy(False)
