"""Logging set-up: a rotating log file in the data folder plus an in-memory ring for the log view."""

from __future__ import annotations

import collections
import logging
import logging.handlers
import threading
from collections.abc import Callable
from pathlib import Path

from lora_studio.core import paths

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RingHandler(logging.Handler):
    """Keeps the last N formatted records and notifies listeners (the app's log view)."""

    def __init__(self, capacity: int = 5000) -> None:
        super().__init__()
        self.records: collections.deque[str] = collections.deque(maxlen=capacity)
        self._listeners: list[Callable[[str, int], None]] = []
        self._lock_listeners = threading.Lock()
        self.setFormatter(logging.Formatter(FORMAT, "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # logging must never raise
            return
        self.records.append(text)
        with self._lock_listeners:
            listeners = list(self._listeners)
        for fn in listeners:
            fn(text, record.levelno)

    def add_listener(self, fn: Callable[[str, int], None]) -> None:
        with self._lock_listeners:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[str, int], None]) -> None:
        with self._lock_listeners:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def tail(self, n: int = 200) -> list[str]:
        return list(self.records)[-n:]


_ring: RingHandler | None = None
_log_file: Path | None = None


def setup_logging(level: int = logging.INFO, to_file: bool = True) -> RingHandler:
    """Idempotent. Returns the ring handler the log view listens to."""
    global _ring, _log_file
    root = logging.getLogger()
    if _ring is not None:
        return _ring
    root.setLevel(min(root.level or level, level) if root.handlers else level)
    _ring = RingHandler()
    _ring.setLevel(level)
    root.addHandler(_ring)
    if to_file:
        _log_file = paths.logs_dir() / "lora-studio.log"
        fh = logging.handlers.RotatingFileHandler(_log_file, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
        fh.setFormatter(logging.Formatter(FORMAT))
        fh.setLevel(logging.DEBUG)
        root.addHandler(fh)
    # Libraries we use are chatty at INFO; keep their warnings.
    for name in ("httpx", "urllib3", "PIL", "diffusers", "transformers", "accelerate", "peft"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return _ring


def ring() -> RingHandler | None:
    return _ring


def log_file() -> Path | None:
    return _log_file
