"""Render "Which epoch should I keep?" after a constructed run (tiny model, real advisor job) and the
epoch comparison grid with the recommended file framed.

Usage: .venv/bin/python tests/app/training/make_advisor_screenshot.py [OUT_DIR]  (default docs/screenshots)
Writes training-advisor.png and training-advisor-grid.png.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["LORA_STUDIO_HOME"] = tempfile.mkdtemp(prefix="lora-studio-shots-")


def main(out: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from lora_studio.app.panels.training.training_panel import TrainingPanel
    from lora_studio.app.state import AppContext
    from lora_studio.app.theme import apply_theme
    from lora_studio.core.paths import set_offline_environment
    from lora_studio.core.settings import AppSettings, Theme
    from lora_studio.diffusion.tiny import save_tiny_diffusers
    from lora_studio.training.config import update
    from tests.app.training.test_epoch_advisor_panel import replay_job
    from tests.training.test_advisor import constructed_run

    set_offline_environment()
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    apply_theme(app, Theme.LIGHT)
    tmp = Path(tempfile.mkdtemp())
    model = save_tiny_diffusers("sd1", tmp / "tiny-sd1")
    config, files, validation = constructed_run(tmp, model)
    ctx = AppContext(AppSettings(), settings_path=tmp / "s.toml")
    panel = TrainingPanel(ctx)
    panel.resize(1280, 800)
    panel.show()
    panel.set_config(update(panel.config(), **{
        "model.base_model": str(model), "dataset.resolution": 64, "dataset.trigger_word": "zorb",
        "run.output_dir": config.run.output_dir, "run.output_name": "zorb", "run.device": "cpu",
        "sample.prompts": config.sample.prompts,
    }))  # fmt: skip

    def wait(done, limit: float = 600.0) -> None:
        end = time.monotonic() + limit
        while not done() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.05)

    panel.queue.make_job = replay_job(files, validation)
    panel.runs.add_to_queue()
    panel.queue.start()
    wait(lambda: not panel.queue.is_running and not panel.queue.waiting())
    panel.advise_button.click()
    wait(lambda: panel.advisor.worker is None)
    wait(lambda: False, 0.5)
    panel.grab().save(str(out / "training-advisor.png"))
    panel.compare_button.click()
    wait(lambda: panel.monitor_control.compare_worker is None)
    dialogs = [w for w in QApplication.topLevelWidgets() if w.windowTitle() == "Compare epochs" and w.isVisible()]
    if dialogs:
        dialogs[-1].resize(760, 560)
        wait(lambda: False, 0.5)
        dialogs[-1].grab().save(str(out / "training-advisor-grid.png"))
    print("wrote", *sorted(p.name for p in out.glob("training-advisor*.png")))
    os._exit(0)  # skip interpreter teardown of Qt objects


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots"))
