from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QObject, Slot

from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.job_runner import JobBusyError, JobRunner
from lora_studio.app.workers.worker import Worker
from lora_studio.core.errors import TrainingError
from lora_studio.core.events import StepFinished


def scripted_training(steps: int, step_s: float = 0.0):
    """A stand-in for a core training loop: checks the control, works, reports the step."""

    def fn(reporter, control):
        for step in range(1, steps + 1):
            control.checkpoint()
            control.sleep(step_s)
            reporter(StepFinished(step, steps, 0, 1.0 / step, 1.0 / step, 1e-4, 10.0, 0.0))
        return f"trained {steps} steps"

    return fn


class Recorder(QObject):
    """Listens the way a panel does: slots on a GUI-thread QObject, so signals arrive queued."""

    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self.events: list = []
        self.results: list = []
        self.failures: list[ErrorInfo] = []
        self.cancels = 0
        self.ended = False
        self.threads: set[threading.Thread] = set()
        worker.event.connect(self.on_event)
        worker.finished.connect(self.on_finished)
        worker.failed.connect(self.on_failed)
        worker.cancelled.connect(self.on_cancelled)
        worker.ended.connect(self.on_ended)

    @Slot(object)
    def on_event(self, event) -> None:
        self.threads.add(threading.current_thread())
        self.events.append(event)

    @Slot(object)
    def on_finished(self, result) -> None:
        self.threads.add(threading.current_thread())
        self.results.append(result)

    @Slot(object)
    def on_failed(self, info) -> None:
        self.failures.append(info)

    @Slot()
    def on_cancelled(self) -> None:
        self.cancels += 1

    @Slot()
    def on_ended(self) -> None:
        self.ended = True


@pytest.fixture
def runner(qapp):
    r = JobRunner()
    yield r
    assert r.shutdown(5000)


def test_worker_reemits_events_on_gui_thread_and_finishes(qtbot, runner):
    worker = Worker(scripted_training(5), name="Training")
    rec = Recorder(worker)
    runner.start(worker)
    qtbot.waitUntil(lambda: rec.ended, timeout=5000)
    assert [e.step for e in rec.events] == [1, 2, 3, 4, 5]
    assert rec.results == ["trained 5 steps"]
    assert not rec.failures and rec.cancels == 0
    assert rec.threads == {threading.main_thread()}
    qtbot.waitUntil(lambda: not runner.running())


def test_cancel_stops_within_a_step(qtbot, runner):
    worker = Worker(scripted_training(1000, step_s=0.02), name="Training")
    rec = Recorder(worker)
    runner.start(worker)
    qtbot.waitUntil(lambda: len(rec.events) >= 2, timeout=5000)
    worker.cancel()
    qtbot.waitUntil(lambda: rec.ended, timeout=2000)
    assert rec.cancels == 1 and not rec.results and not rec.failures
    assert len(rec.events) < 10  # stopped within the step in progress, not at the end of 1000


def test_lora_studio_error_becomes_plain_message(qtbot, runner):
    def fn(reporter, control):
        raise TrainingError("Out of memory.", hint="Lower the batch size to 1.")

    worker = Worker(fn, name="Training")
    rec = Recorder(worker)
    runner.start(worker)
    qtbot.waitUntil(lambda: rec.ended, timeout=5000)
    (info,) = rec.failures
    assert info.message == "Out of memory." and info.hint == "Lower the batch size to 1."
    assert info.expected and "TrainingError" in info.details
    assert info.title == "Training failed"


def test_unexpected_error_is_logged_with_generic_message(qtbot, runner, caplog):
    def fn(reporter, control):
        raise ZeroDivisionError("division by zero")

    worker = Worker(fn, name="Training")
    rec = Recorder(worker)
    runner.start(worker)
    qtbot.waitUntil(lambda: rec.ended, timeout=5000)
    (info,) = rec.failures
    assert not info.expected and "unexpected" in info.message
    assert "ZeroDivisionError" in info.details
    assert any(r.exc_info and "Training failed" in r.getMessage() for r in caplog.records)


def test_one_gpu_job_at_a_time(qtbot, runner):
    first = Worker(scripted_training(1000, step_s=0.02), name="Training")
    first_rec = Recorder(first)
    runner.start(first)
    assert runner.is_busy and runner.current_gpu_job() is first
    with pytest.raises(JobBusyError, match="Training is still running"):
        runner.start(Worker(scripted_training(1), name="Generation"))

    side_job = Worker(scripted_training(1), name="Device check", gpu=False)
    side_rec = Recorder(side_job)
    runner.start(side_job)  # jobs that don't use the graphics card may run alongside
    qtbot.waitUntil(lambda: side_rec.ended, timeout=5000)
    assert side_rec.results and runner.is_busy

    with qtbot.waitSignal(runner.busy_changed, timeout=5000) as blocker:
        first.cancel()
    assert blocker.args == [False]
    assert first_rec.cancels == 1
    last = Worker(scripted_training(1), name="Generation")
    last_rec = Recorder(last)
    runner.start(last)  # free again
    qtbot.waitUntil(lambda: last_rec.ended, timeout=5000)


def test_next_job_may_start_from_finished_slot(qtbot, runner):
    first = Worker(scripted_training(1), name="Training")
    second = Worker(scripted_training(1), name="Generation")

    class Chain(Recorder):
        @Slot(object)
        def on_finished(self, result) -> None:
            super().on_finished(result)
            runner.start(second)  # must not be refused: the first job counts as done

    chain = Chain(first)  # keep a reference: a collected receiver is disconnected
    second_rec = Recorder(second)
    runner.start(first)
    qtbot.waitUntil(lambda: second_rec.ended, timeout=5000)
    assert chain.results and second_rec.results == ["trained 1 steps"]


def test_shutdown_cancels_and_waits(qtbot, runner):
    worker = Worker(scripted_training(10_000, step_s=0.01), name="Training")
    rec = Recorder(worker)
    runner.start(worker)
    qtbot.waitUntil(lambda: bool(rec.events), timeout=5000)
    assert runner.shutdown(5000)
    assert not worker.is_running and not runner.running()
