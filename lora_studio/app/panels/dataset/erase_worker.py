"""Make the cleaned copy of a picture (an erased watermark) on a pool thread, never the GUI thread.

Filling a region and writing two PNGs takes 0.1-1 s for large photos. The files are written on the
worker from a snapshot of the project; the project's record is updated on the GUI thread
(``record_erase``) when the panel gets ``done``, so the project is only ever touched by one thread.
"""

from __future__ import annotations

import logging

from PIL import Image
from PySide6.QtCore import QObject, Signal

from lora_studio.app.panels.dataset.preview_loader import PREVIEW_MAX, preview_image
from lora_studio.app.workers.task_pool import TaskPool
from lora_studio.core.errors import DatasetError
from lora_studio.dataset import project as proj
from lora_studio.dataset.images import load_rgb
from lora_studio.dataset.scan import ImageRow

log = logging.getLogger(__name__)

EraseFiles = tuple[str, str]  # the region and the cleaned copy, relative to the concept folder


class EraseRunner(TaskPool):
    """``run(project, row, region)`` → later ``done(project, row, files, preview)`` or
    ``failed(row, text)``. Jobs run one at a time, in the order they were asked for."""

    done = Signal(proj.Project, ImageRow, object, object)  # files: EraseFiles | None, QImage | None
    failed = Signal(ImageRow, str)  # plain-words reason

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)

    def run(self, project: proj.Project, row: ImageRow, region: Image.Image | None) -> None:
        snapshot = project.snapshot()

        def task(_request: int) -> None:
            try:
                files = proj.write_erase_files(snapshot, row.concept, row.key, region)
                preview = None
                if files is not None:
                    copy = snapshot.concept_dir(row.concept) / files[1]
                    preview = preview_image(load_rgb(copy, draft=(PREVIEW_MAX, PREVIEW_MAX)))
            except DatasetError as exc:
                self.failed.emit(row, f"{exc.message} {exc.hint}".strip())
            except Exception as exc:  # shown to the user; never kills the pool
                log.warning("Erasing a region of %s failed: %r", row.path, exc)
                self.failed.emit(row, f"The region of {row.name} could not be erased ({exc}).")
            else:
                self.done.emit(project, row, files, preview)  # the live project: recorded on the GUI thread

        self.queue(task)

    def wait(self, msecs: int = 30000) -> bool:
        return super().wait(msecs)
