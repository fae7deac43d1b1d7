"""The worker object every long job uses: a Qt-free core function run on a QThread.

The core function has the signature ``fn(reporter, control) -> result``. Each event it reports is
re-emitted through the queued ``event`` signal; the job ends with exactly one of ``finished``,
``failed`` or ``cancelled``, then ``ended``.

Connect the signals to methods of QObjects that live in the GUI thread (a panel's methods): Qt then
delivers them queued, on the GUI thread. A plain lambda would run on the worker thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance, Slot

from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.core.control import RunControl
from lora_studio.core.errors import Cancelled, LoraStudioError
from lora_studio.core.events import Event

log = logging.getLogger(__name__)

JobFunction = Callable[[Callable[[Event], None], RunControl], Any]


class Worker(QObject):
    event = Signal(Event)  # a lora_studio.core.events.Event
    finished = Signal(object)  # the function's return value
    failed = Signal(ErrorInfo)  # ErrorInfo
    cancelled = Signal()
    ended = Signal()  # after any of the three above; the runner uses it to stop the thread

    def __init__(self, fn: JobFunction, *, name: str = "Job", gpu: bool = True) -> None:
        super().__init__()
        self.fn = fn
        self.name = name
        self.gpu = gpu  # whether the job needs the graphics card (only one such job at a time)
        self.control = RunControl()
        self._running = threading.Event()

    @property
    def is_running(self) -> bool:
        """True from :meth:`mark_started` until the function has returned (thread-safe)."""
        return self._running.is_set()

    def mark_started(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        """Thread-safe: the job stops at its next step boundary."""
        self.control.cancel()

    @Slot()
    def run(self) -> None:
        self._running.set()
        outcome: tuple[SignalInstance, tuple[object, ...]]
        try:
            result = self.fn(self.event.emit, self.control)
        except Cancelled:
            log.info("%s stopped by the user.", self.name)
            outcome = (self.cancelled, ())
        except LoraStudioError as exc:
            log.warning("%s failed: %s", self.name, exc)
            outcome = (self.failed, (ErrorInfo.from_exception(exc, title=f"{self.name} failed"),))
        except Exception as exc:  # the one broad catch: a worker must report, never die silently
            log.exception("%s failed with an unexpected error", self.name)
            outcome = (self.failed, (ErrorInfo.from_exception(exc, title=f"{self.name} failed"),))
        else:
            outcome = (self.finished, (result,))
        # Not running any more before anyone hears the outcome, so a listener may start the next job.
        self._running.clear()
        signal, args = outcome
        signal.emit(*args)
        self.ended.emit()
