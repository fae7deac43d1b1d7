""" "Which epoch should I keep?" pressed for real after a (scripted) run whose saved files are real
constructed LoRAs: the over-trained last epoch leaks into neutral prompts and is not recommended;
the reason is shown, and the epoch comparison grid frames the recommended file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from lora_studio.core.events import (
    CheckpointSaved,
    EpochFinished,
    StatusChanged,
    StepFinished,
    ValidationLoss,
)
from lora_studio.generation.grid import HIGHLIGHT_COLOUR
from lora_studio.training.config import update
from tests.training.test_advisor import constructed_run


def replay_job(files, validation):
    """A fake engine that reports the constructed run: a validation loss and a saved file per epoch."""

    def factory(_request):
        def job(reporter, control):
            reporter(StatusChanged("Training"))
            for epoch, (path, (step, loss)) in enumerate(zip(files, sorted(validation.items())), start=1):
                control.checkpoint()
                reporter(StepFinished(step, 40, epoch, 0.2, 0.2, 1e-4, 10.0, 0.0, 512.0))
                reporter(EpochFinished(epoch, step, 0.2))
                reporter(ValidationLoss(epoch, step, loss))
                reporter(CheckpointSaved(path=path, step=step, epoch=epoch, kind="lora"))

        return job

    return factory


@pytest.mark.slow
def test_which_epoch_button_ranks_explains_and_marks_the_grid(
    panel, qtbot, tmp_path, tiny_sd1_dir, no_dialogs
):
    config, files, validation = constructed_run(tmp_path, tiny_sd1_dir)
    panel.set_config(update(panel.config(), **{
        "model.base_model": config.model.base_model, "dataset.resolution": 64, "dataset.trigger_word": "zorb",
        "run.output_dir": config.run.output_dir, "run.output_name": "zorb", "run.device": "cpu",
        "sample.prompts": config.sample.prompts,
    }))  # fmt: skip
    assert not panel.advise_button.isEnabled()  # nothing saved yet
    panel.queue.make_job = replay_job(files, validation)
    panel.runs.add_to_queue()
    panel.queue.start()
    qtbot.waitUntil(lambda: not panel.queue.is_running and not panel.queue.waiting(), timeout=20000)
    assert panel.advise_button.isEnabled()

    qtbot.mouseClick(panel.advise_button, Qt.MouseButton.LeftButton)
    assert not panel.advise_button.isEnabled() and not panel.compare_button.isEnabled()  # one card job
    qtbot.waitUntil(lambda: panel.advisor.worker is None, timeout=300000)
    assert not no_dialogs, no_dialogs
    assert panel.tabs.currentWidget() is panel.advice
    shown = panel.advice.reason.text()
    assert "Keep zorb-e0003-s000030.safetensors" in shown
    assert "Epoch 3: validation loss 0.2500 (lowest: epoch 4, 0.2400)" in shown
    assert "epoch 4 starts to change pictures without 'zorb'" in shown
    rows = panel.advice.row_texts()
    assert rows[0][0].startswith("zorb-e0003") and rows[0][-1] == "keep"
    assert rows[-1][0].startswith("zorb-e0004") and rows[-1][-1] == "leaks" and rows[-1][1] == "0.2400"
    assert "Recommended: epoch 3" in panel.monitor.status.text()

    # the comparison grid frames the recommended file's column and its dialog says why
    qtbot.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.monitor_control.compare_worker is None, timeout=300000)
    dialogs = [
        w for w in QApplication.topLevelWidgets() if w.windowTitle() == "Compare epochs" and w.isVisible()
    ]
    assert dialogs and "epoch 4 starts to change pictures" in dialogs[-1].recommendation.text()
    grid_path = next((tmp_path / "output" / "compare").glob("grid*.png"))
    with Image.open(grid_path) as grid:
        pixels = np.asarray(grid.convert("RGB"))
    green = np.all(pixels == HIGHLIGHT_COLOUR, axis=-1)
    columns = np.nonzero(green.any(axis=0))[0]
    assert columns.size and columns.min() > pixels.shape[1] // 2  # the third of four columns, right of centre
    for dialog in dialogs:
        dialog.close()
