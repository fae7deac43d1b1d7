"""Training in a child process: events stream back, commands reach the child, errors arrive as
themselves, a dead child is reported in plain words, and a stuck one is ended."""

from __future__ import annotations

import dataclasses
import inspect
import os
import pickle
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lora_studio.core import events as core_events
from lora_studio.core.control import Command, RunControl
from lora_studio.core.errors import Cancelled, ConfigError, DatasetError, TrainingError
from lora_studio.core.events import (
    CheckpointSaved,
    Event,
    HistoryLoaded,
    LogLine,
    StatusChanged,
    StepFinished,
)
from lora_studio.training.process import TrainingProcess, TrainSummary, describe_exit_code, train_job

from . import process_jobs
from .conftest import make_images, tiny_config


def _config(model_dir: Path, root: Path, **changes: Any):
    make_images(root / "pictures", 3)
    values = {"dataset.path": str(root / "pictures"), "run.batch_size": 1, "run.output_name": "child"}
    values.update(changes)
    return tiny_config(model_dir, root, **values)


class _Steering:
    """Reporter that steers the run the way a user would: save now, pause, resume, stop."""

    def __init__(self, control: RunControl) -> None:
        self.control = control
        self.events: list[Event] = []
        self.times: list[float] = []
        self.paused_at = self.resumed_at = 0.0
        self.cancel_step = 0
        self._steps_at_resume = 0
        self._resume_timer: threading.Timer | None = None

    def steps(self) -> list[int]:
        return [e.step for e in self.events if isinstance(e, StepFinished)]

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self.times.append(time.monotonic())
        if not isinstance(event, StepFinished):
            return
        if event.step == 2:
            self.control.send(Command.SAVE_NOW)
        elif event.step == 4 and not self.paused_at:
            self.control.pause()
            self.paused_at = time.monotonic()
            self._resume_timer = threading.Timer(2.0, self._resume)
            self._resume_timer.start()
        elif self.resumed_at and not self.cancel_step and event.step >= self._steps_at_resume + 2:
            self.cancel_step = event.step
            self.control.cancel()

    def _resume(self) -> None:
        self._steps_at_resume = len(self.steps())
        self.resumed_at = time.monotonic()
        self.control.resume()


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory, tiny_sd1_dir: Path) -> dict[str, Any]:
    """One real child run (shared by the tests below): steered, then stopped with Cancel."""
    root = tmp_path_factory.mktemp("child-run")
    config = _config(tiny_sd1_dir, root, **{"run.max_steps": 400})
    control = RunControl()
    steering = _Steering(control)
    process = TrainingProcess(train_job(config), name="Child run", threads=1)
    started = time.monotonic()
    outcome: BaseException | None = None
    try:
        process.run(steering, control)
    except BaseException as exc:  # noqa: BLE001 - the test looks at what came out
        outcome = exc
    return {
        "config": config,
        "steering": steering,
        "outcome": outcome,
        "exitcode": process.exitcode,
        "seconds": time.monotonic() - started,
    }


def test_child_run_streams_steps_obeys_commands_and_stops(stopped_run: dict[str, Any]) -> None:
    steering: _Steering = stopped_run["steering"]
    assert isinstance(stopped_run["outcome"], Cancelled), stopped_run["outcome"]
    assert stopped_run["exitcode"] == 0  # it stopped by itself, after saving a state
    steps = steering.steps()
    assert steps == list(range(1, len(steps) + 1)), steps  # every step arrived, in order
    assert {e.total_steps for e in steering.events if isinstance(e, StepFinished)} == {400}
    # SAVE_NOW after step 2: a LoRA file and a state were written in the child.
    saved = [e for e in steering.events if isinstance(e, CheckpointSaved)]
    manual = [e for e in saved if e.kind == "lora"]
    assert manual and manual[0].step in (2, 3) and Path(manual[0].path).is_file()
    # Pause after step 4: at most the step already under way finished while paused.
    during_pause = [
        t for e, t in zip(steering.events, steering.times)
        if isinstance(e, StepFinished) and steering.paused_at + 0.5 < t < steering.resumed_at
    ]
    assert steering.resumed_at - steering.paused_at >= 1.9 and not during_pause
    # Stop: the run ends within a step or two of the request and saves a state to resume from.
    assert steps[-1] - steering.cancel_step <= 2, (steering.cancel_step, steps[-1])
    state = saved[-1]
    assert state.kind == "state" and state.step == steps[-1] and Path(state.path).is_file()
    assert any(isinstance(e, StatusChanged) and "stopped" in e.text for e in steering.events)
    print(f"child run: {len(steps)} steps, stopped {steps[-1] - steering.cancel_step} step(s) after Stop, "
          f"{stopped_run['seconds']:.1f} s in all")


def test_child_run_resumes_and_returns_a_plain_summary(stopped_run: dict[str, Any]) -> None:
    config = stopped_run["config"]
    steps_before = stopped_run["steering"].steps()[-1]
    state = [e for e in stopped_run["steering"].events if isinstance(e, CheckpointSaved)][-1].path
    from lora_studio.training.config import update

    longer = update(config, **{"run.max_steps": steps_before + 2})
    events: list[Event] = []
    result = TrainingProcess(train_job(longer, resume_from=state), threads=1).run(events.append, RunControl())
    assert isinstance(result, TrainSummary)
    assert result.steps == steps_before + 2 and len(result.losses) == steps_before + 2
    assert result.final_lora is not None and result.final_lora.is_file()
    assert [e.step for e in events if isinstance(e, StepFinished)] == [steps_before + 1, steps_before + 2]
    assert pickle.loads(pickle.dumps(result)) == result


def test_config_error_in_the_child_arrives_as_itself(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    config = _config(tiny_sd1_dir, tmp_path, **{"model.base_model": str(tmp_path / "gone.safetensors")})
    with pytest.raises(ConfigError) as caught:
        TrainingProcess(train_job(config), threads=1).run(lambda e: None, RunControl())
    assert "base model" in caught.value.message.lower() and caught.value.hint == "Fix them and start again."
    assert "In the training process" in str(caught.value.__cause__)


def test_errors_keep_their_type_words_and_child_traceback() -> None:
    with pytest.raises(DatasetError) as plain:
        TrainingProcess(process_jobs.fail_plainly).run(lambda e: None, RunControl())
    assert plain.value.message == "The picture cat.png can't be read."
    assert plain.value.hint == "Remove it or replace it." and plain.value.details == "bad header"
    with pytest.raises(KeyError) as unexpected:
        TrainingProcess(process_jobs.fail_unexpectedly).run(lambda e: None, RunControl())
    assert "fail_unexpectedly" in str(unexpected.value.__cause__)  # the child's traceback text


def test_killed_child_is_reported_in_plain_words() -> None:
    process = TrainingProcess(process_jobs.report_and_wait)

    def kill_when_ready(event: Event) -> None:
        if isinstance(event, StatusChanged) and event.text.startswith("ready"):
            os.kill(process.pid, getattr(signal, "SIGKILL", signal.SIGTERM))

    with pytest.raises(TrainingError) as caught:
        process.run(kill_when_ready, RunControl())
    assert caught.value.message.startswith("The training process stopped unexpectedly (exit code")
    assert caught.value.hint == "Your last saved state is kept: use Resume."
    assert process.exitcode != 0


def test_cancel_reaches_the_child_and_a_stuck_child_is_ended() -> None:
    control = RunControl()
    process = TrainingProcess(process_jobs.report_and_wait)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        process.run(lambda e: control.cancel() if isinstance(e, StatusChanged) else None, control)
    assert process.exitcode == 0 and time.monotonic() - started < 30  # honoured, not waited out

    control = RunControl()
    stuck = TrainingProcess(process_jobs.ignore_cancel, stop_grace_s=1.0)
    seen: list[Event] = []

    def stop_when_stuck(event: Event) -> None:
        seen.append(event)
        if isinstance(event, StatusChanged) and event.text == "stuck":
            control.cancel()

    started = time.monotonic()
    with pytest.raises(Cancelled):
        stuck.run(stop_when_stuck, control)
    assert time.monotonic() - started < 20 and not stuck.is_alive
    assert any(isinstance(e, LogLine) and "was ended" in e.text for e in seen)


def test_child_sets_threads_priority_offline_mode_and_forwards_warnings() -> None:
    events: list[Event] = []
    app_nice = os.nice(0) if hasattr(os, "nice") else None
    result = TrainingProcess(process_jobs.threads_and_logging, threads=1).run(events.append, RunControl())
    assert result["threads"] == 1 and result["offline"] == "1"
    if app_nice is not None:  # the child runs below the app's priority; the app's threads don't
        assert result["nice"] >= min(19, app_nice + 10) and os.nice(0) == app_nice
    lines = [e for e in events if isinstance(e, LogLine)]
    assert [(e.level, e.text) for e in lines] == [("WARNING", "lora_studio.test: a warning from the child")]


def test_every_event_type_survives_pickling() -> None:
    types = [c for _, c in inspect.getmembers(core_events, inspect.isclass) if issubclass(c, Event)]
    types.append(HistoryLoaded)
    assert len(types) > 10
    for cls in types:
        values = {
            f.name: {"int": 3, "float": 0.5, "str": "x", "bytes": b"\x89PNG"}.get(str(f.type), ())
            for f in dataclasses.fields(cls)
        }
        event = cls(**values)
        assert pickle.loads(pickle.dumps(event)) == event, cls


def test_exit_codes_in_words() -> None:
    assert describe_exit_code(-9) == "exit code -9, SIGKILL"
    assert describe_exit_code(3221225477) == "exit code 3221225477 / 0xC0000005"
    assert describe_exit_code(1) == "exit code 1"
