"""A LoRA Studio project folder: settings, concepts and the copied pictures with their captions.

Layout (all paths stored relative, with forward slashes)::

    MyProject/
      project.toml                  name, base model, concepts (folder, repeats, trigger ...)
      dataset/<concept>/photo.jpg   a copy of the user's picture (originals are never touched)
      dataset/<concept>/photo.txt   its caption (kohya sidecar, UTF-8)
      dataset/<concept>/.lorastudio.toml   per-picture extras: crop, mask, flags, source
      dataset/<concept>/masks/photo.mask.png   a painted mask (white = learn, black = ignore)
      dataset/<concept>/masks/photo.erase.png  a painted erase region (white = fill in)
      dataset/<concept>/erased/photo.png       the picture with that region filled: trained on
      .trash/                       removed pictures and concepts, never deleted outright

Which pictures belong to a concept is simply what sits in its folder (so a folder edited in
Explorer stays valid), plus pictures linked in place (``copy=False``), which are listed in
``.lorastudio.toml`` by absolute path. Every function that changes something saves at once.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import shutil
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from PIL import Image

from lora_studio.core.control import RunControl
from lora_studio.core.errors import ConfigError, DatasetError
from lora_studio.core.events import Progress, Reporter, null_reporter
from lora_studio.core.fileio import atomic_write_text, atomic_write_with
from lora_studio.core.serialization import from_toml_dict, to_dict
from lora_studio.dataset import captions as cap
from lora_studio.dataset.erase import fill_region, region_is_empty
from lora_studio.dataset.images import file_sha256, load_upright, probe_image
from lora_studio.dataset.items import Concept, ConceptKind, CropBox, Dataset, Item
from lora_studio.dataset.naming import (
    image_files,
    is_image_file,
    natural_key,
    safe_name,
    unique_folder,
    unique_stem,
)
from lora_studio.dataset.ops import crop_is_valid

log = logging.getLogger(__name__)

PROJECT_FILE = "project.toml"
CONCEPT_FILE = ".lorastudio.toml"
DATASET_DIR = "dataset"
MASK_DIR = "masks"
ERASED_DIR = "erased"
TRASH_DIR = ".trash"
CAPTION_EXTENSION = ".txt"
SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class ConceptSettings:
    name: str
    folder: str  # relative to the project root, e.g. "dataset/sks dog"
    repeats: int = 1
    trigger: str = ""
    class_word: str = ""
    kind: ConceptKind = ConceptKind.TRAINING
    notes: str = ""


@dataclass(frozen=True, kw_only=True)
class ProjectSettings:
    schema_version: int = SCHEMA_VERSION
    name: str = ""
    base_model: str = ""  # a path; relative when it lies inside the project
    concepts: tuple[ConceptSettings, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ItemRecord:
    image: str  # file name inside the concept folder, or an absolute path for a linked picture
    crop: CropBox | None = None
    mask: str | None = None  # relative to the concept folder
    erase: str | None = None  # the painted erase region, relative to the concept folder
    erased: str | None = None  # the cleaned copy trained instead of the picture, relative too
    flags: tuple[str, ...] = ()
    source: str = ""  # where the picture was copied from (for the user's information)


@dataclass(frozen=True, kw_only=True)
class ConceptRecords:
    schema_version: int = SCHEMA_VERSION
    items: tuple[ItemRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class AddResult:
    added: tuple[Path, ...]  # the pictures as they are now in the project
    skipped: tuple[tuple[Path, str], ...]  # files not added, with the reason in plain words


class Project:
    """An open project. Use the module functions to change it; each one saves at once."""

    def __init__(self, root: Path, settings: ProjectSettings, extra: dict[str, Any] | None = None) -> None:
        self.root = root
        self.settings = settings
        self.records: dict[str, dict[str, ItemRecord]] = {}
        self._extra = extra or {}  # keys other parts of the app keep in project.toml

    def snapshot(self) -> Project:
        """A copy a worker thread may read while the GUI thread keeps editing this project (the
        records are copied; settings and records are frozen values)."""
        copy = Project(self.root, self.settings, dict(self._extra))
        copy.records = {concept: dict(records) for concept, records in self.records.items()}
        return copy

    # -- lookups -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def concepts(self) -> tuple[ConceptSettings, ...]:
        return self.settings.concepts

    def concept(self, name: str) -> ConceptSettings:
        for c in self.settings.concepts:
            if c.name == name:
                return c
        raise DatasetError(f"The project has no concept called '{name}'.")

    def concept_dir(self, name: str) -> Path:
        return self.root / self.concept(name).folder

    def item_key(self, concept: str, image: str | os.PathLike[str]) -> str:
        """The record key of a picture: its file name in the concept folder, or its absolute path."""
        path = Path(image)
        folder = self.concept_dir(concept)
        if not path.is_absolute() and len(path.parts) == 1:
            return path.name
        if path.parent.resolve() == folder.resolve():
            return path.name
        return str(path.resolve())

    def image_path(self, concept: str, key: str) -> Path:
        p = Path(key)
        return p if p.is_absolute() else self.concept_dir(concept) / key

    def image_keys(self, concept: str) -> list[str]:
        """Pictures of a concept: files in its folder, then linked pictures, naturally sorted."""
        local = [p.name for p in image_files(self.concept_dir(concept))]
        linked = [k for k in self.records.get(concept, {}) if Path(k).is_absolute()]
        return local + sorted(linked, key=lambda k: natural_key(Path(k).name))

    def caption_path(self, concept: str, image: str | os.PathLike[str]) -> Path:
        key = self.item_key(concept, image)
        return self.concept_dir(concept) / (Path(key).stem + CAPTION_EXTENSION)

    def record(self, concept: str, image: str | os.PathLike[str]) -> ItemRecord:
        key = self.item_key(concept, image)
        return self.records.get(concept, {}).get(key) or ItemRecord(image=key)

    # -- dataset view --------------------------------------------------------------------------
    def item(self, concept: str, key: str) -> Item:
        settings = self.concept(concept)
        rec = self.record(concept, key)
        cpath = self.caption_path(concept, key)
        cf = cap.read_caption(cpath)
        folder = self.concept_dir(concept)
        return Item(
            image=self.image_path(concept, key),
            caption=cf.text.strip() if cf.exists else _fallback(settings),
            crop=rec.crop,
            mask=(folder / rec.mask) if rec.mask else None,
            caption_path=cpath,
            flags=rec.flags,
            caption_from_folder=not cf.exists,
            erased=(folder / rec.erased) if rec.erased else None,
        )

    def to_dataset(self, include_excluded: bool = True) -> Dataset:
        concepts = []
        for s in self.settings.concepts:
            items = tuple(
                it
                for it in (self.item(s.name, k) for k in self.image_keys(s.name))
                if include_excluded or not it.excluded
            )
            concepts.append(
                Concept(
                    name=s.name,
                    folder=self.root / s.folder,
                    repeats=s.repeats,
                    trigger=s.trigger,
                    class_word=s.class_word,
                    kind=s.kind,
                    items=items,
                    notes=s.notes,
                )
            )
        return Dataset(concepts=tuple(concepts), root=self.root)


def _fallback(s: ConceptSettings) -> str:
    return " ".join(t for t in (s.trigger.strip(), s.class_word.strip()) if t) or s.name


# -- create / open / save ------------------------------------------------------------------------------


def is_project(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / PROJECT_FILE).is_file()


def create_project(root: str | os.PathLike[str], name: str = "", base_model: str = "") -> Project:
    """Make a new project in ``root`` (which must not exist or be empty)."""
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise DatasetError(
            f"The folder {root} is not empty.", hint="Choose a new or empty folder for the project."
        )
    (root / DATASET_DIR).mkdir(parents=True, exist_ok=True)
    project = Project(root, ProjectSettings(name=name or root.name, base_model=base_model))
    save(project)
    return project


def open_project(root: str | os.PathLike[str]) -> Project:
    """Open an existing project folder."""
    root = Path(root)
    path = root / PROJECT_FILE
    if not path.is_file():
        raise DatasetError(f"{root} is not a LoRA Studio project (there is no {PROJECT_FILE}).")
    raw = _read_toml(path)
    mine = {f.name for f in dataclasses.fields(ProjectSettings)}
    try:
        settings, unknown = from_toml_dict(
            ProjectSettings, {k: v for k, v in raw.items() if k in mine}, current_version=SCHEMA_VERSION
        )
    except ConfigError as exc:
        raise DatasetError(f"The project file is damaged: {exc.message}", hint=exc.hint) from exc
    if unknown:
        log.warning("Unknown settings in %s: %s", path, ", ".join(unknown))
    project = Project(root, settings, {k: v for k, v in raw.items() if k not in mine})
    for c in settings.concepts:
        project.records[c.name] = _read_records(root / c.folder)
    return project


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(
            f"The file {path.name} in {path.parent} is damaged: {exc}.", hint="Fix or delete that file."
        ) from exc


def _read_records(folder: Path) -> dict[str, ItemRecord]:
    path = folder / CONCEPT_FILE
    if not path.is_file():
        return {}
    try:
        records, _ = from_toml_dict(ConceptRecords, _read_toml(path), current_version=SCHEMA_VERSION)
    except ConfigError as exc:
        raise DatasetError(f"The picture settings in {path} are damaged: {exc.message}") from exc
    return {r.image: r for r in records.items}


def save(project: Project) -> None:
    """Write ``project.toml`` and every concept's picture settings (each atomically)."""
    data = {**project._extra, **to_dict(project.settings)}
    atomic_write_text(project.root / PROJECT_FILE, tomli_w.dumps(data))
    for c in project.settings.concepts:
        _save_records(project, c.name)


def _save_records(project: Project, concept: str) -> None:
    folder = project.concept_dir(concept)
    path = folder / CONCEPT_FILE
    # Linked pictures must always be listed; local ones only when they carry something.
    useful = [
        r
        for r in project.records.get(concept, {}).values()
        if r != ItemRecord(image=r.image) or Path(r.image).is_absolute()
    ]
    if not useful and not path.exists():
        return
    useful.sort(key=lambda r: natural_key(Path(r.image).name))
    atomic_write_text(path, tomli_w.dumps(to_dict(ConceptRecords(items=tuple(useful)))))


def _save_settings(project: Project, settings: ProjectSettings) -> None:
    project.settings = settings
    data = {**project._extra, **to_dict(settings)}
    atomic_write_text(project.root / PROJECT_FILE, tomli_w.dumps(data))


def _put(project: Project, concept: str, record: ItemRecord) -> None:
    project.records.setdefault(concept, {})[record.image] = record
    _save_records(project, concept)


# -- concepts --------------------------------------------------------------------------------------------


def add_concept(
    project: Project,
    name: str,
    *,
    repeats: int = 1,
    trigger: str = "",
    class_word: str = "",
    kind: ConceptKind = ConceptKind.TRAINING,
    notes: str = "",
) -> ConceptSettings:
    """Add a concept with its own folder under ``dataset/``."""
    name = name.strip()
    if not name:
        raise DatasetError("A concept needs a name.")
    if any(c.name == name for c in project.concepts):
        raise DatasetError(f"There is already a concept called '{name}'.", hint="Choose another name.")
    if repeats < 1:
        raise DatasetError("Repeats must be 1 or more.")
    folder = unique_folder(project.root / DATASET_DIR, safe_name(name, "concept"))
    folder.mkdir(parents=True)
    settings = ConceptSettings(
        name=name,
        folder=folder.relative_to(project.root).as_posix(),
        repeats=repeats,
        trigger=trigger.strip(),
        class_word=class_word.strip(),
        kind=ConceptKind(kind),
        notes=notes,
    )
    project.records[name] = {}
    _save_settings(project, dataclasses.replace(project.settings, concepts=(*project.concepts, settings)))
    return settings


def update_concept(project: Project, name: str, **changes: Any) -> ConceptSettings:
    """Change repeats, trigger, class_word, kind or notes (use :func:`rename_concept` for the name)."""
    allowed = {"repeats", "trigger", "class_word", "kind", "notes"}
    if bad := set(changes) - allowed:
        raise DatasetError(f"Cannot change {', '.join(sorted(bad))} of a concept this way.")
    if "repeats" in changes and int(changes["repeats"]) < 1:
        raise DatasetError("Repeats must be 1 or more.")
    if "kind" in changes:
        changes["kind"] = ConceptKind(changes["kind"])
    new = dataclasses.replace(project.concept(name), **changes)
    _save_settings(
        project,
        dataclasses.replace(
            project.settings, concepts=tuple(new if c.name == name else c for c in project.concepts)
        ),
    )
    return new


def rename_concept(project: Project, old: str, new: str) -> ConceptSettings:
    """Rename a concept and its folder."""
    new = new.strip()
    current = project.concept(old)
    if new == old:
        return current
    if not new or any(c.name == new for c in project.concepts):
        raise DatasetError(f"Cannot rename to '{new}': the name is empty or already used.")
    src = project.root / current.folder
    dst = unique_folder(project.root / DATASET_DIR, safe_name(new, "concept"))
    if src.exists():
        os.replace(src, dst)
    else:
        dst.mkdir(parents=True)
    updated = dataclasses.replace(current, name=new, folder=dst.relative_to(project.root).as_posix())
    project.records[new] = project.records.pop(old, {})
    _save_settings(
        project,
        dataclasses.replace(
            project.settings, concepts=tuple(updated if c.name == old else c for c in project.concepts)
        ),
    )
    return updated


def remove_concept(project: Project, name: str) -> Path | None:
    """Take a concept out of the project; its folder moves to ``.trash`` (returned)."""
    settings = project.concept(name)
    folder = project.root / settings.folder
    moved = _to_trash(project, folder) if folder.exists() else None
    project.records.pop(name, None)
    _save_settings(
        project,
        dataclasses.replace(project.settings, concepts=tuple(c for c in project.concepts if c.name != name)),
    )
    return moved


def _to_trash(project: Project, path: Path) -> Path:
    bin_dir = project.root / TRASH_DIR / time.strftime("%Y%m%d-%H%M%S")
    bin_dir.mkdir(parents=True, exist_ok=True)
    target = unique_folder(bin_dir, path.name)
    shutil.move(str(path), str(target))
    return target


# -- pictures ---------------------------------------------------------------------------------------------


def _expand(files: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out: list[Path] = []
    for f in files:
        p = Path(f)
        if p.is_dir():
            out.extend(sorted((x for x in p.rglob("*") if x.is_file()), key=lambda x: natural_key(str(x))))
        else:
            out.append(p)
    return out


def _source_caption(src: Path, extensions: tuple[str, ...]) -> Path | None:
    for ext in extensions:
        p = cap.sidecar_path(src, ext)
        if p.is_file():
            return p
    return None


def add_images(
    project: Project,
    concept: str,
    files: Iterable[str | os.PathLike[str]],
    *,
    copy: bool = True,
    caption_extensions: tuple[str, ...] = cap.CAPTION_EXTENSIONS,
    reporter: Reporter = null_reporter,
    control: RunControl | None = None,
) -> AddResult:
    """Add pictures (or whole folders) to a concept. Their caption files come along.

    ``copy=True`` copies each picture into the concept folder under a name no other picture
    there uses (``photo_2.jpg`` …), so nothing is ever overwritten. ``copy=False`` links the
    picture where it is; its caption is still kept in the project. A picture's caption is the first
    of ``caption_extensions`` found next to it, copied byte for byte. Damaged pictures are added too:
    the check reports them. A picture whose bytes are already in the concept is skipped.
    """
    folder = project.concept_dir(concept)
    folder.mkdir(parents=True, exist_ok=True)
    paths = _expand(files)
    image_stems = {(p.resolve().parent, p.stem) for p in paths if is_image_file(p)}
    keys = project.image_keys(concept)
    stems = {Path(k).stem for k in keys}
    hashes: dict[str, Path] | None = None
    added: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for i, src in enumerate(paths):
        if control is not None:
            control.checkpoint()
        reporter(Progress(i, len(paths), f"Adding {src.name}"))
        if not src.is_file():
            skipped.append((src, "the file does not exist"))
            continue
        if not is_image_file(src):
            if (src.resolve().parent, src.stem) not in image_stems:  # a caption travels with its picture
                skipped.append(
                    (src, f"'{src.suffix or src.name}' is not a picture type LoRA Studio trains on")
                )
            continue
        if hashes is None:
            hashes = {}
            for k in keys:
                p = project.image_path(concept, k)
                if p.is_file():
                    hashes.setdefault(file_sha256(p), p)
        digest = file_sha256(src)
        if digest in hashes:
            skipped.append((src, f"the same picture is already in this concept ({hashes[digest].name})"))
            continue
        stem = unique_stem(safe_name(src.stem, "image"), stems)
        stems.add(stem)
        if copy:
            dest = folder / f"{stem}{src.suffix}"
            atomic_write_with(dest, functools.partial(shutil.copyfile, src))
            key = dest.name
            record = ItemRecord(image=key, source=str(src.resolve()))
        else:
            dest = src.resolve()
            key = str(dest)
            record = ItemRecord(image=key)
            if stem != src.stem:
                # The caption lives in the concept folder under the picture's stem; keep them paired.
                skipped.append((src, f"another picture in this concept is already called '{src.stem}'"))
                continue
        project.records.setdefault(concept, {})[key] = record
        hashes[digest] = dest
        src_caption = _source_caption(src, caption_extensions)
        if src_caption is not None:
            target = folder / f"{stem}{CAPTION_EXTENSION}"
            atomic_write_with(target, functools.partial(shutil.copyfile, src_caption))
        added.append(dest)
    _save_records(project, concept)
    reporter(Progress(len(paths), len(paths), f"Added {len(added)} picture(s)"))
    return AddResult(tuple(added), tuple(skipped))


def adopt_additions(project: Project, before: Project, worked_on: Project) -> None:
    """Take into ``project`` what a worker added to ``worked_on`` (a snapshot that was equal to
    ``before``): new concepts and new picture records; then save. The live project is only changed
    on its own thread, and edits made to it meanwhile stay."""
    known = {c.name for c in project.concepts}
    old = {c.name for c in before.concepts}
    new = tuple(c for c in worked_on.concepts if c.name not in old and c.name not in known)
    if new:
        project.settings = dataclasses.replace(project.settings, concepts=project.concepts + new)
    for concept, records in worked_on.records.items():
        seen = before.records.get(concept, {})
        live = project.records.setdefault(concept, {})
        for key, record in records.items():
            if key not in seen:
                live.setdefault(key, record)
    save(project)


def remove_items(project: Project, concept: str, images: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Take pictures out of a concept. Copies, captions and masks move to ``.trash``; linked
    originals stay where they are. Returns the new places of the moved files."""
    folder = project.concept_dir(concept)
    moved: list[Path] = []
    records = project.records.setdefault(concept, {})
    for image in images:
        key = project.item_key(concept, image)
        rec = records.pop(key, None)
        path = project.image_path(concept, key)
        if not Path(key).is_absolute() and path.exists():
            moved.append(_to_trash(project, path))
        cpath = project.caption_path(concept, key)
        if cpath.exists():
            moved.append(_to_trash(project, cpath))
        for extra in (rec.mask, rec.erase, rec.erased) if rec is not None else ():
            if extra and (folder / extra).exists():
                moved.append(_to_trash(project, folder / extra))
    _save_records(project, concept)
    return moved


def _require_item(project: Project, concept: str, image: str | os.PathLike[str]) -> tuple[str, Path]:
    key = project.item_key(concept, image)
    path = project.image_path(concept, key)
    if key not in project.image_keys(concept):
        raise DatasetError(f"The picture {Path(key).name} is not in the concept '{concept}'.")
    return key, path


def set_crop(project: Project, concept: str, image: str | os.PathLike[str], crop: CropBox | None) -> None:
    """Store (or clear) the crop of a picture. The picture itself is never cut."""
    key, path = _require_item(project, concept, image)
    if crop is not None:
        info = probe_image(path)
        if not crop_is_valid(crop, info.width, info.height):
            raise DatasetError(
                f"The crop {crop.width}×{crop.height} at ({crop.x}, {crop.y}) does not fit inside "
                f"{path.name} ({info.width}×{info.height})."
            )
    _put(project, concept, dataclasses.replace(project.record(concept, key), crop=crop))


def set_flags(project: Project, concept: str, image: str | os.PathLike[str], flags: Iterable[str]) -> None:
    key, _ = _require_item(project, concept, image)
    _put(
        project, concept, dataclasses.replace(project.record(concept, key), flags=tuple(dict.fromkeys(flags)))
    )


def set_mask(
    project: Project, concept: str, image: str | os.PathLike[str], mask: Image.Image | None
) -> Path | None:
    """Save a painted mask (same size as the upright picture) as ``masks/<stem>.mask.png``.

    ``None`` removes the mask. Any mode is accepted; it is stored as 8-bit greyscale.
    """
    key, path = _require_item(project, concept, image)
    folder = project.concept_dir(concept)
    rec = project.record(concept, key)
    if mask is None:
        if rec.mask:
            (folder / rec.mask).unlink(missing_ok=True)
        _put(project, concept, dataclasses.replace(rec, mask=None))
        return None
    info = probe_image(path)
    if mask.size != (info.width, info.height):
        raise DatasetError(
            f"The mask is {mask.size[0]}×{mask.size[1]} but the picture is {info.width}×{info.height}.",
            hint="Paint the mask on the picture as shown (after rotation).",
        )
    grey = mask.convert("L")
    rel = f"{MASK_DIR}/{Path(key).stem}.mask.png"
    atomic_write_with(folder / rel, lambda tmp: grey.save(tmp, format="PNG"))
    _put(project, concept, dataclasses.replace(rec, mask=rel))
    return folder / rel


def set_erase(
    project: Project, concept: str, image: str | os.PathLike[str], region: Image.Image | None
) -> Path | None:
    """Fill the painted ``region`` (white = erase; same size as the upright picture) in a copy of
    the picture and train on that copy. Returns the copy's path.

    The region is kept as ``masks/<stem>.erase.png`` (to paint on later) and the copy as
    ``erased/<stem>.png``; the original file is never changed. ``None`` or an empty region removes
    both, and the original is trained on again.
    """
    files = write_erase_files(project, concept, image, region)
    return record_erase(project, concept, image, files)


def write_erase_files(
    project: Project, concept: str, image: str | os.PathLike[str], region: Image.Image | None
) -> tuple[str, str] | None:
    """The slow half of :func:`set_erase` (decode, fill, write two PNGs), safe on a worker thread:
    it only writes this picture's own files. Returns their paths relative to the concept folder,
    or ``None`` for an empty region. Pass the result to :func:`record_erase` (on one thread)."""
    key, path = _require_item(project, concept, image)
    if region_is_empty(region):
        return None
    assert region is not None
    cleaned = fill_region(load_upright(path), region)  # a region of another size is refused there
    folder = project.concept_dir(concept)
    stem = Path(key).stem
    region_rel, copy_rel = f"{MASK_DIR}/{stem}.erase.png", f"{ERASED_DIR}/{stem}.png"
    grey = region.convert("L")
    atomic_write_with(folder / region_rel, lambda tmp: grey.save(tmp, format="PNG"))
    atomic_write_with(folder / copy_rel, lambda tmp: cleaned.save(tmp, format="PNG"))
    return region_rel, copy_rel


def record_erase(
    project: Project, concept: str, image: str | os.PathLike[str], files: tuple[str, str] | None
) -> Path | None:
    """Store what :func:`write_erase_files` made (``None``: remove the region and the copy)."""
    key, _ = _require_item(project, concept, image)
    folder = project.concept_dir(concept)
    rec = project.record(concept, key)
    if files is None:
        for rel in (rec.erase, rec.erased):
            if rel:
                (folder / rel).unlink(missing_ok=True)
        _put(project, concept, dataclasses.replace(rec, erase=None, erased=None))
        return None
    region_rel, copy_rel = files
    _put(project, concept, dataclasses.replace(rec, erase=region_rel, erased=copy_rel))
    return folder / copy_rel


def set_caption(project: Project, concept: str, image: str | os.PathLike[str], text: str) -> Path:
    """Write one caption (no undo; the panel goes through ``edits.EditStack`` instead)."""
    key, _ = _require_item(project, concept, image)
    path = project.caption_path(concept, key)
    cap.write_caption(path, text)
    return path


def send_to_dataset(
    project: Project, concept: str, image_path: str | os.PathLike[str], caption: str = ""
) -> Path:
    """Copy a (generated) picture into a concept with a caption; returns the copy's path."""
    result = add_images(project, concept, [image_path], copy=True)
    if not result.added:
        reason = result.skipped[0][1] if result.skipped else "unknown reason"
        raise DatasetError(f"{Path(image_path).name} was not added: {reason}.")
    dest = result.added[0]
    if caption.strip():
        cap.write_caption(project.caption_path(concept, dest), caption.strip())
    return dest
