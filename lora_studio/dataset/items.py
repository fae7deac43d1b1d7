"""The dataset model: concepts with repeats, items with captions, crop boxes and masks. Qt-free.

These objects are plain, immutable data. ``lora_studio.dataset.io`` reads them from a LoRA Studio
project or a kohya ``img/<repeats>_<name>`` tree; the trainer consumes them; the Dataset panel edits
them through ``lora_studio.dataset`` operations.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")

# Item flags (stored per item in the project). The trainer skips excluded items.
FLAG_EXCLUDED = "excluded"


class ConceptKind(enum.StrEnum):
    TRAINING = "training"
    REGULARIZATION = "regularization"


@dataclass(frozen=True, slots=True)
class CropBox:
    """A crop rectangle in pixels of the image *after* its EXIF orientation is applied."""

    x: int
    y: int
    width: int
    height: int

    def as_ltrb(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.x + self.width, self.y + self.height)


@dataclass(frozen=True, slots=True)
class Item:
    image: Path  # absolute path of the original image (never modified)
    caption: str = ""
    crop: CropBox | None = None
    mask: Path | None = None  # absolute path of a mask PNG: white = learn, black = ignore
    caption_path: Path | None = None  # where the caption came from / is saved (sidecar)
    flags: tuple[str, ...] = ()  # e.g. FLAG_EXCLUDED
    caption_from_folder: bool = False  # True when no sidecar exists and the folder name was used
    # A copy of the picture with a painted region (a watermark, a signature) filled in. Training,
    # captioning and the kohya export use it instead of the original, which stays as it was.
    erased: Path | None = None

    @property
    def excluded(self) -> bool:
        return FLAG_EXCLUDED in self.flags

    @property
    def training_image(self) -> Path:
        """The file whose pixels are trained on: the cleaned copy if there is one, else the original."""
        return self.erased if self.erased is not None else self.image


@dataclass(frozen=True, slots=True)
class Concept:
    name: str
    folder: Path
    repeats: int = 1
    trigger: str = ""
    class_word: str = ""
    kind: ConceptKind = ConceptKind.TRAINING
    items: tuple[Item, ...] = ()
    notes: str = ""

    @property
    def fallback_caption(self) -> str:
        """The caption used for an image without a caption file (kohya: the folder's class tokens)."""
        return " ".join(t for t in (self.trigger.strip(), self.class_word.strip()) if t) or self.name

    @property
    def is_regularization(self) -> bool:
        return self.kind == ConceptKind.REGULARIZATION


@dataclass(frozen=True, slots=True)
class Dataset:
    concepts: tuple[Concept, ...] = field(default_factory=tuple)
    root: Path | None = None
    # Sub-folders that were not read, with the reason (e.g. kohya folders without a repeat count).
    skipped_folders: tuple[tuple[Path, str], ...] = ()

    def training_concepts(self) -> list[Concept]:
        return [c for c in self.concepts if not c.is_regularization]

    def regularization_concepts(self) -> list[Concept]:
        return [c for c in self.concepts if c.is_regularization]

    def images_per_epoch(self) -> int:
        """Training images times repeats (kohya's count; regularization is balanced against it)."""
        return sum(len(c.items) * c.repeats for c in self.training_concepts())
