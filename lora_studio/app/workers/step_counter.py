"""Count training steps on a worker thread: reading 1,000 picture headers and captions takes
seconds the first time, and the Dataset and Training tabs recount on every edit.

``request(config, project)`` → later ``counted(count_or_None, config)`` on the GUI thread. Only the
newest request is answered; older ones still waiting are dropped.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import QObject, Signal

from lora_studio.app.workers.latest_only import LatestOnlyPool
from lora_studio.training import step_plan

log = logging.getLogger(__name__)


class StepCounter(LatestOnlyPool):
    counted = Signal(object, object)  # StepCount | None, the TrainConfig it was counted for
    _done = Signal(int, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._answered = 0
        self._done.connect(self._on_done)

    @property
    def pending(self) -> bool:
        """A request has not been answered yet (for tests and "Counting…" texts)."""
        return self._answered != self.latest

    def request(self, config: Any, project: Any) -> int:
        def job(request: int) -> None:
            count = None
            for attempt in range(5):
                try:
                    count = step_plan.count_for(config, project)
                    break
                except RuntimeError:  # the project's records changed under us (an edit): again
                    time.sleep(0.02 * (attempt + 1))
                except Exception:  # a count must never take the pool down; the label says "unknown"
                    log.exception("Counting training steps failed")
                    break
            self._done.emit(request, count, config)

        return self.submit(job)

    def _on_done(self, request: int, count: object, config: object) -> None:
        if request != self.latest:
            return
        self._answered = request
        self.counted.emit(count, config)
