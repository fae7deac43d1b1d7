"""Load a picture for the crop editor and the mask painter on a pool thread (never the GUI thread)."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtGui import QImage

from lora_studio.core.errors import DatasetError
from lora_studio.dataset.images import load_rgb, probe_image

log = logging.getLogger(__name__)

PREVIEW_MAX = 2048  # the editors show at most this many pixels per side (crops stay exact)


@dataclass(frozen=True, slots=True)
class Preview:
    path: Path
    image: QImage  # at most PREVIEW_MAX per side
    size: tuple[int, int]  # the full upright picture
    mask: QImage | None = None  # Grayscale8 at full size, when the picture has a mask
    mask_error: str = ""


def load_preview(path: Path, mask_path: Path | None = None, max_side: int = PREVIEW_MAX) -> Preview:
    """Decode the picture (and its mask) for the editors. Runs on a pool thread."""
    rgb = load_rgb(path, draft=(max_side, max_side))
    full = probe_image(path)
    rgb.thumbnail((max_side, max_side))
    data = rgb.tobytes()
    image = QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888).copy()
    mask = None
    mask_error = ""
    if mask_path is not None:
        try:
            with Image.open(mask_path) as m:
                grey = m.convert("L")
            if grey.size != (full.width, full.height):
                grey = grey.resize((full.width, full.height))
            mask = QImage(grey.tobytes(), grey.width, grey.height, grey.width, QImage.Format.Format_Grayscale8).copy()
        except (OSError, ValueError) as exc:
            mask_error = f"The saved mask could not be read ({exc}); painting starts from an empty mask."
    return Preview(path, image, (full.width, full.height), mask, mask_error)


class PreviewLoader(QObject):
    """``load(path)`` → later ``loaded(request_id, Preview)`` or ``failed(request_id, path, text)``.

    Only the answer to the latest request matters to the editors; they compare ``request_id``.
    """

    loaded = Signal(int, object)
    failed = Signal(int, object, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._ids = itertools.count(1)
        self.latest = 0

    def load(self, path: Path, mask_path: Path | None = None) -> int:
        request = next(self._ids)
        self.latest = request
        self.pool.clear()  # an older picture still waiting is no longer wanted

        def job() -> None:
            try:
                preview = load_preview(path, mask_path)
            except DatasetError as exc:
                self.failed.emit(request, path, f"{exc.message} {exc.hint}".strip())
            except Exception as exc:  # shown to the user in the editor; never kills the pool
                log.warning("Preview of %s failed: %r", path, exc)
                self.failed.emit(request, path, f"This picture cannot be shown ({exc}).")
            else:
                self.loaded.emit(request, preview)

        self.pool.start(job)
        return request

    def wait(self, msecs: int = 10000) -> bool:
        return self.pool.waitForDone(msecs)
