"""The Dataset tab's step maths recount when a crop changes a picture's shape bucket."""

from __future__ import annotations

from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel
from lora_studio.dataset.items import CropBox


def test_cropping_a_picture_to_another_shape_changes_the_batches(panel: DatasetPanel, qtbot):
    panel.concepts.batch.setValue(3)
    before = panel.concepts.step_count().total_steps
    row = panel.model.row_at(0)
    panel.crops.set_crop(row, CropBox(0, 0, 120, 240))  # 320×240 → a tall 1:2 picture
    qtbot.waitUntil(lambda: panel.concepts.step_count().total_steps != before, timeout=3000)
    after = panel.concepts.step_count().total_steps
    # 3 pictures × 10 repeats in batches of 3: one shape makes 10 batches an epoch; two shapes
    # (20 + 10 samples) never share a batch: 7 + 4 = 11.
    assert after == before // 10 * 11
    qtbot.waitUntil(lambda: f"{after} steps" in panel.concepts.steps_label.text(), timeout=3000)
