"""Real training of a tiny model from the panel: plot, samples, stop, resume as one run, compare, queue."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer

from lora_studio.app.panels.training.run_queue import RunStatus
from lora_studio.app.workers.process_worker import ProcessWorker
from lora_studio.core.events import StepFinished
from lora_studio.training.config import update
from lora_studio.training.run_files import intermediate_loras, latest_state

from .conftest import SAMPLE_PROMPT, tiny_settings


class Heartbeat:
    """A 10 ms GUI-thread timer that counts its ticks. How long the longest gap is, is a timing and
    lives in benchmarks/bench_gui_stall.py; a test only checks that the window kept ticking."""

    def __init__(self) -> None:
        self.ticks = 0
        self.timer = QTimer(interval=10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        self.ticks += 1


def _lora_marks(panel) -> list[int]:
    xs, _ys = panel.plot.save_marks.getData()
    return sorted(int(x) for x in xs)


def test_real_run_plots_samples_stops_and_resumes_as_one_run(
    panel, qtbot, tiny_project, tiny_sd1_dir: Path, no_dialogs
) -> None:
    # 3 pictures × 1 repeat ÷ batch 1 = 3 steps per epoch × 5 epochs = 15 steps; a LoRA file and
    # samples every epoch (enough that Stop lands before the end: the engine never waits for the window).
    config = tiny_settings(panel.config(), tiny_sd1_dir, **{
        "run.epochs": 5, "sample.prompts": SAMPLE_PROMPT, "sample.every_n_epochs": 1, "run.save_every_n_epochs": 1,
    })
    panel.set_config(config)
    out, name = Path(config.run.output_dir), config.run.output_name
    beat = Heartbeat()
    ticks_at_step: list[int] = []
    lr_seen: dict[int, float] = {}  # step -> learning rate, as the running run reported it

    def on_event(_entry, event) -> None:
        if isinstance(event, StepFinished):
            ticks_at_step.append(beat.ticks)
            lr_seen[event.step] = event.lr

    panel.queue.run_event.connect(on_event)
    assert panel.runs.start(), panel.preflight.issues
    # Training runs in a child process: the window's own event loop goes on while it trains.
    worker = panel.runs.worker
    assert isinstance(worker, ProcessWorker)
    qtbot.waitUntil(lambda: len(intermediate_loras(out, name)) >= 2 and panel.gallery.loaded_count >= 2, timeout=180000)
    panel.runs.stop()
    qtbot.waitUntil(lambda: not panel.queue.is_running, timeout=120000)
    # the GUI thread's timer kept ticking between the steps that streamed in (no timing asserted)
    assert len(ticks_at_step) >= 6 and ticks_at_step[-1] > ticks_at_step[0]
    first = panel.queue.entries[0]
    assert first.status == RunStatus.STOPPED, first.result
    stopped_at = panel.plot.buffer.loss.size
    assert 6 <= stopped_at < 15
    state = latest_state(out, name)
    assert state is not None and state.is_file()
    before_stop = [str(p) for p in intermediate_loras(out, name)]
    marks_before = _lora_marks(panel)
    samples_before = {s.path for s in panel.gallery.samples}
    assert len(before_stop) >= 2 and len(marks_before) == len(before_stop) and samples_before
    assert panel.resume_button.isEnabled()
    panel.plot.redraw()
    assert panel.plot.raw_curve.getData()[0] is not None

    panel.resume_button.click()
    qtbot.waitUntil(lambda: not panel.queue.is_running and len(panel.queue.entries) == 2, timeout=240000)
    second = panel.queue.entries[1]
    assert second.status == RunStatus.FINISHED, second.result
    assert Path(second.final_lora).is_file()
    panel.plot.redraw()
    # One run on the plot: loss and learning rate from step 1 to 15, not only after the resume.
    loss_x, _ = panel.plot.raw_curve.getData()
    lr_x, lr_y = panel.plot.lr_curve.getData()
    assert list(loss_x) == list(range(1, 16))
    assert list(lr_x) == list(range(1, 16))
    assert [float(y) for x, y in zip(lr_x, lr_y)] == [lr_seen[int(x)] for x in lr_x]  # before the stop too
    assert panel.plot.buffer.epochs == [3, 6, 9, 12, 15]  # the dotted epoch ends, before the stop too
    # the saved-LoRA diamonds: the epochs saved before the stop and after it (epoch 5 is the final file)
    every_epoch_file = [str(p) for p in intermediate_loras(out, name)]
    assert len(every_epoch_file) == 4 and before_stop == every_epoch_file[: len(before_stop)]
    assert _lora_marks(panel) == [3, 6, 9, 12, 15] and set(marks_before) <= set(_lora_marks(panel))
    # the gallery: the samples made before the stop are there with the new ones, as pictures
    shown = {s.path for s in panel.gallery.samples}
    assert samples_before <= shown and len(shown) == 5
    qtbot.waitUntil(lambda: panel.gallery.loaded_count == 5, timeout=30000)
    # Compare epochs: every epoch file of the run, including those saved before the stop, and the final one
    assert panel.compare_button.isEnabled()
    with qtbot.waitSignal(panel.compare_requested, timeout=5000) as compared:
        qtbot.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    assert compared.args[0] == [*every_epoch_file, second.final_lora]
    qtbot.waitUntil(lambda: panel.monitor_control.compare_worker is None, timeout=240000)
    assert "Comparison ready" in panel.monitor.status.text(), panel.monitor.status.text()
    assert not no_dialogs


def test_queue_of_two_real_runs_where_the_first_fails(panel, qtbot, tiny_project, tiny_sd1_dir: Path, tmp_path, no_dialogs) -> None:
    good = tiny_settings(panel.config(), tiny_sd1_dir, **{"run.batch_size": 3, "run.output_name": "second"})
    bad = update(good, **{"model.base_model": str(tmp_path / "no such model.safetensors"), "run.output_name": "first"})
    panel.runs.add_to_queue(bad, name="missing model")
    panel.runs.add_to_queue(good, name="tiny")
    panel.queue_widget.start_button.click()
    qtbot.waitUntil(lambda: not panel.queue.is_running and not panel.queue.waiting(), timeout=180000)
    first, second = panel.queue.entries
    assert first.status == RunStatus.FAILED and "base model" in first.result.lower()
    assert second.status == RunStatus.FINISHED, second.result
    assert Path(second.final_lora).is_file()
    assert not no_dialogs  # the queue went on; the failure is listed in the queue
