"""Hard kills at random points of a run that saves all the time, and the polite stops (SIGTERM,
Ctrl+C): every file under a final name opens, and resume finishes the run."""

from __future__ import annotations

import os
import queue
import random
import signal
import threading
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from lora_studio.training import checkpoints as C
from lora_studio.training import run_files

from .conftest import cli, simple_kohya, write_train_config

KILL_SEED = 18
KILLS = 3
SAVE_ALL_THE_TIME = {
    "run.max_steps": 400,
    "run.save_every_n_steps": 1,
    "run.keep_last": 2,
    "run.state_every_minutes": 1e-5,  # a state after every step
    "run.keep_last_states": 2,
    "run.batch_size": 1,
}


class _Lines:
    """Reads a process's stderr on a thread, so the test can wait for a line without blocking."""

    def __init__(self, proc) -> None:
        self.q: queue.Queue[str] = queue.Queue()
        self.text: list[str] = []
        threading.Thread(target=self._pump, args=(proc.stderr,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self.q.put(line)

    def wait_for(self, word: str, timeout: float = 240.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.q.get(timeout=0.5)
            except queue.Empty:
                continue
            self.text.append(line)
            if word in line:
                return line
        raise AssertionError(f"no line with {word!r} in time; got:\n{''.join(self.text)}")

    def rest(self, proc) -> str:
        proc.wait(240)
        time.sleep(0.2)
        while not self.q.empty():
            self.text.append(self.q.get())
        return "".join(self.text)


def _assert_final_files_open(out: Path) -> int:
    """Every file under a final name (not a temp file) opens; returns how many were checked."""
    checked = 0
    for p in sorted(out.glob("*.safetensors")):
        assert load_file(str(p)), p
        checked += 1
    for p in run_files.state_files(out, "t"):
        assert C.load_state(p).step > 0
        checked += 1
    return checked


@pytest.mark.slow
def test_random_kills_during_saves_lose_nothing(tmp_path, tiny_sd1_dir):
    simple_kohya(tmp_path, 2)
    cfg = write_train_config(tmp_path, tiny_sd1_dir, **SAVE_ALL_THE_TIME)
    out = tmp_path / "out"
    rng = random.Random(KILL_SEED)
    last_step = 0
    for attempt in range(KILLS):
        resume = ["--resume", "latest"] if run_files.latest_state(out, "t") else []
        proc = cli("train", str(cfg), *resume)
        lines = _Lines(proc)
        lines.wait_for("saved state")  # saving every step from here on
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        assert proc.returncode == -signal.SIGKILL
        assert _assert_final_files_open(out) >= 1, attempt
        step = C.load_state(run_files.latest_state(out, "t")).step
        assert step >= last_step  # a kill never loses a state that was already written
        last_step = step
    # Temp files of the killed saves are swept by the next run, which finishes from the last state.
    final = cli("train", str(cfg), "--resume", "latest", "--max-steps", str(last_step + 2))
    lines = _Lines(final)
    err = lines.rest(final)
    assert final.returncode == 0, err
    assert "Traceback" not in err and f"Resumed at step {last_step}" in err
    assert load_file(str(out / "t.safetensors"))
    assert [p.name for p in out.rglob("*.tmp")] == []
    _assert_final_files_open(out)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl+C"])
def test_polite_stop_saves_a_state_and_resume_finishes(tmp_path, tiny_sd1_dir, sig):
    simple_kohya(tmp_path, 2)
    changes = dict(SAVE_ALL_THE_TIME, **{"run.state_every_minutes": 0.0, "run.save_every_n_steps": 0})
    cfg = write_train_config(tmp_path, tiny_sd1_dir, **changes)
    out = tmp_path / "out"
    proc = cli("train", str(cfg))
    lines = _Lines(proc)
    lines.wait_for("Training")
    time.sleep(1.0)
    proc.send_signal(sig)
    err = lines.rest(proc)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "stopped; resume with" in err
    state = C.load_state(run_files.latest_state(out, "t"))
    assert state.reason == "cancel" and state.step >= 1
    if sig == signal.SIGINT:
        return  # (resuming a stopped run is the same for both; once is enough for the time budget)
    done = cli("train", str(cfg), "--resume", "latest", "--max-steps", str(state.step + 1))
    err = _Lines(done).rest(done)
    assert done.returncode == 0, err
    assert load_file(str(out / "t.safetensors"))


def test_sigterm_to_the_apps_training_process_stops_it_like_stop():
    """The app's training child treats SIGTERM (a logout, "End task") as Stop: Cancelled, not a crash."""
    from lora_studio.core.control import RunControl
    from lora_studio.core.errors import Cancelled
    from lora_studio.core.events import StatusChanged
    from lora_studio.training.process import TrainingProcess
    from tests.training.process_jobs import report_and_wait

    proc = TrainingProcess(report_and_wait, lower_priority=False, threads=1)

    def on_event(event) -> None:
        if isinstance(event, StatusChanged) and event.text.startswith("ready"):
            os.kill(int(event.text.split()[1]), signal.SIGTERM)

    with pytest.raises(Cancelled):
        proc.run(on_event, RunControl())
    assert proc.exitcode == 0  # it left by itself, after stopping


def test_a_hard_kill_loses_at_most_ten_minutes():
    from lora_studio.demo import demo_train_config
    from lora_studio.training.config import TrainConfig

    for cfg in (TrainConfig(), demo_train_config()):
        assert 0 < cfg.run.state_every_minutes <= 10


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX: a closed terminal sends SIGHUP")
def test_stop_signals_route_every_polite_stop_and_restore_the_old_handlers():
    from lora_studio.cli.signals import stop_signals
    from lora_studio.core.control import RunControl

    seen: list[int] = []
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with stop_signals(lambda sig, _frame: seen.append(sig), RunControl()):
        for sig in before:
            os.kill(os.getpid(), sig)
            time.sleep(0.05)  # (delivered at the next bytecode boundary of the main thread)
    assert seen == list(before)
    assert {s: signal.getsignal(s) for s in before} == before
