"""Grab the Auto-caption dialog (an instruction captioner, after a preview and a run) and the
Auto-mask dialog (after a preview) into docs/screenshots/, with the tiny in-code test models.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.app.dataset.make_automodel_screenshots
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LORA_STUDIO_HOME", tempfile.mkdtemp(prefix="lora-studio-shots-"))

from PySide6.QtWidgets import QApplication  # noqa: E402

from lora_studio.app import theme  # noqa: E402
from lora_studio.app.panels.dataset.dataset_panel import TAB_MASK, DatasetPanel  # noqa: E402
from lora_studio.app.state import AppContext  # noqa: E402
from lora_studio.core.settings import AppSettings, Theme  # noqa: E402
from tests.app.dataset.make_dataset_screenshots import build_project, spin  # noqa: E402
from tests.captioning.tiny_models import build_wd14  # noqa: E402
from tests.captioning.tiny_vlm import build_bg_remover, build_florence2, build_qwen_vl  # noqa: E402


def main(out: Path) -> None:
    app = QApplication.instance() or QApplication(sys.argv)
    theme.apply_theme(app, Theme.LIGHT)
    root = Path(tempfile.mkdtemp(prefix="lora-studio-demo-"))
    project = build_project(root)
    captioners = root / "models" / "captioners"
    build_qwen_vl(captioners / "Qwen2.5-VL-3B-Instruct")
    build_florence2(captioners / "Florence-2-base")
    build_wd14(captioners / "wd-eva02-large-tagger-v3")
    build_bg_remover(captioners / "anime-seg", size=64)
    context = AppContext(AppSettings(), settings_path=root / "settings.toml")
    context.update_settings(dataclasses.replace(context.settings, captioner_dirs=(str(captioners),)))
    panel = DatasetPanel(context)
    panel.resize(1280, 800)
    panel.show()
    context._set_project(project, project.root)
    spin(app, lambda: not panel.busy and panel.model.rowCount() == 18)
    panel.concepts.select("zorb")
    panel.grid.select_path(panel.model.row_at(0).path)
    spin(app, lambda: False, 0.3)
    out.mkdir(parents=True, exist_ok=True)

    dialog = panel.captions.auto_caption_dialog()
    row = next(
        i for i in range(dialog.model_list.count()) if "Qwen2.5-VL" in dialog.model_list.item(i).text()
    )
    dialog.model_list.setCurrentRow(row)
    dialog.options_stack.instruction.setPlainText(
        "Describe {trigger}'s clothes and pose in one sentence; don't describe the art style."
    )
    dialog.options_stack.instruct_length.setValue(12)
    dialog.set_scope("concept")
    dialog.sample.start()
    spin(app, lambda: dialog.sample.worker is None, 120)
    dialog.start()
    spin(app, lambda: not dialog.running, 300)
    spin(app, lambda: False, 0.3)
    dialog.grab().save(str(out / "dataset-autocaption-instruct.png"))
    panel.history.undo()  # leave the demo captions as they were
    dialog.close()

    panel.editors.setCurrentIndex(TAB_MASK)
    spin(app, panel.mask_painter.canvas.has_image)
    masks = panel.automasks.open_dialog()
    assert masks is not None
    masks.run.preview()
    spin(app, lambda: not masks.run.running, 60)
    spin(app, lambda: False, 0.3)
    masks.grab().save(str(out / "dataset-automask.png"))
    masks.close()
    panel.loader.cancel_all()
    context.jobs.shutdown(5000)
    print("saved to", out)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(Path(args[0]) if args else Path("docs/screenshots"))
