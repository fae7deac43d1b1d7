"""A graphics-card job the Training tab starts next to its run queue (comparing epochs, measuring the
memory fit): its status lines go to the run monitor, and a busy card is said in a dialog."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.job_runner import JobBusyError
from lora_studio.app.workers.worker import Worker
from lora_studio.core.control import RunControl
from lora_studio.core.events import Event, Progress, Reporter, StatusChanged

if TYPE_CHECKING:
    from lora_studio.app.panels.training.training_panel import TrainingPanel


def start_side_job(
    view: TrainingPanel,
    job: Callable[[Reporter, RunControl], Any],
    name: str,
    *,
    on_done: Callable[..., None],
    on_failed: Callable[..., None],
    busy_title: str,
) -> Worker | None:
    """Start ``job`` on the card; None (after telling the person) when another card job is running."""
    worker = Worker(job, name=name, gpu=True)

    def status(event: Event) -> None:
        if isinstance(event, (StatusChanged, Progress)):
            view.monitor.set_status(event.text)

    worker.event.connect(status)
    worker.finished.connect(on_done)
    worker.failed.connect(on_failed)
    worker.cancelled.connect(on_failed)
    try:
        view.context.jobs.start(worker)
    except JobBusyError as exc:
        show_error(ErrorInfo.from_exception(exc, title=busy_title), view)
        return None
    return worker
