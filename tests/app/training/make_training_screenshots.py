"""Render the Training panel to PNGs (plot, samples, settings) with a scripted run.

Usage: .venv/bin/python tests/app/training/make_training_screenshots.py [OUT_DIR]  (default docs/screenshots)
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
    import numpy as np
    from PIL import Image
    from PySide6.QtWidgets import QApplication

    from lora_studio.app.panels.training.training_panel import TrainingPanel
    from lora_studio.app.state import AppContext, DeviceInfo
    from lora_studio.app.theme import apply_theme
    from lora_studio.core.events import (
        CheckpointSaved,
        EpochFinished,
        SampleReady,
        StepFinished,
        ValidationLoss,
    )
    from lora_studio.core.settings import AppSettings, Theme
    from lora_studio.training.config import SamplePrompt, update

    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    apply_theme(app, Theme.LIGHT)
    tmp = Path(tempfile.mkdtemp())
    ctx = AppContext(AppSettings(), settings_path=tmp / "s.toml")
    ctx.set_device(DeviceInfo("NVIDIA GeForce RTX 3060, 12 GB"))
    panel = TrainingPanel(ctx)
    panel.resize(1280, 800)
    panel.show()
    prompts = ("mxstyle, a cat on a sofa", "mxstyle, a city street at night", "mxstyle, portrait of a woman")
    panel.set_config(update(panel.config(), **{
        "model.base_model": r"C:\Models\v1-5-pruned-emaonly.safetensors", "dataset.trigger_word": "mxstyle",
        "sample.prompts": tuple(SamplePrompt(prompt=p) for p in prompts), "sample.every_n_epochs": 1,
        "run.output_name": "miso-style",
    }))

    def settle(n: int = 5) -> None:
        for _ in range(n):
            app.processEvents()
            time.sleep(0.05)

    panel.form_control.refresh_checks()
    settle()
    panel.grab().save(str(out / "training-settings.png"))
    panel.form.tabs.setCurrentIndex(1)
    settle()
    panel.grab().save(str(out / "training-advanced.png"))
    panel.form.tabs.setCurrentIndex(0)

    # A scripted run: 10 epochs of 300 steps, fed straight into the panel's event handler.
    from lora_studio.app.panels.training.run_queue import QueueEntry, RunStatus
    from lora_studio.training.run import RunRequest

    entry = QueueEntry(RunRequest(panel.config(), "miso-style"), status=RunStatus.RUNNING)
    panel.monitor.start_run(entry.name)
    rng = np.random.default_rng(1)
    total, spe = 3000, 300
    done = 2140
    for step in range(1, done + 1):
        loss = 0.09 + 0.06 * np.exp(-step / 500) + abs(rng.normal(0, 0.035))
        lr = 1e-4 * 0.5 * (1 + np.cos(np.pi * step / total))
        panel.monitor_control.on_run_event(entry, StepFinished(step, total, (step - 1) // spe + 1, loss, 0.11, lr, 1.74, (total - step) / 1.74, 7340.0))
        if step % spe == 0:
            epoch = step // spe
            panel.monitor_control.on_run_event(entry, EpochFinished(epoch, step, 0.11))
            panel.monitor_control.on_run_event(entry, ValidationLoss(epoch, step, 0.125 - 0.01 * np.log1p(epoch)))
            panel.monitor_control.on_run_event(entry, CheckpointSaved(f"miso-style-e{epoch:04d}-s{step:06d}.safetensors", step, epoch, "lora"))
            for i, _p in enumerate(prompts):
                img = np.zeros((128, 128, 3), np.uint8)
                yy, xx = np.mgrid[0:128, 0:128]
                t = epoch / 7
                img[..., 0] = (120 + 100 * t * np.sin(xx / (9 + i * 4))).clip(0, 255)
                img[..., 1] = (90 + 60 * np.cos(yy / (11 + i * 3)) * t + 40 * i).clip(0, 255)
                img[..., 2] = (170 - 60 * t + 20 * np.sin((xx + yy) / 15)).clip(0, 255)
                path = tmp / f"s{step}-{i}.png"
                Image.fromarray(img).save(path)
                panel.monitor_control.on_run_event(entry, SampleReady(str(path), step, epoch, prompts[i], i))
    panel.monitor.set_elapsed_before(1230)
    panel.monitor.set_status("Training")
    panel.plot.redraw()
    settle(10)
    panel.monitor._tick()
    panel.grab().save(str(out / "training-running.png"))
    panel.tabs.setCurrentWidget(panel.gallery)
    settle(10)
    panel.grab().save(str(out / "training-samples.png"))
    apply_theme(app, Theme.DARK)
    dark = TrainingPanel(ctx)
    dark.resize(1280, 800)
    dark.show()
    for step in range(1, 1500):
        dark.plot.add_step(step, 0.09 + 0.06 * np.exp(-step / 500) + abs(rng.normal(0, 0.035)), 1e-4)
        if step % 300 == 0:
            dark.plot.add_epoch(step)
            dark.plot.add_save(step, "lora")
    dark.plot.redraw()
    settle(10)
    dark.grab().save(str(out / "training-dark.png"))
    print("wrote", *sorted(p.name for p in out.glob("training-*.png")))
    os._exit(0)  # skip interpreter teardown of Qt objects


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots"))
