"""Read a dataset from disk: a LoRA Studio project or a kohya folder tree. The trainer calls this.

kohya layouts understood by :func:`load_dataset`:

* ``<root>/img/<repeats>_<name>/`` (+ optional ``<root>/reg/<repeats>_<name>/`` for regularization)
* ``<root>/<repeats>_<name>/`` folders directly
* a plain folder of pictures (one concept, 1 repeat, no fallback caption)

A folder without a number in front (``dogs`` instead of ``10_dogs``) is skipped and listed in
``Dataset.skipped_folders``, as sd-scripts does. A picture without a caption file gets the folder's
name (after the number) as its caption.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from lora_studio.core.errors import DatasetError
from lora_studio.dataset import captions as cap
from lora_studio.dataset.items import Concept, ConceptKind, Dataset, Item
from lora_studio.dataset.naming import image_files, natural_key, parse_kohya_folder
from lora_studio.dataset.project import is_project, open_project

log = logging.getLogger(__name__)

IMG_DIR = "img"
REG_DIRS = ("reg", "reg_img")


def read_item(image: Path, fallback_caption: str, caption_extension: str = ".txt") -> Item:
    """One picture with its sidecar caption (or the fallback when there is none)."""
    cpath = cap.sidecar_path(image, caption_extension)
    cf = cap.read_caption(cpath)
    return Item(
        image=image,
        caption=cf.text.strip() if cf.exists else fallback_caption,
        caption_path=cpath,
        caption_from_folder=not cf.exists,
    )


def read_kohya_concept(
    folder: Path, kind: ConceptKind = ConceptKind.TRAINING, caption_extension: str = ".txt"
) -> Concept | None:
    """A ``<repeats>_<name>`` folder as a Concept, or None when the name has no repeat count."""
    parsed = parse_kohya_folder(folder.name)
    if parsed is None:
        return None
    repeats, name = parsed
    items = tuple(read_item(p, name, caption_extension) for p in image_files(folder))
    return Concept(name=name, folder=folder, repeats=repeats, kind=kind, items=items)


def _subfolders(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: natural_key(p.name),
    )


def _read_tree(
    folder: Path, kind: ConceptKind, caption_extension: str, skipped: list[tuple[Path, str]]
) -> list[Concept]:
    concepts = []
    for sub in _subfolders(folder):
        concept = read_kohya_concept(sub, kind, caption_extension)
        if concept is None:
            reason = "its name does not start with a repeat count such as '10_'"
            log.warning("Skipping folder %s: %s", sub, reason)
            skipped.append((sub, reason))
        else:
            concepts.append(concept)
    return concepts


def load_kohya(root: str | os.PathLike[str], caption_extension: str = ".txt") -> Dataset:
    """Read a kohya tree (see the module docstring)."""
    root = Path(root)
    skipped: list[tuple[Path, str]] = []
    if (root / IMG_DIR).is_dir():
        concepts = _read_tree(root / IMG_DIR, ConceptKind.TRAINING, caption_extension, skipped)
        for reg in REG_DIRS:
            if (root / reg).is_dir():
                concepts += _read_tree(root / reg, ConceptKind.REGULARIZATION, caption_extension, skipped)
                break
    elif any(parse_kohya_folder(p.name) for p in _subfolders(root)):
        concepts = _read_tree(root, ConceptKind.TRAINING, caption_extension, skipped)
    else:
        items = tuple(read_item(p, "", caption_extension) for p in image_files(root))
        concepts = [Concept(name=root.name, folder=root, repeats=1, items=items)] if items else []
        for sub in _subfolders(root):
            skipped.append((sub, "its name does not start with a repeat count such as '10_'"))
    return Dataset(concepts=tuple(concepts), root=root, skipped_folders=tuple(skipped))


def load_dataset(
    path: str | os.PathLike[str], caption_extension: str = ".txt", *, include_excluded: bool = False
) -> Dataset:
    """Read the dataset at ``path``: a LoRA Studio project folder or a kohya tree.

    ``caption_extension`` (``.txt`` or ``.caption`` …) applies to kohya trees; projects always use
    ``.txt``. Pictures flagged "excluded" in a project are left out unless ``include_excluded``.
    Damaged pictures are still listed: run :func:`lora_studio.dataset.validate.check_dataset` to
    find them.
    """
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"The dataset folder {root} does not exist.", hint="Check the path.")
    if is_project(root):
        return open_project(root).to_dataset(include_excluded=include_excluded)
    dataset = load_kohya(root, caption_extension)
    if not dataset.concepts and not dataset.skipped_folders:
        raise DatasetError(
            f"There are no pictures in {root}.",
            hint="Pick a LoRA Studio project, a kohya folder with 'img/10_name' folders, or a folder of pictures.",
        )
    return dataset
