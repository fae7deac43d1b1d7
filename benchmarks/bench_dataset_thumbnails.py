"""Dataset panel: import 1,000 generated 1024-px pictures and time the thumbnail grid.

Reports the import time, the time until every thumbnail is in the grid, and the longest stall of
the GUI thread (a 10 ms QTimer heartbeat records the largest gap between ticks) while the grid is
scrolled up and down as a user would. Target: no stall over 100 ms.

Run: nice .venv/bin/python benchmarks/bench_dataset_thumbnails.py [--count 1000] [--size 1024]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LORA_STUDIO_HOME", tempfile.mkdtemp(prefix="lora-studio-bench-home-"))

from PIL import Image, ImageDraw, ImageFilter  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def generate(folder: Path, count: int, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    base = Image.effect_noise((size, size), 40).convert("RGB").filter(ImageFilter.GaussianBlur(2))
    for i in range(count):
        im = base.copy()
        d = ImageDraw.Draw(im)
        for _ in range(6):
            x, y = rng.randrange(size), rng.randrange(size)
            r = rng.randrange(size // 10, size // 3)
            d.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
        ext = "png" if i % 10 == 0 else "jpg"  # mostly JPEG like real photo sets, some PNG
        im.save(folder / f"picture {i:04d}.{ext}", quality=90)
        (folder / f"picture {i:04d}.txt").write_text(f"tag{i % 7}, tag{i % 13}, subject", encoding="utf-8")


class Heartbeat:
    """Largest gap between 10 ms ticks = longest time the GUI thread could not react."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.clock = QElapsedTimer()
        self.max_gap = 0.0
        self.gaps_over_100 = 0
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.clock.start()
        self.timer.start()

    def _tick(self) -> None:
        gap = self.clock.restart() / 1000.0
        self.max_gap = max(self.max_gap, gap)
        if gap > 0.1:
            self.gaps_over_100 += 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel
    from lora_studio.app.state import AppContext
    from lora_studio.core.settings import AppSettings
    from lora_studio.dataset import project as proj

    work = Path(tempfile.mkdtemp(prefix="lora-studio-bench-"))
    t0 = time.perf_counter()
    generate(work / "source", args.count, args.size)
    print(f"generated {args.count} pictures of {args.size} px in {time.perf_counter() - t0:.1f} s")

    app = QApplication.instance() or QApplication(sys.argv)
    project = proj.create_project(work / "project", "Bench")
    context = AppContext(AppSettings(), settings_path=work / "settings.toml")
    panel = DatasetPanel(context)
    panel.resize(1280, 800)
    panel.show()
    context._set_project(project, project.root)
    while panel.busy:
        app.processEvents()

    beat = Heartbeat()
    scroll = QTimer()
    scroll.setInterval(250)
    bar = panel.grid.view.verticalScrollBar()
    direction = [1]

    def scroll_step() -> None:  # a user scrolling through the grid while it loads
        if bar.value() >= bar.maximum():
            direction[0] = -1
        elif bar.value() <= bar.minimum():
            direction[0] = 1
        bar.setValue(bar.value() + direction[0] * 600)

    scroll.timeout.connect(scroll_step)
    beat.start()
    start = time.perf_counter()
    panel.imports.import_files([work / "source"], None)
    imported = shown = None
    scroll.start()
    while True:
        app.processEvents()
        time.sleep(0.002)
        now = time.perf_counter() - start
        if imported is None and not panel.busy and panel.model.rowCount() == args.count:
            imported = now
        if imported is not None and panel.model.thumbnail_count() == args.count:
            shown = now
            break
        if now > 900:
            print("timed out")
            break
    scroll.stop()
    beat.timer.stop()
    print(f"import (copy + read captions/sizes): {imported:.1f} s")
    print(f"all thumbnails shown: {shown:.1f} s after the drop ({(shown or 0) - (imported or 0):.1f} s after import)")
    print(f"longest GUI-thread stall: {beat.max_gap * 1000:.0f} ms; stalls over 100 ms: {beat.gaps_over_100}")

    # Second open: thumbnails come from the disk cache.
    panel.model._thumbs.clear()
    panel.model._thumb_errors.clear()
    beat2 = Heartbeat()
    beat2.start()
    start = time.perf_counter()
    panel.model.set_rows(panel.model.rows())
    while panel.model.thumbnail_count() < args.count and time.perf_counter() - start < 300:
        app.processEvents()
        time.sleep(0.002)
    beat2.timer.stop()
    print(
        f"reopen from the disk cache: {time.perf_counter() - start:.1f} s, "
        f"longest stall {beat2.max_gap * 1000:.0f} ms"
    )
    panel.loader.cancel_all()
    context.jobs.shutdown(5000)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
