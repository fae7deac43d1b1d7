"""Small jobs for the child-process tests. Module-level (picklable) and light to import: a spawned
child imports this module to find them."""

from __future__ import annotations

import os
import time

from lora_studio.core.control import RunControl
from lora_studio.core.errors import DatasetError
from lora_studio.core.events import Reporter, StatusChanged


def report_and_wait(reporter: Reporter, control: RunControl) -> str:
    """Says it is ready, then waits (cancellable) for up to a minute."""
    reporter(StatusChanged(f"ready {os.getpid()}"))
    control.sleep(60)
    return "slept"


def ignore_cancel(reporter: Reporter, control: RunControl) -> str:
    """A stuck job: never looks at its control."""
    reporter(StatusChanged("stuck"))
    time.sleep(60)
    return "never"


def fail_plainly(reporter: Reporter, control: RunControl) -> None:
    reporter(StatusChanged("failing"))
    raise DatasetError("The picture cat.png can't be read.", hint="Remove it or replace it.", details="bad header")


def fail_unexpectedly(reporter: Reporter, control: RunControl) -> None:
    {}["missing key"]  # noqa: B018 - a programming error, on purpose


def threads_and_logging(reporter: Reporter, control: RunControl) -> dict[str, object]:
    """What the child's environment looks like."""
    import logging

    import torch

    logging.getLogger("lora_studio.test").warning("a warning from the child")
    logging.getLogger("lora_studio.test").info("an info line from the child")
    nice = os.nice(0) if hasattr(os, "nice") else None
    return {"threads": torch.get_num_threads(), "offline": os.environ.get("HF_HUB_OFFLINE"), "nice": nice}
