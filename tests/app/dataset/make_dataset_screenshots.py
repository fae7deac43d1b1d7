"""Grab the Dataset panel at 1280×800 with demo-like data into docs/screenshots/dataset-*.png.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.app.dataset.make_dataset_screenshots
(``--autocaption-only`` grabs just the Auto-caption dialog, run with the tiny WD14 tagger.)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LORA_STUDIO_HOME", tempfile.mkdtemp(prefix="lora-studio-shots-"))

from PIL import ImageDraw, ImageFont  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from lora_studio.app import theme  # noqa: E402
from lora_studio.app.panels.dataset.dataset_panel import (  # noqa: E402
    TAB_CAPTION,
    TAB_CHECK,
    TAB_CROP,
    TAB_MASK,
    TAB_TAGS,
    DatasetPanel,
)
from lora_studio.app.state import AppContext  # noqa: E402
from lora_studio.core.settings import AppSettings, Theme  # noqa: E402
from lora_studio.dataset import project as proj  # noqa: E402
from lora_studio.dataset.items import CropBox  # noqa: E402
from lora_studio.demo_images import draw_mascot  # noqa: E402


def spin(app: QApplication, cond, timeout: float = 20.0) -> bool:
    end = time.time() + timeout
    while time.time() < end and not cond():
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()
    return cond()


def build_project(root: Path) -> proj.Project:
    src = root / "pictures"
    src.mkdir(parents=True)
    for i in range(14):
        demo = draw_mascot(i, 768)
        if i == 2:  # a signed picture, for the erase-region screenshot
            ImageDraw.Draw(demo.image).text(
                (470, 700), "© zorb-art 2026", fill=(250, 250, 250), font=ImageFont.load_default(size=34)
            )
        demo.image.save(src / f"zorb {i:02d}.png")
        if i not in (5, 11):
            (src / f"zorb {i:02d}.txt").write_text(demo.caption, encoding="utf-8")
    reg = root / "reg"
    reg.mkdir()
    for i in range(4):
        draw_mascot(100 + i, 512).image.save(reg / f"mascot {i}.png")
    p = proj.create_project(root / "Zorb LoRA", "Zorb LoRA")
    proj.add_concept(p, "zorb", repeats=10, trigger="zorb", class_word="mascot")
    proj.add_concept(p, "mascots (class)", repeats=1, class_word="mascot", kind="regularization")
    proj.add_images(p, "zorb", [src])
    proj.add_images(p, "mascots (class)", [reg])
    proj.set_crop(p, "zorb", "zorb 03.png", CropBox(96, 0, 576, 768))
    return p


def autocaption_shot(app: QApplication, context: AppContext, panel: DatasetPanel, root: Path, out: Path) -> None:
    """The Auto-caption dialog after a run of the tiny WD14 tagger, next to an incomplete BLIP folder."""
    import dataclasses

    from tests.captioning.tiny_models import build_wd14

    captioners = root / "models" / "captioners"
    build_wd14(captioners / "wd-swinv2-tagger-v3")
    (captioners / "blip-image-captioning-base").mkdir(parents=True)
    (captioners / "blip-image-captioning-base" / "config.json").write_text('{"model_type": "blip"}')
    context.update_settings(dataclasses.replace(context.settings, captioner_dirs=(str(captioners),)))
    panel.concepts.select("zorb")
    panel.grid.select_path(panel.model.row_at(0).path)
    dialog = panel.captions.auto_caption_dialog()
    dialog.set_scope("concept")
    dialog.mode.setCurrentIndex(dialog.mode.findData("append"))
    dialog.exclude_tags.setText("simple background")
    dialog.start()
    spin(app, lambda: not dialog.running, 60)
    spin(app, lambda: False, 0.3)
    dialog.grab().save(str(out / "dataset-autocaption.png"))
    panel.history.undo()  # leave the demo captions as they were
    dialog.close()


def erase_shot(app: QApplication, panel: DatasetPanel, out: Path) -> None:
    """The signed picture with its signature painted as an erase region, and the cleaned copy."""
    from PySide6.QtCore import QPointF

    painter = panel.mask_painter
    panel.grid.select_path(panel.model.row_at(2).path)
    spin(app, painter.canvas.has_image)
    painter.set_mode("erase")
    painter.size.setValue(70)
    canvas = painter.canvas
    canvas._before = canvas.layer.copy()
    for x in range(470, 760, 8):
        canvas._stroke_to(QPointF(x, 722))
    canvas._before = None
    canvas._last = None
    canvas.mask_edited.emit()
    painter.flush()
    spin(app, lambda: painter._result is not None, 30)
    spin(app, lambda: False, 0.3)
    before = panel.grab()
    painter.show_result.setChecked(True)
    spin(app, lambda: False, 0.2)
    after = canvas.grab()
    # One picture: the panel while painting, with the cleaned result laid over its canvas corner.
    shot = before.toImage()
    from PySide6.QtGui import QColor, QPainter, QPen

    inset = after.toImage().scaledToWidth(int(canvas.width() * 0.45))
    origin = canvas.mapTo(panel, canvas.rect().topLeft())
    p = QPainter(shot)
    x, y = origin.x() + canvas.width() - inset.width() - 6, origin.y() + 6
    p.drawImage(x, y, inset)
    p.setPen(QPen(QColor("#0a7ea4"), 3))
    p.drawRect(x, y, inset.width(), inset.height())
    p.fillRect(x, y, 150, 24, QColor("#0a7ea4"))
    p.setPen(QColor("white"))
    p.drawText(x + 8, y + 17, "Result (trained on)")
    p.end()
    shot.save(str(out / "dataset-erase.png"))
    painter.show_result.setChecked(False)
    painter.set_mode("mask")


def main(out: Path, autocaption_only: bool = False) -> None:
    app = QApplication.instance() or QApplication(sys.argv)
    theme.apply_theme(app, Theme.LIGHT)
    root = Path(tempfile.mkdtemp(prefix="lora-studio-demo-"))
    project = build_project(root)
    context = AppContext(AppSettings(), settings_path=root / "settings.toml")
    panel = DatasetPanel(context)
    panel.resize(1280, 800)
    panel.show()
    context._set_project(project, project.root)
    spin(app, lambda: not panel.busy and panel.model.rowCount() == 18)
    spin(app, lambda: panel.model.thumbnail_count() == 18)
    panel.concepts.select("zorb")
    panel.grid.select_path(panel.model.row_at(0).path)
    spin(app, lambda: False, 0.3)
    out.mkdir(parents=True, exist_ok=True)
    if autocaption_only:
        autocaption_shot(app, context, panel, root, out)
        panel.loader.cancel_all()
        context.jobs.shutdown(5000)
        print("saved to", out)
        return
    panel.editors.setCurrentIndex(TAB_CAPTION)
    spin(app, lambda: False, 0.3)
    panel.grab().save(str(out / "dataset-captions.png"))

    panel.grid.select_path(panel.model.row_at(3).path)
    panel.editors.setCurrentIndex(TAB_CROP)
    panel.crop_editor.set_preset("SD 1.5 448×576 (portrait)")
    spin(app, panel.crop_editor.canvas.has_image)
    spin(app, lambda: False, 0.3)
    panel.grab().save(str(out / "dataset-crop.png"))

    panel.grid.select_path(panel.model.row_at(1).path)
    panel.editors.setCurrentIndex(TAB_MASK)
    canvas = panel.mask_painter.canvas
    spin(app, canvas.has_image)
    from PySide6.QtCore import QPointF

    canvas._before = canvas.layer.copy()
    for x in range(560, 740, 6):
        canvas._stroke_to(QPointF(x, 690 + (x % 24) / 3))
    canvas._before = None
    canvas._last = None
    canvas.mask_edited.emit()
    panel.mask_painter.flush()
    spin(app, lambda: False, 0.3)
    panel.grab().save(str(out / "dataset-mask.png"))

    erase_shot(app, panel, out)

    panel.editors.setCurrentIndex(TAB_TAGS)
    panel.tag_tools.first.setText("smiling")
    spin(app, lambda: False, 0.3)
    panel.grab().save(str(out / "dataset-tags.png"))

    panel.concepts.select(None)
    panel.editors.setCurrentIndex(TAB_CHECK)
    panel.checks.run_check()
    spin(app, lambda: not panel.busy, 60)
    panel.grid.show_combo.setCurrentIndex(panel.grid.show_combo.findData("problems"))
    spin(app, lambda: False, 0.3)
    panel.grab().save(str(out / "dataset-check.png"))
    autocaption_shot(app, context, panel, root, out)
    panel.loader.cancel_all()
    context.jobs.shutdown(5000)
    print("saved to", out)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(Path(args[0]) if args else Path("docs/screenshots"), "--autocaption-only" in sys.argv)
