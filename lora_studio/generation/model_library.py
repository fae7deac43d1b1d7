"""Finding base models and LoRAs on disk, from file headers only (torch-free, Qt-free).

Base models come from the model folders in Settings and from the open project (its demo model or any
checkpoint the user put there). LoRAs come from the LoRA folders and from the project's training
outputs. Every ``.safetensors`` file is told apart by its header, so a LoRA dropped into the
checkpoint folder (or the other way round) still lands in the right list.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lora_studio.core.families import ModelFamily

if TYPE_CHECKING:
    from lora_studio.diffusion.families import DetectedModel

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".safetensors", ".ckpt")
SKIPPED_PROJECT_DIRS = {"dataset", ".trash", "masks", "cells", "__pycache__"}
MAX_DEPTH = 5


@dataclass(frozen=True, slots=True)
class ModelItem:
    """A base model the picker can offer."""

    path: Path
    family: ModelFamily | None
    source: str  # "project" or "folder"
    note: str = ""  # e.g. "inpainting model"

    @property
    def name(self) -> str:
        return self.path.stem if self.path.is_file() else self.path.name

    @property
    def family_label(self) -> str:
        return self.family.label if self.family is not None else "unknown type"


@dataclass(frozen=True, slots=True)
class LoraItem:
    """A LoRA file the mixer can offer."""

    path: Path
    family: ModelFamily | None
    source: str  # "project" or "folder"
    rank: int | None = None
    epoch: int | None = None

    @property
    def name(self) -> str:
        return self.path.stem


@dataclass(frozen=True, slots=True)
class Library:
    models: tuple[ModelItem, ...] = ()
    loras: tuple[LoraItem, ...] = ()

    def lora_folders(self) -> list[Path]:
        """Every folder that holds one of the LoRAs (for finding ``<lora:name>`` tags by name)."""
        seen: dict[Path, None] = {}
        for item in self.loras:
            seen.setdefault(item.path.parent, None)
        return list(seen)

    def lora_named(self, name: str) -> LoraItem | None:
        wanted = name.strip().lower()
        return next((item for item in self.loras if item.name.lower() == wanted), None)

    def model_named(self, name: str) -> ModelItem | None:
        wanted = name.strip().lower()
        return next((item for item in self.models if item.name.lower() == wanted), None)


def _walk(root: Path, skip: set[str]) -> Iterator[Path]:
    """Files and diffusers folders below ``root`` (depth-limited, hidden folders skipped)."""
    if not root.is_dir():
        return
    base_depth = len(root.parts)
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if (here / "model_index.json").is_file():
            dirs[:] = []
            yield here
            continue
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and d not in skip and len(here.parts) - base_depth < MAX_DEPTH
        )
        for name in sorted(files):
            if name.lower().endswith(MODEL_SUFFIXES):
                yield here / name


def _classify(path: Path, source: str) -> ModelItem | LoraItem | None:
    """Say what one file or folder is; None for things that are neither (logged, never raised)."""
    from lora_studio.core.errors import LoraStudioError
    from lora_studio.diffusion.families import inspect_checkpoint
    from lora_studio.formats.lora_classify import LoraFormat, classify_lora_keys
    from lora_studio.formats.safetensors_meta import read_header

    try:
        if path.is_dir() or path.suffix.lower() == ".ckpt":
            detected = inspect_checkpoint(path)
            return ModelItem(path, detected.family, source, _model_note(detected))
        header = read_header(path)
        kind = classify_lora_keys(header.shapes)
        # UNKNOWN too: a FLUX.1 transformer file (BFL names, no checkpoint prefix) is a base model;
        # FLUX component files (clip_l, t5xxl, ae) are refused by the detection and so not listed.
        if kind.format in (LoraFormat.CHECKPOINT, LoraFormat.UNKNOWN):
            detected = inspect_checkpoint(path)
            return ModelItem(path, detected.family, source, _model_note(detected))
        if kind.format.is_lora:
            from lora_studio.formats.lora_info import inspect_lora

            info = inspect_lora(path)
            return LoraItem(path, info.family, source, info.rank, info.training.epoch)
    except LoraStudioError as exc:
        log.info("Skipped %s: %s", path, exc.message)
    except (OSError, ValueError) as exc:
        log.info("Skipped %s: %s", path, exc)
    return None


def _model_note(detected: DetectedModel) -> str:
    if detected.is_inpainting:
        return "inpainting model"
    if detected.family == ModelFamily.FLUX:
        return f"{detected.variant}, fp8" if detected.fp8 else detected.variant
    return ""


def scan_library(
    model_folders: Iterable[Path],
    lora_folders: Iterable[Path],
    project_root: Path | None = None,
    project_models: Iterable[Path] = (),
) -> Library:
    """Find every base model and LoRA; project files first, then the folders, each sorted by name.

    ``project_models``: models the project names but keeps elsewhere (the base model its training
    settings point to); they are listed as the project's own.
    """
    models: dict[Path, ModelItem] = {}
    loras: dict[Path, LoraItem] = {}
    for path in project_models:
        key = Path(path).resolve()
        if key not in models and isinstance(item := _classify(Path(path), "project"), ModelItem):
            models[key] = item
    sources: list[tuple[Path, str]] = []
    if project_root is not None:
        sources.append((Path(project_root), "project"))
    sources += [(Path(f), "folder") for f in (*model_folders, *lora_folders)]
    for root, source in sources:
        skip = SKIPPED_PROJECT_DIRS if source == "project" else set()
        for path in _walk(root, skip):
            key = path.resolve()
            if key in models or key in loras:
                continue
            item = _classify(path, source)
            if isinstance(item, ModelItem):
                models[key] = item
            elif isinstance(item, LoraItem):
                loras[key] = item

    def order(item: ModelItem | LoraItem) -> tuple[int, str]:
        return (0 if item.source == "project" else 1, item.name.lower())

    return Library(tuple(sorted(models.values(), key=order)), tuple(sorted(loras.values(), key=order)))
