"""Issue 16: every LoRA row's slider starts and ends at the same place (a run's row with its epoch
choice and a row with the wrong-model warning too), so the strengths can be compared at a glance."""

from __future__ import annotations

import shutil

from PySide6.QtCore import QPoint


def test_sliders_line_up_in_every_kind_of_row(qtbot, panel, gen_library, tmp_path):
    from lora_studio.generation.model_library import scan_library
    from tests.generation.conftest import make_kohya_lora

    loras = tmp_path / "loras"
    shutil.copytree(gen_library["loras"], loras)
    make_kohya_lora(loras / "pixel-art-xl.safetensors", "sdxl", 15)  # not for the SD 1.5 model: a warning
    library = scan_library([], [loras])
    panel.mixer.set_loras(library.loras, lambda _n: 1.0)
    panel.mixer.set_model_family(panel.model_picker.current().family)
    for width in (330, 420):
        panel.splitter.setSizes([width, 500, 1280 - width - 500])
        qtbot.wait(20)
        rows = [r for r in panel.mixer.unique_rows() if not r.isHidden()]
        assert {r.name for r in rows} >= {"alpha", "miso-e000002", "pixel-art-xl"}
        assert panel.mixer.row("miso-e000002").epoch_combo.isVisible()
        assert panel.mixer.row("pixel-art-xl").warning.isVisible()
        assert not panel.mixer.row("alpha").warning.isVisible()
        lefts = {r.name: r.slider.mapTo(panel, QPoint(0, 0)).x() for r in rows}
        widths = {r.name: r.slider.width() for r in rows}
        assert len(set(lefts.values())) == 1, lefts
        assert len(set(widths.values())) == 1, widths
        combo = panel.mixer.row("miso-e000002").epoch_combo
        assert combo.width() >= 60  # "epoch 2" still readable
