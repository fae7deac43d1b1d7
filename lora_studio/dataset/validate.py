"""Check a dataset before training: every problem at once, in plain words, with a fix id if any.

:func:`iter_issues` yields issues as it goes (cancellable through a ``RunControl``, with
``Progress`` events); :func:`check_dataset` collects them. Pictures are only read.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lora_studio.core.control import RunControl
from lora_studio.core.errors import DatasetError
from lora_studio.core.events import Progress, Reporter, null_reporter
from lora_studio.core.issues import Issue, Severity
from lora_studio.dataset import captions as cap
from lora_studio.dataset.images import ImageInfo, ImageReadError, dhash, file_sha256, load_rgb, probe_image
from lora_studio.dataset.io import load_dataset
from lora_studio.dataset.items import Concept, Dataset, Item
from lora_studio.dataset.oddities import folder_oddities
from lora_studio.dataset.ops import Size, crop_is_valid, effective_training_size

MIN_USEFUL_SIDE = 64  # below this a picture carries almost nothing to learn
MAX_ASPECT = 4.0  # wider or taller than 4:1 no bucket fits (kohya's buckets stop near there too)


class Fix(enum.StrEnum):
    """Actions the app can offer for an issue (the panel maps them to buttons)."""

    REMOVE_ITEM = "remove-item"
    CONVERT_CAPTION_UTF8 = "convert-caption-utf8"
    WRITE_CAPTION = "write-caption"
    SHORTEN_CAPTION = "shorten-caption"
    ALPHA_TO_MASK = "alpha-to-mask"
    SET_REPEATS = "set-repeats"
    ADD_IMAGES = "add-images"
    RESET_CROP = "reset-crop"


@dataclass(frozen=True, slots=True)
class _Fingerprint:
    info: ImageInfo | None
    sha256: str | None
    dhash: int | None
    error: ImageReadError | None


# (path, size, mtime_ns) -> fingerprint; pass the same dict again to skip unchanged pictures.
CheckCache = dict[tuple[str, int, int], _Fingerprint]


def _fingerprint(path: Path, cache: CheckCache | None) -> _Fingerprint:
    try:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    if cache is not None and key is not None and key in cache:
        return cache[key]
    info = sha = ph = None
    error: ImageReadError | None = None
    try:
        info = probe_image(path)
        sha = file_sha256(path)
        ph = dhash(load_rgb(path, draft=(64, 64)))  # full decode: finds cut-off files
    except ImageReadError as exc:
        error = exc
    fp = _Fingerprint(info, sha, ph, error)
    if cache is not None and key is not None:
        cache[key] = fp
    return fp


def _image_issues(
    item: Item, concept: Concept, fp: _Fingerprint, resolution: int, buckets
) -> Iterator[Issue]:
    p, c = item.image, concept.name
    if fp.error is not None:
        yield Issue(
            Severity.ERROR,
            fp.error.code,
            p,
            f"{fp.error.message} {fp.error.hint}".strip(),
            Fix.REMOVE_ITEM,
            c,
        )
        return
    info = fp.info
    assert info is not None
    if not info.supported:
        yield Issue(
            Severity.ERROR,
            "unsupported-format",
            p,
            f"{p.name} is a {info.format or 'unknown'} file; LoRA Studio trains on PNG, JPEG, WebP and BMP.",
            Fix.REMOVE_ITEM,
            c,
        )
    if info.exif_rotated:
        yield Issue(
            Severity.INFO,
            "exif-rotated",
            p,
            f"{p.name} is stored turned; it will be used upright, as shown.",
            None,
            c,
        )
    if info.has_alpha:
        yield Issue(
            Severity.WARNING,
            "transparency",
            p,
            f"{p.name} has transparent areas; they will be filled with white. "
            "To train only on the visible part, use the transparency as a mask.",
            Fix.ALPHA_TO_MASK,
            c,
        )
    if info.is_cmyk:
        yield Issue(
            Severity.WARNING,
            "cmyk",
            p,
            f"{p.name} uses print colours (CMYK); colours may shift a little when converted to screen colours.",
            None,
            c,
        )
    if info.bit_depth > 8:
        yield Issue(
            Severity.INFO,
            "high-bit-depth",
            p,
            f"{p.name} has {info.bit_depth}-bit colour; it will be reduced to 8-bit.",
            None,
            c,
        )
    if item.crop is not None and not crop_is_valid(item.crop, info.width, info.height):
        yield Issue(
            Severity.ERROR,
            "crop-out-of-bounds",
            p,
            f"The crop of {p.name} reaches outside the picture ({info.width}×{info.height}).",
            Fix.RESET_CROP,
            c,
        )
        return
    if min(info.width, info.height) < MIN_USEFUL_SIDE:
        yield Issue(
            Severity.ERROR,
            "too-small",
            p,
            f"{p.name} is only {info.width}×{info.height} pixels, far too small to learn from.",
            Fix.REMOVE_ITEM,
            c,
        )
        return
    w, h = (item.crop.width, item.crop.height) if item.crop is not None else (info.width, info.height)
    if max(w, h) > MAX_ASPECT * min(w, h):
        yield Issue(
            Severity.WARNING,
            "extreme-aspect",
            p,
            f"{p.name} is {w}×{h} ({max(w, h) / min(w, h):.0f}:1); training squeezes it into the nearest bucket, "
            "so most of it is lost or distorted. Crop it into parts.",
            None,
            c,
        )
    ts = effective_training_size((info.width, info.height), resolution, item.crop, buckets)
    if ts.upscaled:
        used = "the crop of " if item.crop else ""
        yield Issue(
            Severity.WARNING,
            "smaller-than-resolution",
            p,
            f"{used}{p.name} is {ts.source[0]}×{ts.source[1]}, smaller than the training size "
            f"{ts.bucket[0]}×{ts.bucket[1]}; it will be enlarged ({ts.scale:.1f}×) and may look soft.",
            None,
            c,
        )


def _mask_issues(item: Item, concept: Concept, info: ImageInfo | None) -> Iterator[Issue]:
    if item.mask is None:
        return
    if not item.mask.is_file():
        yield Issue(
            Severity.WARNING,
            "mask-missing",
            item.mask,
            f"The mask of {item.image.name} is missing.",
            None,
            concept.name,
        )
        return
    try:
        m = probe_image(item.mask)
    except ImageReadError as exc:
        yield Issue(Severity.WARNING, "mask-unreadable", item.mask, exc.message, None, concept.name)
        return
    if info is not None and (m.width, m.height) != (info.width, info.height):
        yield Issue(
            Severity.WARNING,
            "mask-size",
            item.mask,
            f"The mask of {item.image.name} is {m.width}×{m.height} but the picture is {info.width}×{info.height}.",
            None,
            concept.name,
        )


def _erased_issues(item: Item, concept: Concept, info: ImageInfo | None) -> Iterator[Issue]:
    """The cleaned copy (an erased watermark) is what training reads: it must exist and fit."""
    if item.erased is None:
        return
    hint = (
        "Open the picture's Mask tab and paint the erase region again (or clear it to train on the original)."
    )
    try:
        copy = probe_image(item.erased)
    except ImageReadError as exc:
        yield Issue(
            Severity.ERROR,
            "erased-missing",
            item.image,
            f"The cleaned copy of {item.image.name} (with the erased region) cannot be used: {exc.message} {hint}",
            None,
            concept.name,
        )
        return
    if info is not None and (copy.width, copy.height) != (info.width, info.height):
        yield Issue(
            Severity.ERROR,
            "erased-size",
            item.image,
            f"The cleaned copy of {item.image.name} is {copy.width}×{copy.height} but the picture is now "
            f"{info.width}×{info.height}; the picture was probably replaced. {hint}",
            None,
            concept.name,
        )


def _caption_issues(
    item: Item, concept: Concept, token_limit: int, counter: cap.TokenCounter | None
) -> Iterator[Issue]:
    p, c = item.caption_path, concept.name
    cf = cap.read_caption(p) if p is not None else None
    if cf is None or not cf.exists:
        if item.caption.strip():
            msg = f"{item.image.name} has no caption file; '{item.caption}' (the folder name) will be used."
            # Regularization pictures usually carry just the class word: that is expected.
            severity = Severity.INFO if concept.is_regularization else Severity.WARNING
            yield Issue(severity, "missing-caption", p or item.image, msg, Fix.WRITE_CAPTION, c)
        else:
            msg = f"{item.image.name} has no caption; it will be trained with an empty caption."
            yield Issue(Severity.WARNING, "missing-caption", p or item.image, msg, Fix.WRITE_CAPTION, c)
        return
    assert p is not None
    if cf.other_encoding:
        yield Issue(
            Severity.ERROR,
            "caption-encoding",
            p,
            f"The caption {p.name} is not saved as UTF-8 (it looks like {cf.encoding}); other tools and "
            "the trainer may read its letters wrongly. It was left unchanged.",
            Fix.CONVERT_CAPTION_UTF8,
            c,
        )
    elif cf.has_bom:
        yield Issue(
            Severity.WARNING,
            "caption-bom",
            p,
            f"The caption {p.name} starts with an invisible UTF-8 mark that kohya's scripts read as part of "
            "the first word.",
            Fix.CONVERT_CAPTION_UTF8,
            c,
        )
    if not cf.text.strip():
        yield Issue(
            Severity.WARNING, "empty-caption", p, f"The caption {p.name} is empty.", Fix.WRITE_CAPTION, c
        )
    tokens = cap.count_tokens(cf.text, counter)
    if tokens > token_limit:
        yield Issue(
            Severity.WARNING,
            "caption-too-long",
            p,
            f"The caption {p.name} is {tokens} tokens long; only the first {token_limit} are used.",
            Fix.SHORTEN_CAPTION,
            c,
        )


def _concept_issues(concept: Concept) -> Iterator[Issue]:
    if not concept.items:
        severity = Severity.WARNING if concept.is_regularization else Severity.ERROR
        yield Issue(
            severity,
            "empty-concept",
            concept.folder,
            f"The concept '{concept.name}' has no pictures.",
            Fix.ADD_IMAGES,
            concept.name,
        )
    if concept.repeats < 1:
        yield Issue(
            Severity.ERROR,
            "no-repeats",
            concept.folder,
            f"The concept '{concept.name}' has no repeat count; set how many times each picture is shown per epoch.",
            Fix.SET_REPEATS,
            concept.name,
        )
    for odd in folder_oddities(concept.folder):
        if odd.code == "unsupported-format":
            f = odd.path
            yield Issue(
                Severity.ERROR,
                "unsupported-format",
                f,
                f"{f.name} is a {f.suffix.lstrip('.').upper()} file, which LoRA Studio does not train on; it is ignored. "
                "Save it as PNG or JPEG to use it.",
                None,
                concept.name,
            )
        else:
            yield Issue(
                Severity.WARNING, odd.code, odd.path, f"{odd.path.name}: {odd.reason}.", None, concept.name
            )


def _duplicate_issues(
    entries: list[tuple[Item, Concept, _Fingerprint]], max_distance: int
) -> Iterator[Issue]:
    first_by_sha: dict[str, Item] = {}
    exact: set[int] = set()
    for i, (item, concept, fp) in enumerate(entries):
        if fp.sha256 is None:
            continue
        if fp.sha256 in first_by_sha:
            exact.add(i)
            yield Issue(
                Severity.WARNING,
                "duplicate",
                item.image,
                f"{item.image.name} is an exact copy of {first_by_sha[fp.sha256].image.name}.",
                Fix.REMOVE_ITEM,
                concept.name,
            )
        else:
            first_by_sha[fp.sha256] = item
    idx = [i for i, e in enumerate(entries) if e[2].dhash is not None and i not in exact]
    if len(idx) < 2 or max_distance < 0:
        return
    hashes = np.array([entries[i][2].dhash for i in idx], dtype=np.uint64)
    for a in range(1, len(idx)):
        dist = np.bitwise_count(hashes[:a] ^ hashes[a])
        close = np.nonzero(dist <= max_distance)[0]
        if close.size:
            item, concept, _ = entries[idx[a]]
            other = entries[idx[int(close[0])]][0]
            yield Issue(
                Severity.INFO,
                "near-duplicate",
                item.image,
                f"{item.image.name} looks almost the same as {other.image.name}; near-copies make the LoRA "
                "over-learn that picture.",
                Fix.REMOVE_ITEM,
                concept.name,
            )


def iter_issues(
    dataset: Dataset,
    resolution: int = 512,
    token_limit: int = 75,
    *,
    buckets: Sequence[Size] | None = None,
    token_counter: cap.TokenCounter | None = None,
    near_duplicate_distance: int = 4,
    cache: CheckCache | None = None,
    reporter: Reporter = null_reporter,
    control: RunControl | None = None,
) -> Iterator[Issue]:
    """Yield every problem of ``dataset``. ``buckets`` None = square training at ``resolution``.

    ``near_duplicate_distance``: max differing bits of the 64-bit dHash (-1 turns it off).
    """
    for folder, reason in dataset.skipped_folders:
        yield Issue(
            Severity.ERROR,
            "no-repeats",
            folder,
            f"The folder '{folder.name}' is ignored: {reason}.",
            Fix.SET_REPEATS,
            folder.name,
        )
    if not any(c.items for c in dataset.training_concepts()):
        yield Issue(
            Severity.ERROR,
            "no-training-images",
            dataset.root,
            "There are no training pictures.",
            Fix.ADD_IMAGES,
        )
    for concept in dataset.concepts:
        yield from _concept_issues(concept)
    entries: list[tuple[Item, Concept, _Fingerprint]] = []
    total = sum(len(c.items) for c in dataset.concepts)
    for concept in dataset.concepts:
        for item in concept.items:
            if control is not None:
                control.checkpoint()
            reporter(Progress(len(entries), total, f"Checking {item.image.name}"))
            fp = _fingerprint(item.image, cache)
            entries.append((item, concept, fp))
            yield from _image_issues(item, concept, fp, resolution, list(buckets) if buckets else None)
            yield from _mask_issues(item, concept, fp.info)
            yield from _erased_issues(item, concept, fp.info)
            yield from _caption_issues(item, concept, token_limit, token_counter)
    yield from _duplicate_issues(entries, near_duplicate_distance)
    reporter(Progress(total, total, "Check finished"))


def check_dataset(dataset: Dataset, resolution: int = 512, token_limit: int = 75, **kwargs) -> list[Issue]:
    """All issues of ``dataset`` (see :func:`iter_issues` for the options)."""
    return list(iter_issues(dataset, resolution, token_limit, **kwargs))


def check_path(
    path: str | os.PathLike[str],
    resolution: int = 512,
    token_limit: int = 75,
    *,
    caption_extension: str = ".txt",
    **kwargs,
) -> list[Issue]:
    """Load the dataset at ``path`` (project or kohya tree) and check it."""
    try:
        dataset = load_dataset(path, caption_extension, include_excluded=False)
    except DatasetError as exc:
        return [Issue(Severity.ERROR, "cannot-load", Path(path), str(exc))]
    return check_dataset(dataset, resolution, token_limit, **kwargs)
