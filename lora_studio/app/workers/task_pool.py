"""The one helper for small tasks off the GUI thread: previews, step counts, thumbnails, erase fills.

Long jobs (imports, scans, checks, training, generation) go through ``Worker`` + ``JobRunner``;
everything shorter goes through a ``TaskPool``. A task is a plain function called with its request
number on a pool thread; it answers through a queued signal of its owner (a QObject living on the
GUI thread), so results are applied on the GUI thread.

``submit(task)`` is for work where only the newest request matters (a preview, a recount): it drops
older requests still waiting, and ``latest`` tells the owner which answer is current.
``queue(task)`` keeps every request (thumbnails, erase fills) and runs them in the order asked.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QThreadPool

log = logging.getLogger(__name__)

Task = Callable[[int], None]


def _run(task: Task, request: int) -> None:
    try:
        task(request)
    except RuntimeError as exc:  # its owner was deleted while it ran (the window closed)
        log.debug("A background task ended without its owner: %s", exc)
    except Exception:  # tasks report their own failures; anything else must not reach Qt's pool
        log.exception("A background task failed")


class TaskPool(QObject):
    def __init__(self, parent: QObject | None = None, *, threads: int = 1) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.threads = threads
        self.pool.setMaxThreadCount(threads)
        self._ids = itertools.count(1)
        self.latest = 0

    def submit(self, task: Task) -> int:
        """Run ``task(request_number)`` when a thread is free, dropping every request still
        waiting (they are no longer wanted); returns the request number."""
        self.pool.clear()
        return self.queue(task)

    def queue(self, task: Task) -> int:
        """Run ``task(request_number)`` after the requests already waiting; returns its number."""
        request = next(self._ids)
        self.latest = request
        self.pool.start(lambda: _run(task, request))
        return request

    def clear(self) -> None:
        """Drop every request that has not started."""
        self.pool.clear()

    def set_quiet(self, quiet: bool) -> None:
        """One thread while something else works hard (an import), else the normal count."""
        self.pool.setMaxThreadCount(1 if quiet else self.threads)

    def wait(self, msecs: int = 10000) -> bool:
        return self.pool.waitForDone(msecs)
