"""Run a captioner over dataset items and apply the captions as ONE undoable caption edit.

The run has two phases. First every picture is captioned (cancellable at each batch, with
``Progress`` events); nothing is written yet. Then all new captions become a single
:class:`~lora_studio.dataset.edits.CaptionEdit`, which is applied atomically and all-or-nothing
through the dataset's edit path (``EditStack.push``), so one Undo restores every caption.

- A run that fails (the model breaks) changes no caption file, and its error says so.
- A cancelled run keeps what was finished: the captions of the pictures done before the cancel are
  applied as one undoable edit and the report lists the pictures not reached
  (``keep_partial=False`` drops them instead). It returns a report; it does not raise ``Cancelled``.

Masks: by default (:attr:`MaskHandling.CROP`) the picture is cropped to the bounding box of the
mask's white (learned) area and the black (ignored) area left inside that box is painted neutral
grey, so the captioner describes only what will be learned. :attr:`MaskHandling.GREY` keeps the
whole frame and only paints the ignored area grey; :attr:`MaskHandling.IGNORE` uses the picture as is.
"""

from __future__ import annotations

import enum
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from lora_studio.captioning.base import Captioner, CaptionOptions, CaptionResult, OutputKind, get_spec
from lora_studio.core.control import RunControl
from lora_studio.core.errors import Cancelled, DatasetError, LoraStudioError, ModelLoadError
from lora_studio.core.events import CaptionReady, Progress, Reporter, StatusChanged, null_reporter
from lora_studio.dataset import captions as cap
from lora_studio.dataset.edits import CaptionChange, CaptionEdit, EditStack, build_edit
from lora_studio.dataset.images import load_rgb
from lora_studio.dataset.items import Concept, Item

log = logging.getLogger(__name__)

NEUTRAL_GREY = (128, 128, 128)
MASK_MARGIN = 0.04  # crop box grows by this share of its size on each side, for a little context


class CaptionMode(enum.StrEnum):
    REPLACE = "replace"  # the new caption replaces the old one
    APPEND = "append"  # new tags go after the existing ones (tags already there are not repeated)
    PREPEND = "prepend"  # new tags go before the existing ones
    ONLY_MISSING = "only_missing"  # only pictures without a caption are captioned


class MaskHandling(enum.StrEnum):
    IGNORE = "ignore"
    GREY = "grey"
    CROP = "crop"


@dataclass(frozen=True, slots=True)
class CaptionRunReport:
    """What a run did. ``edit`` holds every caption change; ``applied`` says whether it was written."""

    total: int
    captions: tuple[tuple[Path, str], ...] = ()  # (image, generated caption) per captioned picture
    edit: CaptionEdit | None = None
    applied: bool = False
    skipped: tuple[tuple[Path, str], ...] = ()  # (image, why) for pictures left alone
    failed: tuple[tuple[Path, str], ...] = ()  # (image, why) for pictures that could not be read
    not_reached: tuple[Path, ...] = ()  # pictures not captioned because the run was cancelled
    cancelled: bool = False
    seconds: float = 0.0
    results: dict[Path, CaptionResult] = field(default_factory=dict, repr=False)

    @property
    def changed_files(self) -> list[Path]:
        return [c.path for c in self.edit.changes] if self.edit else []

    def summary(self) -> str:
        """One paragraph for the status bar or the CLI."""
        n_changed = len(self.changed_files)
        parts = []
        if self.cancelled:
            parts.append(f"Stopped after {len(self.captions)} of {self.total} pictures.")
        else:
            parts.append(f"Captioned {len(self.captions)} of {self.total} pictures.")
        if self.applied:
            parts.append(f"{n_changed} caption file(s) changed (one Undo restores them).")
        elif n_changed:
            parts.append(f"{n_changed} caption file(s) would change; nothing was written yet.")
        else:
            parts.append("No caption file was changed.")
        if self.not_reached:
            parts.append(f"{len(self.not_reached)} picture(s) were not reached and keep their captions.")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped.")
        if self.failed:
            parts.append(
                f"{len(self.failed)} could not be read: {self.failed[0][0].name} ({self.failed[0][1]})…"
            )
        return " ".join(parts)


# -- caption composition (pure) ---------------------------------------------------------------------------


def _merge_line(old: str, new: str, front: bool, sentence: bool) -> str:
    if not old.strip():
        return new
    if not new.strip():
        return old
    if sentence:
        if new.strip() in old:
            return old
        return f"{new.strip()}, {old.strip()}" if front else f"{old.rstrip().rstrip(',')}, {new.strip()}"
    old_tags, new_tags = cap.parse_tags(old), cap.parse_tags(new)
    if front:
        return cap.join_tags(cap.dedupe_list(new_tags + old_tags))
    return cap.join_tags(cap.dedupe_list(old_tags + new_tags))


def compose_caption(
    old: str, generated: str, mode: CaptionMode, trigger: str = "", *, sentence: bool = False
) -> str:
    """The caption to save, from the current one and the generated one; the trigger always first.

    ``sentence``: the generated text is one sentence, kept whole (commas inside it are not tags).
    Multi-line captions (one caption per line) get the new text on every line.
    """
    mode = CaptionMode(mode)
    if mode is CaptionMode.ONLY_MISSING and old.strip():
        result = old
    elif mode in (CaptionMode.REPLACE, CaptionMode.ONLY_MISSING):
        result = generated
    else:
        front = mode is CaptionMode.PREPEND
        lines = old.split("\n") if old.strip() else [""]
        result = "\n".join(
            line if (len(lines) > 1 and not line.strip()) else _merge_line(line, generated, front, sentence)
            for line in lines
        )
    if trigger.strip() and not (sentence and _starts_with_word(result, trigger.strip())):
        result = cap.add_trigger(result, trigger)
    return result


def _starts_with_word(text: str, word: str) -> bool:
    """``"zkw stands in a field"`` starts with the word ``zkw`` (a sentence that already names it)."""
    return re.match(rf"\s*{re.escape(word)}\b", text) is not None


# -- images ------------------------------------------------------------------------------------------------


def _load_mask(path: Path, size: tuple[int, int]) -> Image.Image:
    try:
        with Image.open(path) as im:
            mask = im.convert("L")
    except (OSError, ValueError) as exc:
        raise DatasetError(f"The mask {path.name} cannot be read.", details=repr(exc)) from exc
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    return mask.point(lambda v: 255 if v >= 128 else 0)


def captioning_image(item: Item, mask_handling: MaskHandling = MaskHandling.CROP) -> Image.Image:
    """The picture as the captioner should see it: upright RGB, the item's crop, then the mask.

    Raises DatasetError when the picture cannot be read or its mask hides everything.
    """
    image = load_rgb(item.training_image)
    mask = (
        _load_mask(item.mask, image.size)
        if (item.mask and mask_handling is not MaskHandling.IGNORE)
        else None
    )
    if item.crop is not None:
        left, top, right, bottom = item.crop.as_ltrb()
        box = (max(0, left), max(0, top), min(image.width, right), min(image.height, bottom))
        if box[2] > box[0] and box[3] > box[1]:
            image = image.crop(box)
            mask = mask.crop(box) if mask is not None else None
    if mask is None:
        return image
    bbox = mask.getbbox()
    if bbox is None:
        raise DatasetError(
            f"The mask of {item.image.name} hides the whole picture.", hint="Paint the area to learn white."
        )
    image = Image.composite(image, Image.new("RGB", image.size, NEUTRAL_GREY), mask)
    if mask_handling is MaskHandling.CROP:
        l, t, r, b = bbox  # noqa: E741
        mx, my = round((r - l) * MASK_MARGIN), round((b - t) * MASK_MARGIN)
        image = image.crop(
            (max(0, l - mx), max(0, t - my), min(image.width, r + mx), min(image.height, b + my))
        )
    return image


# -- the run -----------------------------------------------------------------------------------------------


def caption_path_of(item: Item, extension: str = ".txt") -> Path:
    """Where the item's caption is saved: its known sidecar, else ``<image stem><extension>``."""
    return item.caption_path or cap.sidecar_path(item.image, extension)


def caption_items(
    items: Sequence[Item],
    captioner: Captioner,
    options: CaptionOptions,
    mode: CaptionMode = CaptionMode.REPLACE,
    trigger: str = "",
    reporter: Reporter = null_reporter,
    control: RunControl | None = None,
    *,
    mask_handling: MaskHandling = MaskHandling.CROP,
    caption_extension: str = ".txt",
    stack: EditStack | None = None,
    apply: bool = True,
    keep_partial: bool = True,
) -> CaptionRunReport:
    """Caption ``items`` with a loaded ``captioner`` and apply the result as one undoable edit.

    ``apply=True`` pushes the edit on ``stack`` (a private stack when None: written, but not undoable
    from the app). A Qt panel should pass ``apply=False`` in the worker and push ``report.edit`` on
    its own stack in the GUI thread. See the module docstring for cancel and failure behaviour.
    """
    control = control or RunControl()
    started = time.monotonic()
    mode = CaptionMode(mode)
    spec = get_spec(captioner.kind)
    sentence = spec.output is OutputKind.SENTENCE
    batch_size = max(1, options.batch_size)
    wanted = getattr(captioner, "options_type", CaptionOptions)
    if not isinstance(options, wanted):  # a programming error: fail before any work is done
        raise TypeError(f"{type(captioner).__name__} needs {wanted.__name__}, got {type(options).__name__}")

    todo: list[tuple[Item, Path]] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for item in items:
        path = caption_path_of(item, caption_extension)
        if path in seen:
            continue
        seen.add(path)
        current = cap.read_caption(path)
        if current.readonly:
            skipped.append(
                (item.image, f"its caption is saved in {current.encoding}, not UTF-8; convert it first")
            )
        elif mode is CaptionMode.ONLY_MISSING and current.text.strip():
            skipped.append((item.image, "already has a caption"))
        else:
            todo.append((item, path))

    options = options.for_trigger(trigger)  # captioners that are told the trigger word get it
    total = len(todo)
    reporter(
        StatusChanged(
            f"Captioning {total} picture(s) with {captioner.model_dir.name if captioner.model_dir else spec.label}…"
        )
    )
    reporter(Progress(0, total, "Captioning"))
    generated: dict[Path, tuple[Item, CaptionResult]] = {}
    captions: list[tuple[Path, str]] = []
    failed: list[tuple[Path, str]] = []
    reached: set[Path] = set()
    cancelled = False
    done = 0
    index = 0
    for start in range(0, total, batch_size):
        try:
            control.checkpoint()
        except Cancelled:
            cancelled = True
            break
        batch = todo[start : start + batch_size]
        ready: list[tuple[Item, Path, Image.Image]] = []
        for item, path in batch:
            reached.add(path)
            try:
                ready.append((item, path, captioning_image(item, mask_handling)))
            except DatasetError as exc:
                failed.append((item.image, exc.message))
        if ready:
            results = _run_model(captioner, [im for _, _, im in ready], options, ready[0][0])
            for (item, path, _), result in zip(ready, results):
                generated[path] = (item, result)
                captions.append((item.image, result.text))
                reporter(CaptionReady(str(item.image), result.text, index, total))
                index += 1
        done += len(batch)
        reporter(Progress(done, total, _progress_text(batch[-1][0].image.name, done, total, started)))

    not_reached = tuple(item.image for item, path in todo if path not in reached)
    if cancelled and not keep_partial:
        generated.clear()
    edit = _build_run_edit(
        generated, mode, trigger, sentence, label=f"Auto-caption ({spec.label.split(' (')[0]}, {mode.value})"
    )
    applied = False
    if apply and edit.changes:
        (stack if stack is not None else EditStack()).push(edit)
        applied = True
    skipped.extend(edit.skipped)
    report = CaptionRunReport(
        total=len(seen),
        captions=tuple(captions),
        edit=edit,
        applied=applied,
        skipped=tuple(skipped),
        failed=tuple(failed),
        not_reached=not_reached,
        cancelled=cancelled,
        seconds=time.monotonic() - started,
        results={item.image: result for item, result in generated.values()},
    )
    reporter(StatusChanged(report.summary()))
    log.info("%s", report.summary())
    return report


def time_left_text(done: int, total: int, started: float, now: float | None = None) -> str:
    """``"about 3 min left"`` from the pace so far ("" before the first picture or at the end)."""
    if done <= 0 or done >= total:
        return ""
    seconds = (((now if now is not None else time.monotonic()) - started) / done) * (total - done)
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"


def _progress_text(name: str, done: int, total: int, started: float) -> str:
    left = time_left_text(done, total, started)
    return f"{name} — {left}" if left else name


def _run_model(
    captioner: Captioner, images: list[Image.Image], options: CaptionOptions, first: Item
) -> list[CaptionResult]:
    try:
        results = captioner.caption(images, options)
    except LoraStudioError as exc:
        exc.hint = f"{exc.hint} No caption file was changed.".strip()
        raise
    except (RuntimeError, ValueError, OSError, MemoryError) as exc:
        raise ModelLoadError(
            f"The captioning model failed on {first.image.name}.",
            hint="No caption file was changed. Try a smaller batch size or the CPU, or check the model files.",
            details=repr(exc),
        ) from exc
    if len(results) != len(images):
        raise ModelLoadError(
            f"The captioning model returned {len(results)} captions for {len(images)} pictures.",
            hint="No caption file was changed.",
        )
    return results


def _build_run_edit(
    generated: dict[Path, tuple[Item, CaptionResult]],
    mode: CaptionMode,
    trigger: str,
    sentence: bool,
    label: str,
) -> CaptionEdit:
    changes: list[CaptionChange] = []
    skipped: list[tuple[Path, str]] = []
    for path, (_item, result) in generated.items():

        def transform(old: str, text: str = result.text) -> str:
            return compose_caption(old, text, mode, trigger, sentence=sentence)

        one = build_edit(label, [path], transform)
        changes.extend(one.changes)
        skipped.extend(one.skipped)
    return CaptionEdit(label=label, changes=tuple(changes), skipped=tuple(skipped))


def caption_concept(
    concept: Concept,
    captioner: Captioner,
    options: CaptionOptions,
    mode: CaptionMode = CaptionMode.REPLACE,
    reporter: Reporter = null_reporter,
    control: RunControl | None = None,
    *,
    mask_handling: MaskHandling = MaskHandling.CROP,
    caption_extension: str = ".txt",
    stack: EditStack | None = None,
    apply: bool = True,
) -> CaptionRunReport:
    """Caption every item of a concept, with the concept's trigger word first."""
    return caption_items(
        concept.items,
        captioner,
        options,
        mode,
        concept.trigger,
        reporter,
        control,
        mask_handling=mask_handling,
        caption_extension=caption_extension,
        stack=stack,
        apply=apply,
    )


JobFunction = Callable[[Reporter, RunControl], CaptionRunReport]


def captioning_job(
    model_dir: Path,
    items: Sequence[Item],
    options: CaptionOptions,
    mode: CaptionMode = CaptionMode.REPLACE,
    trigger: str = "",
    **kwargs: object,
) -> JobFunction:
    """A ``fn(reporter, control)`` for the app's Worker: load the model, caption, return the report.

    Copies everything it needs up front, so the worker never touches widgets or Qt models. Pass
    ``apply=False`` to get ``report.edit`` back and push it on the panel's EditStack in the GUI thread.
    """
    from lora_studio.captioning.base import load_captioner

    items = tuple(items)

    def job(reporter: Reporter, control: RunControl) -> CaptionRunReport:
        reporter(StatusChanged(f"Loading {Path(model_dir).name}…"))
        control.checkpoint()
        captioner = load_captioner(model_dir, options.device, options=options)
        try:
            return caption_items(items, captioner, options, mode, trigger, reporter, control, **kwargs)  # type: ignore[arg-type]
        finally:
            captioner.unload()

    return job
