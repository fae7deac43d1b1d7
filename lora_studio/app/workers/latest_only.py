"""A one-thread pool for work where only the newest request matters (a preview, a recount)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from PySide6.QtCore import QObject, QThreadPool


class LatestOnlyPool(QObject):
    """Runs jobs one at a time off the GUI thread; a new request drops older ones still waiting.

    ``latest`` is the newest request's number: answers carrying an older number are stale.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._ids = itertools.count(1)
        self.latest = 0

    def submit(self, job: Callable[[int], None]) -> int:
        """Run ``job(request_number)`` on the pool thread; returns the request number."""
        request = next(self._ids)
        self.latest = request
        self.pool.clear()  # whatever still waits is no longer wanted
        self.pool.start(lambda: job(request))
        return request

    def wait(self, msecs: int = 10000) -> bool:
        return self.pool.waitForDone(msecs)
