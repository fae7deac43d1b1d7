"""How long the window's GUI thread goes without running while the Training tab trains.

A real tiny run (random-weight SD1-like model, 64 px, CPU) is started from the Training tab; training
runs in a child process, so the window's event loop should keep turning. A 10 ms timer on the GUI
thread records the gaps between its ticks, and each run event's handler is timed. Printed:

* the longest gap between ticks and the gaps over 50 ms, with the GUI thread's own CPU time in them
  and the event seen last (busy painting/handling vs. starved by a loaded machine);
* the slowest run-event handler of the panel.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui_stall.py [--epochs 4] [--samples]

Figures depend on the machine and its load; this is why they are measured here and not asserted in
the tests (tests/app/training/test_training_panel_real.py only checks that the timer keeps ticking).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


class Heartbeat:
    """A 10 ms GUI-thread timer that keeps the longest gap between its ticks."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.max_gap = 0.0
        self.ticks = 0
        self.last_event = "start"
        self.long_gaps: list[str] = []
        self._last = time.perf_counter()
        self._cpu = time.thread_time()
        self.timer = QTimer(interval=10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        gap, busy = now - self._last, cpu - self._cpu
        self.max_gap = max(self.max_gap, gap)
        if gap > 0.05:
            self.long_gaps.append(f"{gap * 1000:.0f} ms (GUI busy {busy * 1000:.0f} ms) after {self.last_event}")
        self.ticks += 1
        self._last, self._cpu = now, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", action="store_true", help="sample a picture every epoch")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from benchmarks.random_models import save_pictures
    from lora_studio.app.panels.training.training_panel import TrainingPanel
    from lora_studio.app.state import AppContext
    from lora_studio.core.settings import AppSettings
    from lora_studio.dataset import project as P
    from lora_studio.diffusion.tiny import save_tiny_diffusers
    from lora_studio.training.config import LatentCache, Precision, SamplePrompt, update

    app = QApplication.instance() or QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model = save_tiny_diffusers("sd1", tmp / "tiny-sd1")
        root = tmp / "Bench project"
        project = P.create_project(root, "Bench project")
        P.add_concept(project, "sks", repeats=1)
        P.add_images(project, "sks", sorted(save_pictures(tmp / "pictures", 3, 64).glob("*.png")))
        context = AppContext(AppSettings(), settings_path=tmp / "settings.toml")
        context.open_project(root)
        panel = TrainingPanel(context)
        panel.resize(1280, 800)
        panel.show()
        prompts = (SamplePrompt(prompt="sks photo", steps=2, cfg=5.0),) if args.samples else ()
        panel.set_config(update(panel.config(), **{
            "model.base_model": str(model), "model.family": None, "dataset.resolution": 64,
            "dataset.bucket_min": 32, "dataset.bucket_max": 128, "dataset.bucket_step": 16,
            "dataset.latent_cache": LatentCache.MEMORY, "network.rank": 4, "network.train_text_encoder": False,
            "run.precision": Precision.FP32, "run.save_precision": Precision.FP32, "run.epochs": args.epochs,
            "run.batch_size": 1, "run.device": "cpu", "run.state_every_minutes": 0.0,
            "sample.prompts": prompts, "sample.every_n_epochs": 1 if prompts else 0,
        }))
        beat = Heartbeat()
        handler_s: list[float] = []
        original = panel.monitor_control.on_run_event
        panel.queue.run_event.disconnect(panel.monitor_control.on_run_event)

        def timed(entry: object, event: object) -> None:
            beat.last_event = type(event).__name__
            t0 = time.perf_counter()
            original(entry, event)  # type: ignore[arg-type]
            handler_s.append(time.perf_counter() - t0)

        panel.queue.run_event.connect(timed)
        if not panel.runs.start():
            print("The run did not start:", [i.message for i in panel.preflight.issues])
            return 1
        t0 = time.perf_counter()
        while panel.queue.is_running or not panel.queue.entries or time.perf_counter() - t0 < 1:
            app.processEvents()
            time.sleep(0.002)
        entry = panel.queue.entries[0]
        print(f"run: {entry.status.name.lower()} ({entry.result}) in {time.perf_counter() - t0:.1f} s")
        print(f"GUI heartbeat: longest gap {beat.max_gap * 1000:.0f} ms over {beat.ticks} ticks")
        print(f"gaps over 50 ms ({len(beat.long_gaps)}): {beat.long_gaps[:20]}")
        if handler_s:
            print(f"run-event handlers: {len(handler_s)} events, slowest {max(handler_s) * 1000:.1f} ms")
        panel.close()
        context.jobs.shutdown(20000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
