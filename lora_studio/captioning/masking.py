"""Auto-masks: a subject/background mask per picture from a model, written through the project's
mask storage (``masks/<stem>.mask.png``: white = learned, black = left out), which the masked-loss
training path reads. Torch-free: the engines live in ``models/clipseg.py`` and
``models/bg_remover.py`` and are imported only when a run starts.

Two kinds of model, both read from a folder in ``models/captioners`` (never downloaded here):

- **CLIPSeg** (``CIDAS/clipseg-rd64-refined``, transformers layout): finds what a text prompt
  names ("the character", "a cat") in the picture.
- **Background remover** (ONNX, run with onnxruntime): separates the foreground from the
  background without a prompt. The folder holds one ``.onnx`` file whose name says the model:
  ``isnetis.onnx`` (skytnt/anime-seg, for drawn characters), ``isnet-general-use.onnx``,
  ``isnet-anime.onnx``, ``u2net.onnx``, ``u2netp.onnx``, ``u2net_human_seg.onnx`` (the rembg
  release files), or ``birefnet*.onnx``. An optional ``bg_remover.json``
  (``{"size": 1024, "mean": [..3], "std": [..3]}``) overrides the preparation for another model.

A run never writes on its own: :func:`auto_mask_job` returns the new masks, and
:func:`apply_masks` (on the GUI thread) writes them and returns a :class:`MaskUndo` that puts the
previous masks back. Pictures that already have a mask are left alone unless the run is told to
replace them; the original pictures are never changed.
"""

from __future__ import annotations

import abc
import enum
import importlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from lora_studio.captioning.base import _read_config_model_type
from lora_studio.core.control import RunControl
from lora_studio.core.errors import Cancelled, DatasetError, LoraStudioError, ModelLoadError
from lora_studio.core.events import Progress, Reporter, StatusChanged
from lora_studio.dataset import project as proj
from lora_studio.dataset.images import load_upright
from lora_studio.dataset.project import Project

log = logging.getLogger(__name__)

BG_REMOVER_FILES = (
    "isnetis.onnx",
    "isnet-general-use.onnx",
    "isnet-anime.onnx",
    "u2net.onnx",
    "u2netp.onnx",
    "u2net_human_seg.onnx",
)
BG_REMOVER_CONFIG = "bg_remover.json"


class MaskerKind(enum.StrEnum):
    CLIPSEG = "clipseg"
    BG_REMOVER = "bg_remover"


@dataclass(frozen=True, slots=True)
class MaskerSpec:
    kind: MaskerKind
    label: str
    module: str
    class_name: str
    uses_prompt: bool
    example_repo: str
    default_folder_name: str
    files: str  # the expected files, in words
    description: str = ""


MASKERS = {
    MaskerKind.CLIPSEG: MaskerSpec(
        MaskerKind.CLIPSEG,
        "CLIPSeg (finds what you name)",
        "lora_studio.captioning.models.clipseg",
        "ClipSegMasker",
        True,
        "CIDAS/clipseg-rd64-refined",
        "clipseg-rd64-refined",
        "config.json, model.safetensors, preprocessor_config.json and tokenizer.json (or vocab.json and merges.txt)",
        "Masks what a short prompt names, e.g. “the character” or “a red car”. Soft edges; 600 MB.",
    ),
    MaskerKind.BG_REMOVER: MaskerSpec(
        MaskerKind.BG_REMOVER,
        "Background remover (ONNX)",
        "lora_studio.captioning.models.bg_remover",
        "BackgroundRemover",
        False,
        "skytnt/anime-seg",
        "anime-seg",
        "one .onnx file: isnetis.onnx, isnet-general-use.onnx, u2net.onnx … (optionally bg_remover.json)",
        "Keeps the main subject and drops the background, no prompt needed; sharp edges.",
    ),
}


def bg_remover_file(folder: Path) -> Path | None:
    """The ONNX file of a background-remover folder (None when the folder is not one)."""
    if not folder.is_dir() or (folder / "selected_tags.csv").is_file():
        return None  # a WD tagger's model.onnx
    for name in BG_REMOVER_FILES:
        if (folder / name).is_file():
            return folder / name
    others = sorted(p for p in folder.glob("*.onnx") if p.name != "model.onnx")
    if others:
        return others[0]
    if (folder / BG_REMOVER_CONFIG).is_file():
        for candidate in (folder / "model.onnx", folder / "onnx" / "model.onnx"):
            if candidate.is_file():
                return candidate
    return None


def detect_masker_kind(folder: str | os.PathLike[str]) -> MaskerKind | None:
    folder = Path(folder)
    if not folder.is_dir():
        return None
    if _read_config_model_type(folder) == "clipseg":
        return MaskerKind.CLIPSEG
    if bg_remover_file(folder) is not None:
        return MaskerKind.BG_REMOVER
    return None


@dataclass(frozen=True, slots=True)
class MaskerFolder:
    path: Path
    kind: MaskerKind

    @property
    def label(self) -> str:
        return f"{self.path.name} — {MASKERS[self.kind].label}"


def find_masker_folders(roots: Sequence[str | os.PathLike[str]]) -> list[MaskerFolder]:
    """Every auto-mask model folder directly inside ``roots`` (the captioner folders)."""
    found = []
    for root in (Path(r) for r in roots):
        if not root.is_dir():
            continue
        for folder in [
            root,
            *sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name.casefold()),
        ]:
            kind = detect_masker_kind(folder)
            if kind is not None:
                found.append(MaskerFolder(folder, kind))
    return found


def missing_masker_text(root: Path) -> str:
    """What to put where, for each kind of auto-mask model."""
    lines = [f"No auto-mask model was found in {root}.", ""]
    for spec in MASKERS.values():
        lines.append(
            f"• {spec.label}: put {spec.files} from {spec.example_repo} (huggingface.co/{spec.example_repo}) "
            f"into {root / spec.default_folder_name}{os.sep}"
        )
    return "\n".join(lines)


# -- engines ---------------------------------------------------------------------------------------------


class Masker(abc.ABC):
    """One kind of model: ``load`` once, then ``predict`` per picture (from a worker thread)."""

    kind: MaskerKind

    @abc.abstractmethod
    def load(self, folder: str | os.PathLike[str], device: str = "auto") -> None: ...

    @abc.abstractmethod
    def predict(self, image: Image.Image, prompt: str = "") -> np.ndarray:
        """How likely each pixel belongs to the subject: float32 ``[height, width]`` in 0..1."""

    def unload(self) -> None:  # noqa: B027 - nothing to free by default
        pass


def load_masker(folder: str | os.PathLike[str], device: str = "auto") -> Masker:
    folder = Path(folder)
    kind = detect_masker_kind(folder)
    if kind is None:
        raise ModelLoadError(
            f"{folder.name} holds no auto-mask model LoRA Studio knows.",
            hint=missing_masker_text(folder.parent),
        )
    spec = MASKERS[kind]
    masker: Masker = getattr(importlib.import_module(spec.module), spec.class_name)()
    masker.load(folder, device)
    return masker


# -- from scores to a mask -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MaskOptions:
    prompt: str = "the character"  # CLIPSeg only
    threshold: float = 0.4  # a pixel is the subject from this score on
    learn_background: bool = False  # True: learn the background, leave the subject out
    grow: int = 0  # widen the learned area by this many pixels (negative: shrink)
    replace_existing: bool = False  # False: pictures with a mask keep it
    device: str = "auto"


def scores_to_mask(scores: np.ndarray, options: MaskOptions) -> Image.Image:
    """Scores in 0..1 -> the mask to save: "L", white = learned, black = left out."""
    subject = np.asarray(scores, dtype=np.float32) >= options.threshold
    learned = ~subject if options.learn_background else subject
    mask = Image.fromarray(np.where(learned, 255, 0).astype(np.uint8), mode="L")
    if options.grow:
        size = 2 * abs(options.grow) + 1
        mask = mask.filter(ImageFilter.MaxFilter(size) if options.grow > 0 else ImageFilter.MinFilter(size))
    return mask


def resize_scores(scores: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A ``[h, w]`` score map resized (bilinear) to ``size`` = (width, height)."""
    im = Image.fromarray(np.asarray(scores, dtype=np.float32), mode="F")
    return np.asarray(im.resize(size, Image.Resampling.BILINEAR), dtype=np.float32).clip(0.0, 1.0)


def learned_share(mask: Image.Image) -> float:
    """The part of the picture a mask keeps for training (0..1)."""
    arr = np.asarray(mask.convert("L"))
    return float((arr >= 128).mean()) if arr.size else 0.0


# -- the run ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MaskTarget:
    """One picture to mask: its project record and its files."""

    concept: str
    key: str
    image: Path
    mask: Path | None = None  # the mask it has now


@dataclass(frozen=True, slots=True)
class MaskRunReport:
    total: int
    masks: tuple[tuple[MaskTarget, Image.Image], ...] = ()
    skipped: tuple[tuple[Path, str], ...] = ()
    failed: tuple[tuple[Path, str], ...] = ()
    not_reached: tuple[Path, ...] = ()
    cancelled: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        done = len(self.masks)
        head = f"Stopped after {done} of {self.total}" if self.cancelled else f"Made {done} of {self.total}"
        parts = [f"{head} masks."]
        if self.skipped:
            parts.append(f"{len(self.skipped)} picture(s) kept their mask ({self.skipped[0][1]}).")
        if self.failed:
            parts.append(f"{len(self.failed)} failed: {self.failed[0][0].name} ({self.failed[0][1]}).")
        if self.not_reached:
            parts.append(f"{len(self.not_reached)} not reached.")
        return " ".join(parts)


Job = Callable[[Reporter, RunControl], Any]


def auto_mask_job(
    model_dir: Path,
    targets: Sequence[MaskTarget],
    options: MaskOptions,
    load: Callable[..., Masker] = load_masker,
) -> Job:
    """A ``fn(reporter, control)`` for a worker: load the model, make each picture's mask, return a
    :class:`MaskRunReport` (nothing is written). Cancel keeps the masks made so far."""
    targets = tuple(targets)

    def run(reporter: Reporter, control: RunControl) -> MaskRunReport:
        started = time.monotonic()
        todo = [t for t in targets if options.replace_existing or t.mask is None]
        skipped = tuple((t.image, "it already has a mask") for t in targets if t not in todo)
        reporter(StatusChanged(f"Loading {Path(model_dir).name}…"))
        control.checkpoint()
        masker = load(model_dir, options.device)
        made: list[tuple[MaskTarget, Image.Image]] = []
        failed: list[tuple[Path, str]] = []
        reached = 0
        cancelled = False
        try:
            reporter(Progress(0, len(todo), "Masking"))
            for i, target in enumerate(todo):
                try:
                    control.checkpoint()
                except Cancelled:
                    cancelled = True
                    break
                reached = i + 1
                try:
                    image = load_upright(target.image).convert("RGB")
                except (OSError, ValueError, DatasetError) as exc:
                    failed.append((target.image, getattr(exc, "message", str(exc))))
                    continue
                try:
                    scores = masker.predict(image, options.prompt)
                except LoraStudioError:
                    raise
                except (RuntimeError, ValueError, MemoryError) as exc:
                    raise ModelLoadError(
                        f"The auto-mask model failed on {target.image.name}.",
                        hint="No mask was changed. Try the CPU, or check the model files.",
                        details=repr(exc),
                    ) from exc
                made.append((target, scores_to_mask(scores, options)))
                reporter(Progress(i + 1, len(todo), target.image.name))
        finally:
            masker.unload()
        report = MaskRunReport(
            total=len(targets),
            masks=tuple(made),
            skipped=skipped,
            failed=tuple(failed),
            not_reached=tuple(t.image for t in todo[reached:]) if cancelled else (),
            cancelled=cancelled,
            seconds=time.monotonic() - started,
        )
        reporter(StatusChanged(report.summary()))
        return report

    return run


@dataclass(frozen=True, slots=True)
class MaskUndo:
    """The masks an auto-mask run replaced (None: the picture had none), to put back."""

    label: str
    previous: tuple[tuple[str, str, Image.Image | None], ...] = field(default=())  # (concept, key, old)

    def __len__(self) -> int:
        return len(self.previous)


def apply_masks(
    project: Project, masks: Sequence[tuple[MaskTarget, Image.Image]], label: str = "Auto-mask"
) -> MaskUndo:
    """Write ``masks`` through the project's mask storage; return what undoes it. One thread only
    (the project's records). A picture whose mask cannot be saved stops the run: the ones before it
    are undone, so nothing is half applied."""
    previous: list[tuple[str, str, Image.Image | None]] = []
    try:
        for target, mask in masks:
            old = _read_mask(project, target)
            proj.set_mask(project, target.concept, target.key, mask)
            previous.append((target.concept, target.key, old))
    except LoraStudioError:
        undo_masks(project, MaskUndo(label, tuple(previous)))
        raise
    return MaskUndo(label, tuple(previous))


def undo_masks(project: Project, undo: MaskUndo) -> None:
    for concept, key, old in reversed(undo.previous):
        proj.set_mask(project, concept, key, old)


def _read_mask(project: Project, target: MaskTarget) -> Image.Image | None:
    rec = project.record(target.concept, target.key)
    if not rec.mask:
        return None
    path = project.concept_dir(target.concept) / rec.mask
    try:
        with Image.open(path) as im:
            return im.convert("L").copy()
    except OSError:
        return None
