"""``lora-studio --selftest``: open the window, load the demo model, report the device, exit.

The packaged build runs this after installation to prove the whole stack works on the user's PC.
Checks run in order in one worker (so the window stays responsive); each ends ok or failed, and
the exit code is 0 when nothing failed. Besides the window, the demo model and the device, it runs
one tiny training step and one tiny generation (``lora_studio.smoke``)
on the demo project, through the real engines.
"""

from __future__ import annotations

import enum
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from PySide6.QtCore import QEventLoop, QObject, QTimer, Slot

from lora_studio.app.device_probe import probe_device
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.worker import Worker
from lora_studio.core.control import RunControl
from lora_studio.core.errors import Cancelled
from lora_studio.core.events import Event, StatusChanged
from lora_studio.core.fileio import atomic_write_text
from lora_studio.core.paths import logs_dir

if TYPE_CHECKING:
    from lora_studio.app.main_window import MainWindow

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 600.0

Reporter = Callable[[Event], None]
CheckFunction = Callable[[Reporter, RunControl], str]


class Outcome(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    outcome: Outcome
    detail: str
    seconds: float = 0.0


def check_demo_model(reporter: Reporter, control: RunControl) -> str:
    """Load the demo project's single-file checkpoint through the same loader real models use."""
    reporter(StatusChanged("Preparing the demo project…"))
    from lora_studio.demo import MODEL_FILE, ensure_demo_project
    from lora_studio.diffusion.loading import load_pipeline

    root = ensure_demo_project(reporter)
    control.raise_if_cancelled()
    reporter(StatusChanged("Loading the demo model…"))
    loaded = load_pipeline(root / MODEL_FILE, reporter=reporter)
    params = sum(p.numel() for p in loaded.pipeline.unet.parameters())
    return f"demo model loaded from {MODEL_FILE} ({loaded.family.label}, UNet {params:,} parameters)"


def check_device(reporter: Reporter, control: RunControl) -> str:
    device = probe_device(reporter, control)
    return device.summary + (
        f"\n{device.details}" if device.details and device.details != device.summary else ""
    )


def check_training_step(reporter: Reporter, control: RunControl) -> str:
    reporter(StatusChanged("Running one tiny training step…"))
    from lora_studio.smoke import run_smoke_training_step

    return run_smoke_training_step(reporter, control)


def check_generation(reporter: Reporter, control: RunControl) -> str:
    reporter(StatusChanged("Making one tiny picture…"))
    from lora_studio.smoke import run_smoke_generation

    return run_smoke_generation(reporter, control)


DEFAULT_CHECKS: tuple[tuple[str, CheckFunction], ...] = (
    ("Demo model", check_demo_model),
    ("Device", check_device),
    ("Training step", check_training_step),
    ("Generation", check_generation),
)


def run_checks(
    checks: tuple[tuple[str, CheckFunction], ...], reporter: Reporter, control: RunControl
) -> list[CheckResult]:
    """Worker function: run each check, keep going after a failure, stop on cancel."""
    results: list[CheckResult] = []
    for name, fn in checks:
        control.raise_if_cancelled()
        start = time.perf_counter()
        try:
            detail, outcome = fn(reporter, control), Outcome.OK
        except Cancelled:
            raise
        except Exception as exc:  # a self-test reports every failure and carries on
            log.exception("Self-test check %r failed", name)
            detail, outcome = f"{type(exc).__name__}: {exc}", Outcome.FAILED
        results.append(CheckResult(name, outcome, detail, time.perf_counter() - start))
        reporter(StatusChanged(f"{name}: {outcome.value}"))
    return results


def format_summary(results: list[CheckResult]) -> str:
    width = max((len(r.name) for r in results), default=0)
    lines = ["LoRA Studio self-test"]
    for r in results:
        first, *rest = r.detail.splitlines() or [""]
        lines.append(f"  {r.outcome.value.upper():7} {r.name:<{width}}  {first}  ({r.seconds:.1f} s)")
        lines += [f"  {'':7} {'':<{width}}    {line}" for line in rest]
    failed = [r.name for r in results if r.outcome == Outcome.FAILED]
    lines.append(f"Result: FAILED ({', '.join(failed)})" if failed else "Result: OK")
    return "\n".join(lines) + "\n"


def exit_code(results: list[CheckResult]) -> int:
    return 1 if any(r.outcome == Outcome.FAILED for r in results) else 0


def run_selftest(
    window: MainWindow,
    checks: tuple[tuple[str, CheckFunction], ...] = DEFAULT_CHECKS,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    out: TextIO | None = None,
) -> int:
    """Run the checks in a worker while the window's event loop runs; print a summary.

    The summary also goes to ``selftest.txt`` in the logs folder: the windowed executable has no
    console (``sys.stdout`` is None there).
    """
    out = out or sys.stdout
    results: list[CheckResult] = [_window_check(window)]
    collector = _Collector()
    worker = Worker(lambda r, c: run_checks(checks, r, c), name="Self-test", gpu=True)
    worker.event.connect(collector.on_event)
    worker.finished.connect(collector.on_finished)
    worker.failed.connect(collector.on_failed)
    worker.cancelled.connect(collector.on_cancelled)
    loop = QEventLoop()
    worker.ended.connect(loop.quit)
    timer = QTimer(singleShot=True, interval=int(timeout_s * 1000))
    timer.timeout.connect(loop.quit)

    window.context.jobs.start(worker)
    timer.start()
    loop.exec()
    if worker.is_running:  # timed out
        worker.cancel()
        window.context.jobs.shutdown()
        collector.results.append(
            CheckResult("Time limit", Outcome.FAILED, f"the checks took longer than {timeout_s:.0f} s")
        )
    else:
        window.context.jobs.shutdown()
    results += collector.results
    summary = format_summary(results)
    atomic_write_text(logs_dir() / "selftest.txt", summary)
    if out is not None:
        out.write(summary)
        out.flush()
    window.hide()
    return exit_code(results)


def _window_check(window: MainWindow) -> CheckResult:
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    ok = window.isVisible() and tabs == ["Dataset", "Training", "Generation"]
    detail = (
        f"opened with tabs {', '.join(tabs)}" if ok else f"window visible={window.isVisible()}, tabs={tabs}"
    )
    return CheckResult("Main window", Outcome.OK if ok else Outcome.FAILED, detail)


class _Collector(QObject):
    """Receives the worker's signals on the GUI thread."""

    def __init__(self) -> None:
        super().__init__()
        self.results: list[CheckResult] = []

    @Slot(Event)
    def on_event(self, event: Event) -> None:
        if isinstance(event, StatusChanged):
            log.info("Self-test: %s", event.text)

    @Slot(list)
    def on_finished(self, results: list[CheckResult]) -> None:
        self.results.extend(results)

    @Slot(ErrorInfo)
    def on_failed(self, info: ErrorInfo) -> None:
        self.results.append(CheckResult("Self-test", Outcome.FAILED, f"{info.message}\n{info.details}"))

    @Slot()
    def on_cancelled(self) -> None:
        self.results.append(CheckResult("Self-test", Outcome.FAILED, "cancelled"))
