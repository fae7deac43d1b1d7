"""Watching the model and LoRA folders so the Generation tab's lists follow the disk by themselves.

A file appearing in, or leaving, a watched folder (or one of its direct subfolders) starts a short
timer; when the folders have been quiet for that long, :attr:`LibraryWatcher.changed` is emitted once
and the tab re-lists them off the GUI thread (``generation.jobs.scan_job``). A LoRA being written
fires several changes; the debounce turns them into one re-listing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from lora_studio.generation.model_library import SKIPPED_PROJECT_DIRS

DEBOUNCE_MS = 600
MAX_SUBFOLDERS = 200  # per watched folder; a model folder with thousands of subfolders is not followed


class LibraryWatcher(QObject):
    changed = Signal()  # once, after the watched folders were quiet for ``DEBOUNCE_MS``

    def __init__(self, parent: QObject | None = None, debounce_ms: int = DEBOUNCE_MS) -> None:
        super().__init__(parent)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._on_change)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self.changed)

    def watch(self, folders: Iterable[Path]) -> None:
        """Watch exactly ``folders`` (those that exist) and their direct, non-hidden subfolders."""
        wanted: dict[str, None] = {}
        for folder in folders:
            if not folder.is_dir():
                continue
            wanted[str(folder)] = None
            try:
                subfolders = sorted(
                    p
                    for p in folder.iterdir()
                    if p.is_dir() and not p.name.startswith(".") and p.name not in SKIPPED_PROJECT_DIRS
                )
            except OSError:
                continue
            for sub in subfolders[:MAX_SUBFOLDERS]:
                wanted[str(sub)] = None
        current = set(self._watcher.directories())
        if gone := [p for p in current if p not in wanted]:
            self._watcher.removePaths(gone)
        if new := [p for p in wanted if p not in current]:
            self._watcher.addPaths(new)

    def folders(self) -> list[str]:
        return list(self._watcher.directories())

    def _on_change(self, _path: str) -> None:
        self._timer.start()  # restarts: one re-listing after the changes stop
