"""A :class:`Worker` whose job runs in a child process; its QThread only relays the child's messages.

Same signals and methods as :class:`Worker`, so :class:`JobRunner` and the panels use it unchanged:
``event`` for each event of the child, then exactly one of ``finished`` / ``failed`` / ``cancelled``,
then ``ended``. ``control`` (cancel, pause, resume, commands) is mirrored to the child within
~50 ms. The GUI thread never waits for the engine: the model loads, trains and draws samples in
another process, so the window stays responsive and a crash there can't take the app down.
"""

from __future__ import annotations

from lora_studio.app.workers.worker import Worker
from lora_studio.training.process import Job, TrainingProcess


class ProcessWorker(Worker):
    """Runs ``job`` (picklable: see :data:`lora_studio.training.process.Job`) in a child process."""

    def __init__(
        self,
        job: Job,
        *,
        name: str = "Training",
        gpu: bool = True,
        stop_grace_s: float = 60.0,
        threads: int | None = None,
    ) -> None:
        self.process = TrainingProcess(job, name=name, stop_grace_s=stop_grace_s, threads=threads)
        super().__init__(self.process.run, name=name, gpu=gpu)

    def kill(self) -> None:
        """Thread-safe: end the child now, without waiting for a step boundary (no state is saved)."""
        self.control.cancel()
        self.process.kill()
