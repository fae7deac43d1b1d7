"""Undoable changes to which pictures a project holds: moving or copying pictures between concepts,
removing them, and adding them (an import, recorded after it ran).

Every change is a :class:`PictureEdit`: a list of file renames inside the project plus the picture
records of the concepts it touches, before and after. Applying renames forward and takes the "after"
records; undoing renames back and takes the "before" records. Nothing leaves the project folder:
removed pictures, and copies taken back by an undo, wait in ``.trash``. A picture travels with its
caption, mask, erase region and cleaned copy, all or nothing; a name already used in the target
concept gets a numbered name (``photo_2``), never an overwrite. Originals outside the project
(linked pictures, the files an import copied from) are never touched.

A PictureEdit goes on the same undo history as caption edits (``edits.EditStack.record``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lora_studio.core.errors import DatasetError
from lora_studio.core.fileio import atomic_write_with
from lora_studio.dataset import project as proj
from lora_studio.dataset.naming import safe_name, unique_folder, unique_stem

Records = dict[str, dict[str, proj.ItemRecord]]


@dataclass(frozen=True, slots=True)
class FileMove:
    src: Path  # where the file is before the edit
    dst: Path  # where the edit puts it


@dataclass(frozen=True)
class PictureEdit:
    label: str  # shown in the Edit menu: "Undo Move 2 pictures to “cat”"
    project: proj.Project = field(repr=False, compare=False)
    moves: tuple[FileMove, ...]
    before: Records  # the touched concepts' records before the edit
    after: Records
    pictures: tuple[Path, ...] = ()  # the pictures as they are after the edit
    skipped: tuple[tuple[Path, str], ...] = ()  # pictures left alone, with the reason
    changes: tuple[()] = ()  # no caption edits (caption listeners look at this)

    def __len__(self) -> int:
        return len(self.pictures)

    def apply(self, *, forward: bool, force: bool = False) -> None:
        """Do (``forward``) or undo the edit: all renames or none, then the records."""
        moves = [(m.src, m.dst) if forward else (m.dst, m.src) for m in self.moves]
        if not forward:
            moves.reverse()
        missing = [a.name for a, _ in moves if not a.exists()]
        taken = [b.name for _, b in moves if b.exists()]
        gone = [c for c in self.after if not _has_concept(self.project, c)]
        if gone:
            raise DatasetError(
                f"The concept “{gone[0]}” is no longer in the project, so this can't be undone or redone."
            )
        if (missing or taken) and not force:
            names = ", ".join((missing or taken)[:5])
            raise DatasetError(
                f"Pictures changed outside LoRA Studio ({names}).",
                hint="Reload the project; the undo history no longer matches the files.",
            )
        done: list[tuple[Path, Path]] = []
        try:
            for a, b in moves:
                b.parent.mkdir(parents=True, exist_ok=True)
                if b.exists():  # never overwrite, even with force
                    raise FileExistsError(f"{b.name} already exists")
                os.replace(a, b)
                done.append((a, b))
        except OSError as exc:
            for a, b in reversed(done):
                try:
                    os.replace(b, a)
                except OSError:
                    pass
            raise DatasetError(
                f"A picture could not be moved: {exc}.", hint="Is the file open in another program?"
            ) from exc
        records = self.after if forward else self.before
        for concept, recs in records.items():
            self.project.records[concept] = dict(recs)
        proj.save(self.project)


def _has_concept(project: proj.Project, name: str) -> bool:
    return any(c.name == name for c in project.concepts)


def _records(project: proj.Project, concepts: Iterable[str]) -> Records:
    return {c: dict(project.records.get(c, {})) for c in concepts}


def _before_after(
    project: proj.Project, concepts: Iterable[str], taken: dict[str, list[str]]
) -> tuple[Records, Records]:
    """The touched concepts' records now, and without the ``taken`` keys."""
    before, after = _records(project, concepts), _records(project, concepts)
    for concept, keys in taken.items():
        for key in keys:
            after[concept].pop(key, None)
    return before, after


def _applied(edit: PictureEdit) -> PictureEdit:
    if edit.pictures:
        edit.apply(forward=True)
    return edit


def _pictures(n: int) -> str:
    return f"{n} picture{'s' if n != 1 else ''}"


def _trash_bin(project: proj.Project) -> Path:
    """A fresh folder in ``.trash`` for one edit's files (made when a file first goes there)."""
    return unique_folder(project.root / proj.TRASH_DIR, time.strftime("%Y%m%d-%H%M%S"))


def _sidecars(project: proj.Project, concept: str, key: str) -> list[tuple[str, Path]]:
    """(record field or "caption", path) of a picture's files in its concept folder that exist."""
    folder = project.concept_dir(concept)
    rec = project.record(concept, key)
    out: list[tuple[str, Path]] = []
    caption = project.caption_path(concept, key)
    if caption.exists():
        out.append(("caption", caption))
    for name in ("mask", "erase", "erased"):
        rel = getattr(rec, name)
        if rel and (folder / rel).exists():
            out.append((name, folder / rel))
    return out


def _leftovers(folder: Path, stem: str) -> bool:
    """Whether files named after ``stem`` (a caption, a mask) already lie in a concept folder."""
    return any(
        (folder / rel).exists()
        for rel in (
            f"{stem}{proj.CAPTION_EXTENSION}",
            f"{proj.MASK_DIR}/{stem}.mask.png",
            f"{proj.MASK_DIR}/{stem}.erase.png",
            f"{proj.ERASED_DIR}/{stem}.png",
        )
    )


def _renamed(rel: str, old_stem: str, new_stem: str) -> str:
    """``masks/photo.mask.png`` -> ``masks/photo_2.mask.png`` (a sidecar follows its picture's stem)."""
    p = Path(rel)
    name = new_stem + p.name[len(old_stem) :] if p.name.startswith(old_stem) else f"{new_stem}-{p.name}"
    return (p.parent / name).as_posix()


def transfer(
    project: proj.Project, pictures: Iterable[tuple[str, str]], target: str, *, copy: bool
) -> PictureEdit:
    """Move (or copy) ``pictures`` — (concept, key) pairs — into the concept ``target``, each with
    its caption, mask and erase files. Returns the applied edit (record it for undo)."""
    tfolder = project.concept_dir(target)
    tstems = {Path(k).stem for k in project.image_keys(target)}
    staging = _trash_bin(project) / "copies" if copy else None
    moves: list[FileMove] = []
    skipped: list[tuple[Path, str]] = []
    placed: list[Path] = []
    touched = {target}
    new_records: dict[str, proj.ItemRecord] = {}
    taken_keys: dict[str, list[str]] = {}
    for concept, key in pictures:
        path = project.image_path(concept, key)
        if concept == target:
            skipped.append((path, f"it is already in “{target}”"))
            continue
        linked = Path(key).is_absolute()
        if not linked and not path.exists():
            skipped.append((path, "the file is missing"))
            continue
        stem = Path(key).stem
        new_stem = unique_stem(safe_name(stem, "image"), tstems)
        while not linked and _leftovers(tfolder, new_stem):  # e.g. a caption whose picture went
            tstems.add(new_stem)
            new_stem = unique_stem(safe_name(stem, "image"), tstems)
        if linked and new_stem != stem:
            skipped.append((path, f"another picture in “{target}” is already called '{stem}'"))
            continue
        tstems.add(new_stem)
        rec = project.record(concept, key)
        new_key = key if linked else f"{new_stem}{path.suffix}"
        files = [] if linked else [("image", path)]
        files += _sidecars(project, concept, key)
        changes: dict[str, str | None] = {}
        for kind, src in files:
            if kind == "image":
                dst = tfolder / new_key
            elif kind == "caption":
                dst = tfolder / f"{new_stem}{proj.CAPTION_EXTENSION}"
            else:
                changes[kind] = _renamed(getattr(rec, kind), stem, new_stem)
                dst = tfolder / str(changes[kind])
            if staging is not None:  # a copy is made aside first, then moved in like a move
                stage = staging / concept / src.relative_to(project.concept_dir(concept))
                stage.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_with(stage, functools.partial(shutil.copyfile, src))
                src = stage
            moves.append(FileMove(src, dst))
        for kind in ("mask", "erase", "erased"):  # a record pointing at a missing file keeps nothing
            if getattr(rec, kind) and kind not in changes:
                changes[kind] = None
        new_records[new_key] = dataclasses.replace(
            rec,
            image=new_key,
            mask=changes.get("mask", rec.mask),
            erase=changes.get("erase", rec.erase),
            erased=changes.get("erased", rec.erased),
        )
        placed.append(tfolder / new_key if not linked else path)
        if not copy:
            taken_keys.setdefault(concept, []).append(key)
            touched.add(concept)
    before, after = _before_after(project, touched, taken_keys)
    after[target].update(new_records)
    verb = "Copy" if copy else "Move"
    return _applied(
        PictureEdit(
            label=f"{verb} {_pictures(len(placed))} to “{target}”",
            project=project,
            moves=tuple(moves),
            before=before,
            after=after,
            pictures=tuple(placed),
            skipped=tuple(skipped),
        )
    )


def remove(project: proj.Project, pictures: Iterable[tuple[str, str]]) -> PictureEdit:
    """Take pictures out of the project: the project's copies, captions, masks and erase files move
    to ``.trash``; linked originals stay where they are. Returns the applied edit."""
    bin_dir = _trash_bin(project)
    moves: list[FileMove] = []
    touched: dict[str, list[str]] = {}
    gone: list[Path] = []
    for concept, key in pictures:
        folder = project.concept_dir(concept)
        path = project.image_path(concept, key)
        files = [] if Path(key).is_absolute() or not path.exists() else [("image", path)]
        for _, src in files + _sidecars(project, concept, key):
            moves.append(FileMove(src, bin_dir / folder.name / src.relative_to(folder)))
        touched.setdefault(concept, []).append(key)
        gone.append(path)
    before, after = _before_after(project, set(touched), touched)
    return _applied(
        PictureEdit(
            label=f"Remove {_pictures(len(gone))}",
            project=project,
            moves=tuple(moves),
            before=before,
            after=after,
            pictures=tuple(gone),
        )
    )


def import_edit(
    project: proj.Project, concept: str, added: Iterable[Path], before: dict[str, proj.ItemRecord]
) -> PictureEdit:
    """The undo record of an import that already ran: ``added`` are the pictures as they are in the
    project now, ``before`` the concept's records before. Undo moves the copies (and the captions
    that came with them) to ``.trash`` and forgets linked pictures; redo brings them back."""
    bin_dir = _trash_bin(project)
    folder = project.concept_dir(concept)
    moves: list[FileMove] = []
    added = tuple(added)
    for path in added:
        key = project.item_key(concept, path)
        files = [] if Path(key).is_absolute() else [("image", path)]
        for _, file in files + _sidecars(project, concept, key):
            moves.append(FileMove(bin_dir / folder.name / file.relative_to(folder), file))
    return PictureEdit(
        label=f"Add {_pictures(len(added))} to “{concept}”",
        project=project,
        moves=tuple(moves),
        before={concept: dict(before)},
        after=_records(project, [concept]),
        pictures=added,
    )
