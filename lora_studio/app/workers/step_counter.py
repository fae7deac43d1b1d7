"""Count training steps on a worker thread: reading 1,000 picture headers and captions takes
seconds the first time, and the Dataset and Training tabs recount on every edit.

``request(config, project)`` → later ``counted(count_or_None, config)`` on the GUI thread. Only the
newest request is answered; older ones still waiting are dropped. The worker counts on a snapshot
of the project taken on the GUI thread, so edits made meanwhile can't change what it reads.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from lora_studio.app.workers.task_pool import TaskPool
from lora_studio.dataset.project import Project
from lora_studio.training import step_plan
from lora_studio.training.config import TrainConfig
from lora_studio.training.steps import StepCount

log = logging.getLogger(__name__)


class StepCounter(TaskPool):
    counted = Signal(object, TrainConfig)  # StepCount | None, the TrainConfig it was counted for
    _done = Signal(int, object, TrainConfig)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._answered = 0
        self._done.connect(self._on_done)

    @property
    def pending(self) -> bool:
        """A request has not been answered yet (for tests and "Counting…" texts)."""
        return self._answered != self.latest

    def request(self, config: TrainConfig, project: Project | None) -> int:
        snapshot = project.snapshot() if project is not None else None

        def task(request: int) -> None:
            count: StepCount | None = None
            try:
                count = step_plan.count_for(config, snapshot)
            except Exception:  # a count must never take the pool down; the label says "unknown"
                log.exception("Counting training steps failed")
            self._done.emit(request, count, config)

        return self.submit(task)

    def _on_done(self, request: int, count: StepCount | None, config: TrainConfig) -> None:
        if request != self.latest:
            return
        self._answered = request
        self.counted.emit(count, config)
