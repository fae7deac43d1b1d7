"""The base model's line stops saying "Loading…" once the pictures' steps run.

Walking a project of our own: the first Generate loads the model, and at "Step 6/20" the line under
the base model still said "Loading tiny-sd1… The pictures follow once it is in memory."
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from lora_studio.core.events import ImageReady, Progress
from tests.app.generation.conftest import set_small


def test_the_model_line_says_in_memory_while_the_steps_run(qtbot, panel):
    picker = panel.model_picker
    assert not picker.is_current_loaded()
    assert picker.status_label.text().startswith("Not loaded yet")
    set_small(panel)
    seen: list[tuple[str, str]] = []  # (event, the model line at that moment)

    def record(event) -> None:
        if isinstance(event, (Progress, ImageReady)):
            seen.append((type(event).__name__, picker.status_label.text()))

    panel.jobs.job_event.connect(record)  # after the panel's own handler: what a person sees then
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.is_generating() and panel.jobs.idle, timeout=120000)

    assert seen and seen[-1][0] == "ImageReady", seen
    for name, line in seen:
        assert not line.startswith("Loading"), (name, line)
        assert line.startswith("In memory"), (name, line)
    assert picker.status_label.text().startswith("In memory")
