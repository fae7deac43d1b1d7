"""Import a kohya folder tree into a project, and export a project as a kohya tree.

Export writes ``<target>/img/<repeats>_<trigger class>/`` for training concepts and
``<target>/reg/<repeats>_<class>/`` for regularization, with each picture and its caption file, so
sd-scripts trains on what LoRA Studio would train on:

* a picture without a crop or erased region goes out byte for byte (the original file);
* a picture with an erased region (a watermark filled in) goes out as its cleaned copy (PNG);
* a cropped picture goes out cropped, as a lossless PNG (sd-scripts has no crop settings), unless
  ``apply_crops=False`` asks for the uncropped pictures.

Painted masks go to ``<target>/mask/<same folder>/<stem>.png`` (cropped like their picture) for
sd-scripts' ``--masked_loss`` with ``conditioning_data_dir``. Pictures flagged "excluded" are left out.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from lora_studio.core.control import RunControl
from lora_studio.core.errors import DatasetError
from lora_studio.core.events import Progress, Reporter, null_reporter
from lora_studio.core.fileio import atomic_write_with
from lora_studio.dataset.images import load_upright
from lora_studio.dataset.io import load_kohya
from lora_studio.dataset.items import Concept, ConceptKind, CropBox
from lora_studio.dataset.naming import safe_name
from lora_studio.dataset.oddities import folder_oddities
from lora_studio.dataset.project import (
    AddResult,
    Project,
    add_concept,
    add_images,
    create_project,
    is_project,
    open_project,
)

MASK_DIR = "mask"


@dataclass(frozen=True, slots=True)
class ProjectImport:
    project: Project
    added: tuple[AddResult, ...]  # one per concept, in order
    skipped_folders: tuple[tuple[Path, str], ...]  # kohya folders that were not imported, and why
    # files of the kohya folders that were not imported (GIF, TIFF, captions without a picture,
    # broken links), and why
    skipped_files: tuple[tuple[Path, str], ...] = ()
    notes: tuple[str, ...] = ()  # what was imported but deserves a look (one caption, two pictures)


def import_kohya(
    kohya_dir: str | os.PathLike[str],
    project: Project | str | os.PathLike[str],
    *,
    caption_extension: str = ".txt",
    reporter: Reporter = null_reporter,
    control: RunControl | None = None,
) -> ProjectImport:
    """Copy a kohya tree (``img/`` + ``reg/`` or ``N_name`` folders) into a project.

    ``project`` is an open project or a folder (opened if it is a project, created otherwise).
    Repeats and captions are kept; pictures without a caption keep using the folder name, which
    becomes the concept name. The kohya folder is only read.
    """
    dataset = load_kohya(kohya_dir, caption_extension)
    if not dataset.concepts:
        raise DatasetError(
            f"No '<repeats>_<name>' folders with pictures were found in {kohya_dir}.",
            hint="A kohya folder looks like img/10_sks dog/photo.jpg.",
        )
    if not isinstance(project, Project):
        project = open_project(project) if is_project(project) else create_project(project)
    results = []
    odd: list[tuple[Path, str]] = []
    notes: list[str] = []
    used = {c.name for c in project.concepts}
    for concept in dataset.concepts:
        for o in folder_oddities(concept.folder, (caption_extension,)):
            if o.code == "shared-caption":
                notes.append(f"{o.path}: {o.reason} (each was imported with a copy of it)")
            else:
                odd.append((o.path, o.reason))
        name, class_word = concept.name, ""
        if name in used:
            # Keep the fallback caption (the folder's words) by moving them to the class word.
            class_word = concept.name
            suffix = " (regularization)" if concept.is_regularization else " (2)"
            name = f"{concept.name}{suffix}"
            n = 3
            while name in used:
                name, n = f"{concept.name} ({n})", n + 1
        used.add(name)
        add_concept(project, name, repeats=concept.repeats, class_word=class_word, kind=concept.kind)
        results.append(
            add_images(
                project,
                name,
                [it.image for it in concept.items],
                caption_extensions=(caption_extension,),
                reporter=reporter,
                control=control,
            )
        )
    return ProjectImport(project, tuple(results), dataset.skipped_folders, tuple(odd), tuple(notes))


@dataclass(frozen=True, slots=True)
class ExportResult:
    root: Path
    folders: tuple[Path, ...]
    images: int
    masks: int
    cropped: int = 0  # pictures written cropped (as PNG)


def kohya_folder_name(repeats: int, words: str) -> str:
    return f"{repeats}_{safe_name(words, 'concept')}"


def _copy(src: Path, dst: Path) -> None:
    atomic_write_with(dst, lambda tmp: shutil.copyfile(src, tmp))


def export_kohya(
    project: Project,
    target: str | os.PathLike[str],
    *,
    caption_extension: str = ".txt",
    reporter: Reporter = null_reporter,
    control: RunControl | None = None,
    apply_crops: bool = True,
) -> ExportResult:
    """Write the project as a kohya tree in ``target`` (a new or empty folder)."""
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DatasetError(f"The folder {target} is not empty.", hint="Export into a new or empty folder.")
    dataset = project.to_dataset(include_excluded=False)
    plan: dict[Path, Concept] = {}
    for concept in dataset.concepts:
        base = "reg" if concept.kind == ConceptKind.REGULARIZATION else "img"
        folder = target / base / kohya_folder_name(concept.repeats, concept.fallback_caption)
        if folder in plan:
            raise DatasetError(
                f"Two concepts would both be exported as '{folder.parent.name}/{folder.name}'.",
                hint="Give them different trigger words, class words or repeats.",
            )
        plan[folder] = concept
    total = sum(len(c.items) for c in dataset.concepts)
    done = masks = cropped = 0
    for folder, concept in plan.items():
        folder.mkdir(parents=True, exist_ok=True)
        for item in concept.items:
            if control is not None:
                control.checkpoint()
            reporter(Progress(done, total, f"Exporting {item.image.name}"))
            stem = item.caption_path.stem if item.caption_path else item.image.stem
            picture = item.training_image  # a cleaned copy (erased watermark) goes out instead
            crop = item.crop if apply_crops else None
            if crop is not None:
                _save_cropped(load_upright(picture), crop, folder / f"{stem}.png")
                cropped += 1
            else:
                _copy(picture, folder / f"{stem}{picture.suffix}")
            if item.caption_path is not None and item.caption_path.is_file():
                _copy(item.caption_path, folder / f"{stem}{caption_extension}")
            if item.mask is not None and item.mask.is_file():
                mask_target = target / MASK_DIR / folder.name / f"{stem}.png"
                if crop is not None:
                    with Image.open(item.mask) as m:
                        _save_cropped(m.convert("L"), crop, mask_target)
                else:
                    _copy(item.mask, mask_target)
                masks += 1
            done += 1
    reporter(Progress(total, total, f"Exported {total} picture(s)"))
    return ExportResult(root=target, folders=tuple(plan), images=done, masks=masks, cropped=cropped)


def _save_cropped(image: Image.Image, crop: CropBox, dst: Path) -> None:
    part = image.crop(crop.as_ltrb())
    atomic_write_with(dst, lambda tmp: part.save(tmp, format="PNG"))
