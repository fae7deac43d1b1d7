"""A graphics-card job the Training tab starts next to its run queue (comparing epochs, measuring the
memory fit): its status lines go to the run monitor, and a busy card is said in a dialog."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QWidget

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.job_runner import JobBusyError
from lora_studio.app.workers.worker import Worker
from lora_studio.core.control import RunControl
from lora_studio.core.events import Event, Progress, Reporter, StatusChanged

if TYPE_CHECKING:
    from lora_studio.app.state import AppContext


def start_side_job(
    parent: QWidget,
    context: AppContext,
    status_line: Callable[[str], None],
    job: Callable[[Reporter, RunControl], Any],
    name: str,
    *,
    on_done: Callable[..., None],
    on_failed: Callable[..., None],
    busy_title: str,
) -> Worker | None:
    """Start ``job`` on the card, its status lines going to ``status_line``; None (after telling the
    person, in a dialog over ``parent``) when another card job is running."""
    worker = Worker(job, name=name, gpu=True)

    def status(event: Event) -> None:
        if isinstance(event, (StatusChanged, Progress)):
            status_line(event.text)

    worker.event.connect(status)
    worker.finished.connect(on_done)
    worker.failed.connect(on_failed)
    worker.cancelled.connect(on_failed)
    try:
        context.jobs.start(worker)
    except JobBusyError as exc:
        show_error(ErrorInfo.from_exception(exc, title=busy_title), parent)
        return None
    return worker
