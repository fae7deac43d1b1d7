"""Load a picture for the crop editor and the mask painter on a pool thread (never the GUI thread)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from PySide6.QtCore import Signal
from PySide6.QtGui import QImage

from lora_studio.app.workers.task_pool import TaskPool
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
    erase: QImage | None = None  # Grayscale8 at full size: the painted erase region (white = erase)
    erased: QImage | None = None  # the cleaned copy, at the preview's size


def preview_image(rgb: Image.Image, max_side: int = PREVIEW_MAX) -> QImage:
    """An RGB picture as a QImage of at most ``max_side`` pixels per side (any thread)."""
    rgb = rgb.convert("RGB")
    rgb.thumbnail((max_side, max_side))
    return QImage(rgb.tobytes(), rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888).copy()


def _grey_at(path: Path, size: tuple[int, int]) -> QImage:
    with Image.open(path) as m:
        grey = m.convert("L")
    if grey.size != size:
        grey = grey.resize(size)
    return QImage(grey.tobytes(), grey.width, grey.height, grey.width, QImage.Format.Format_Grayscale8).copy()


def load_preview(
    path: Path,
    mask_path: Path | None = None,
    max_side: int = PREVIEW_MAX,
    erase_path: Path | None = None,
    erased_path: Path | None = None,
) -> Preview:
    """Decode the picture (and its mask, erase region and cleaned copy) for the editors.
    Runs on a pool thread."""
    rgb = load_rgb(path, draft=(max_side, max_side))
    full = probe_image(path)
    size = (full.width, full.height)
    image = preview_image(rgb, max_side)
    mask = erase = erased = None
    problems = []
    if mask_path is not None:
        try:
            mask = _grey_at(mask_path, size)
        except (OSError, ValueError) as exc:
            problems.append(f"The saved mask could not be read ({exc}); painting starts from an empty mask.")
    if erase_path is not None:
        try:
            erase = _grey_at(erase_path, size)
        except (OSError, ValueError) as exc:
            problems.append(f"The erase region could not be read ({exc}); paint it again.")
    if erased_path is not None:
        try:
            erased = preview_image(load_rgb(erased_path, draft=(max_side, max_side)), max_side)
        except (DatasetError, OSError, ValueError) as exc:
            message = exc.message if isinstance(exc, DatasetError) else str(exc)
            problems.append(f"The cleaned copy could not be read ({message}); paint the erase region again.")
    return Preview(path, image, size, mask, " ".join(problems), erase, erased)


class PreviewLoader(TaskPool):
    """``load(path)`` → later ``loaded(request_id, Preview)`` or ``failed(request_id, path, text)``.

    Only the answer to the latest request matters to the editors; they compare ``request_id``.
    """

    loaded = Signal(int, object)
    failed = Signal(int, object, str)

    def load(
        self, path: Path, mask_path: Path | None = None, erase_path: Path | None = None, erased_path: Path | None = None
    ) -> int:
        def job(request: int) -> None:
            try:
                preview = load_preview(path, mask_path, erase_path=erase_path, erased_path=erased_path)
            except DatasetError as exc:
                self.failed.emit(request, path, f"{exc.message} {exc.hint}".strip())
            except Exception as exc:  # shown to the user in the editor; never kills the pool
                log.warning("Preview of %s failed: %r", path, exc)
                self.failed.emit(request, path, f"This picture cannot be shown ({exc}).")
            else:
                self.loaded.emit(request, preview)

        return self.submit(job)
