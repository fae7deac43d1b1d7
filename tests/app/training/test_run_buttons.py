"""Issue 16: Start and Resume say what they will do, before, during and after a run."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt

from lora_studio.training.config import update
from lora_studio.training.run_files import STATE_DIR, lora_filename, state_filename


def _job_writing(out, *, finished: bool, gate: threading.Event | None = None):
    """A fake run of ``zorb`` that saves a state (and, when it ran to its end, the final LoRA)."""

    def factory(request):
        def job(reporter, control):
            while gate is not None and not gate.wait(0.01):
                control.checkpoint()
            (out / STATE_DIR).mkdir(parents=True, exist_ok=True)
            (out / STATE_DIR / state_filename("zorb", 5)).write_bytes(b"state")
            if finished:
                (out / lora_filename("zorb")).write_bytes(b"lora")
            return None

        return job

    return factory


def _run_to_end(panel, qtbot) -> None:
    qtbot.mouseClick(panel.queue_button, Qt.MouseButton.LeftButton)
    panel.queue.start()
    qtbot.waitUntil(lambda: not panel.queue.is_running and not panel.queue.waiting(), timeout=20000)


def test_resume_is_off_after_a_run_that_finished(panel, qtbot, tmp_path) -> None:
    out = tmp_path / "out"
    panel.set_config(update(panel.config(), **{"run.output_dir": str(out), "run.output_name": "zorb"}))
    assert not panel.resume_button.isEnabled()  # nothing ran yet
    assert "Nothing to resume" in panel.resume_button.toolTip()
    panel.queue.make_job = _job_writing(out, finished=True)
    _run_to_end(panel, qtbot)
    assert panel.queue.entries[0].status.name == "FINISHED"
    assert not panel.resume_button.isEnabled()
    assert "finished" in panel.resume_button.toolTip() and "nothing to resume" in panel.resume_button.toolTip()
    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)  # a click on the greyed button: no run
    assert len(panel.queue.entries) == 1


def test_resume_is_on_after_a_run_that_stopped_with_a_state(panel, qtbot, tmp_path) -> None:
    out = tmp_path / "out"
    panel.set_config(update(panel.config(), **{"run.output_dir": str(out), "run.output_name": "zorb"}))
    panel.queue.make_job = _job_writing(out, finished=False)
    _run_to_end(panel, qtbot)
    assert panel.resume_button.isEnabled()
    assert "Continue" in panel.resume_button.toolTip()


def test_start_training_is_greyed_during_a_run_and_says_to_queue(panel, qtbot, tmp_path) -> None:
    out = tmp_path / "out"
    panel.set_config(update(panel.config(), **{"run.output_dir": str(out), "run.output_name": "zorb"}))
    gate = threading.Event()
    panel.queue.make_job = _job_writing(out, finished=True, gate=gate)
    assert panel.start_button.isEnabled() and panel.start_button.toolTip().startswith("Check the settings")
    qtbot.mouseClick(panel.queue_button, Qt.MouseButton.LeftButton)
    panel.queue.start()
    qtbot.waitUntil(lambda: panel.queue.is_running, timeout=5000)
    try:
        assert not panel.start_button.isEnabled()
        assert "Add to queue" in panel.start_button.toolTip()
        assert not panel.resume_button.isEnabled()
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)  # greyed: queues nothing
        assert len(panel.queue.entries) == 1
        assert panel.queue_button.isEnabled()  # the way to line up the next run
    finally:
        gate.set()
    qtbot.waitUntil(lambda: not panel.queue.is_running, timeout=20000)
    assert panel.start_button.isEnabled() and panel.start_button.toolTip().startswith("Check the settings")
