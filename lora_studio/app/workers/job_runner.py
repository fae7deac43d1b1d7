"""Starts workers on their own threads and enforces one graphics-card job at a time."""

from __future__ import annotations

import logging

from PySide6.QtCore import QDeadlineTimer, QObject, QThread, Signal, Slot

from lora_studio.app.workers.worker import Worker
from lora_studio.core.errors import LoraStudioError

log = logging.getLogger(__name__)


class JobBusyError(LoraStudioError):
    """Another graphics-card job is running; the new one was not started."""


class _Job(QObject):
    """Owns one worker and its thread (lives in the GUI thread, so its slots run there)."""

    def __init__(self, runner: JobRunner, worker: Worker) -> None:
        super().__init__(runner)
        self.runner = runner
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName(f"job:{worker.name}")
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        worker.ended.connect(self._on_ended)

    @Slot()
    def _on_ended(self) -> None:
        self.thread.quit()
        self.thread.wait()
        self.runner._forget(self)


class JobRunner(QObject):
    """Runs :class:`Worker` objects. GPU jobs are refused while another GPU job runs.

    A job counts as finished as soon as its function returns, so a slot connected to
    ``worker.finished`` may start the next job right away.
    """

    busy_changed = Signal(bool)  # whether a graphics-card job is running
    job_started = Signal(Worker)  # Worker
    job_ended = Signal(Worker)  # Worker

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[_Job] = []

    # -- queries -------------------------------------------------------------------------------
    def running(self) -> list[Worker]:
        return [job.worker for job in self._jobs if job.worker.is_running]

    def current_gpu_job(self) -> Worker | None:
        return next((w for w in self.running() if w.gpu), None)

    @property
    def is_busy(self) -> bool:
        return self.current_gpu_job() is not None

    # -- control -------------------------------------------------------------------------------
    def start(self, worker: Worker) -> Worker:
        """Start ``worker`` on a new thread. Raises :class:`JobBusyError` if the GPU is taken."""
        if worker.gpu and (current := self.current_gpu_job()) is not None:
            raise JobBusyError(
                f"{current.name} is still running, so {worker.name.lower()} can't start yet.",
                hint=f"Wait for {current.name.lower()} to finish, or stop it first.",
            )
        was_busy = self.is_busy
        job = _Job(self, worker)
        self._jobs.append(job)
        worker.mark_started()
        job.thread.start()
        log.debug("Started %s", worker.name)
        self.job_started.emit(worker)
        if self.is_busy != was_busy:
            self.busy_changed.emit(self.is_busy)
        return worker

    def cancel_all(self) -> None:
        for job in self._jobs:
            job.worker.cancel()

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Cancel every job and wait for its thread. Returns False if one did not stop in time."""
        self.cancel_all()
        deadline = QDeadlineTimer(timeout_ms)
        all_stopped = True
        for job in list(self._jobs):
            job.thread.quit()  # takes effect once the job function has returned
            if not job.thread.wait(deadline):
                log.warning("%s did not stop within %d ms.", job.worker.name, timeout_ms)
                all_stopped = False
            else:
                self._forget(job)
        return all_stopped

    def _forget(self, job: _Job) -> None:
        if job not in self._jobs:
            return
        was_busy = self.is_busy or job.worker.gpu
        self._jobs.remove(job)
        job.deleteLater()
        log.debug("Ended %s", job.worker.name)
        self.job_ended.emit(job.worker)
        if was_busy and not self.is_busy:
            self.busy_changed.emit(False)
