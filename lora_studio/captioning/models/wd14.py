"""WD14-style ONNX taggers (SmilingWolf's wd-*-tagger-v2/v3: SwinV2, ViT, ConvNeXt, EVA02).

A model folder holds ``model.onnx`` and ``selected_tags.csv`` (columns ``tag_id,name,category,count``;
category 9 = rating, 4 = character, 0 = general). The network takes a batch of square BGR images
as float32 0..255 in NHWC layout, padded to a square on white, and returns one sigmoid score per
row of the CSV. The input size is read from the ONNX input shape (448 for the v3 models).

The v3 models (wd-swinv2 / wd-convnext / wd-vit / wd-vit-large / wd-eva02-large-tagger-v3) keep that
contract: the same BGR 0..255 NHWC input (normalisation is inside the graph), only the input is
named ``input`` instead of ``input_1:0`` and the batch size is free. Their folders also hold the
timm ``config.json`` and ``model.safetensors``, which the ONNX path does not need. A tagger
exported straight from timm instead takes ``[batch, 3, H, W]`` RGB scaled to 0..1 and normalised
with the mean and std of its ``config.json`` (``pretrained_cfg``; 0.5 when absent): that layout is
recognised from the input shape and prepared that way.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lora_studio.captioning.base import (
    WD14,
    Captioner,
    CaptionOptions,
    CaptionResult,
    TagCategory,
    TaggerOptions,
    TagScore,
    missing_model_message,
)
from lora_studio.core.errors import ModelLoadError

log = logging.getLogger(__name__)

CATEGORY_CODES = {0: TagCategory.GENERAL, 4: TagCategory.CHARACTER, 9: TagCategory.RATING}
REQUIRED_COLUMNS = ("name", "category")
# Tags that are faces drawn with underscores: replacing "_" would destroy them.
KAOMOJI = frozenset(
    {"0_0", "(o)_(o)", "+_+", "+_-", "._.", "<o>_<o>", "<|>_<|>", "=_=", ">_<", "3_3", "6_9", ">_o", "@_@",
     "^_^", "o_o", "u_u", "x_x", "|_|", "||_||"}
)  # fmt: skip
PAD_COLOUR = (255, 255, 255)
DEFAULT_SIZE = 448


@dataclass(frozen=True, slots=True)
class TagInfo:
    """One row of ``selected_tags.csv``."""

    name: str
    category: TagCategory


def display_tag(name: str, replace_underscores: bool = True) -> str:
    """``long_hair`` -> ``long hair``; kaomoji (``^_^``) and names without underscores stay as they are."""
    if not replace_underscores or name in KAOMOJI:
        return name
    return name.replace("_", " ")


def _normalise(tag: str) -> str:
    return " ".join(tag.replace("_", " ").split()).casefold()


def read_tag_table(path: str | os.PathLike[str]) -> list[TagInfo]:
    """Read ``selected_tags.csv``. Unknown category codes count as general tags."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise ModelLoadError(
                    f"{path.name} is not a WD14 tag list: it has no {' or '.join(missing)} column.",
                    hint="Use the selected_tags.csv that comes with the model (columns tag_id,name,category,count).",
                )
            table = []
            for row in reader:
                try:
                    code = int(row.get("category") or 0)
                except ValueError:
                    code = 0
                table.append(
                    TagInfo(
                        name=(row.get("name") or "").strip(),
                        category=CATEGORY_CODES.get(code, TagCategory.GENERAL),
                    )
                )
    except OSError as exc:
        raise ModelLoadError(f"The tag list {path.name} cannot be read: {exc.strerror or exc}.") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ModelLoadError(
            f"The tag list {path.name} is damaged.", hint="Download selected_tags.csv again."
        ) from exc
    if not table:
        raise ModelLoadError(f"The tag list {path.name} is empty.", hint="Download selected_tags.csv again.")
    return table


def prepare_image(image: Image.Image, size: int) -> np.ndarray:
    """RGB(A) image -> ``[size, size, 3]`` float32 BGR 0..255, centred on a white square."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, PAD_COLOUR)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    elif image.mode != "RGB":
        image = image.convert("RGB")
    side = max(image.size)
    canvas = Image.new("RGB", (side, side), PAD_COLOUR)
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    if side != size:
        canvas = canvas.resize((size, size), Image.Resampling.BICUBIC)
    rgb = np.asarray(canvas, dtype=np.float32)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def timm_normalisation(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per RGB channel from a timm ``config.json`` next to the model; 0.5 each by default."""
    mean, std = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        cfg = config.get("pretrained_cfg", config) if isinstance(config, dict) else {}
        if len(cfg.get("mean", ())) == 3 and len(cfg.get("std", ())) == 3:
            mean, std = [float(v) for v in cfg["mean"]], [float(v) for v in cfg["std"]]
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    return np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)


def to_channels_first(batch: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``[N, H, W, 3]`` BGR 0..255 (as :func:`prepare_image` makes) -> ``[N, 3, H, W]`` RGB normalised."""
    rgb = batch[..., ::-1] / 255.0
    return np.ascontiguousarray(((rgb - mean) / std).transpose(0, 3, 1, 2), dtype=np.float32)


def select_tags(scores: np.ndarray, table: Sequence[TagInfo], options: TaggerOptions) -> list[TagScore]:
    """Scores of one image -> the tags to write, highest score first.

    General tags need ``general_threshold``, character tags ``character_threshold``; with
    ``include_rating`` the single most likely rating tag is added. Excluded tags never appear.
    """
    excluded = {_normalise(t) for t in options.exclude_tags if t.strip()}
    picked: list[TagScore] = []
    best_rating: TagScore | None = None
    for info, raw in zip(table, scores.tolist()):
        score = float(raw)
        if not info.name or _normalise(info.name) in excluded:
            continue
        tag = display_tag(info.name, options.replace_underscores)
        if info.category is TagCategory.RATING:
            if options.include_rating and (best_rating is None or score > best_rating.score):
                best_rating = TagScore(tag, score, info.category)
            continue
        threshold = (
            options.character_threshold
            if info.category is TagCategory.CHARACTER
            else options.general_threshold
        )
        if score >= threshold:
            picked.append(TagScore(tag, score, info.category))
    if best_rating is not None:
        picked.append(best_rating)
    picked.sort(key=lambda t: -t.score)
    # Two CSV rows can read the same once underscores become spaces: keep the higher score only.
    first = {t.tag: t for t in reversed(picked)}  # reversed: the first (highest score) wins
    picked = [t for t in picked if first[t.tag] is t]
    return picked[: options.max_tags] if options.max_tags > 0 else picked


def _providers(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    wanted = []
    if device != "cpu" and "CUDAExecutionProvider" in available:
        wanted.append("CUDAExecutionProvider")
    wanted.append("CPUExecutionProvider")
    return wanted


class WD14Tagger(Captioner):
    """Booru tags from a WD14 ONNX model, run with onnxruntime (CUDA when available, else CPU)."""

    kind = WD14.kind
    options_type = TaggerOptions

    def __init__(self) -> None:
        super().__init__()
        self._session = None
        self._tags: list[TagInfo] = []
        self._input_name = ""
        self._size = DEFAULT_SIZE
        self._fixed_batch: int | None = None
        self._normalise: tuple[np.ndarray, np.ndarray] | None = None  # set for channels-first models

    @property
    def input_size(self) -> int:
        return self._size

    @property
    def tags(self) -> list[TagInfo]:
        return list(self._tags)

    def load(self, model_dir: str | os.PathLike[str], device: str = "auto") -> None:
        folder = Path(model_dir)
        missing = WD14.missing_files(folder) if folder.is_dir() else list(WD14.required_files)
        if missing:
            raise ModelLoadError(
                f"The WD14 tagger in {folder.name} is incomplete.",
                hint=missing_model_message(self.kind, folder),
            )
        table = read_tag_table(folder / "selected_tags.csv")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelLoadError(
                "The WD14 tagger needs the onnxruntime package, which is not installed.",
                hint="Install it with: pip install onnxruntime (or onnxruntime-gpu for NVIDIA cards).",
            ) from exc
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                str(folder / "model.onnx"), sess_options=opts, providers=_providers(device)
            )
        except Exception as exc:  # onnxruntime raises its own exception types for damaged files
            raise ModelLoadError(
                f"model.onnx in {folder.name} cannot be loaded; the file is damaged or not a tagger model.",
                hint=f"Download it again. {missing_model_message(self.kind, folder)}",
                details=str(exc),
            ) from exc
        inp = session.get_inputs()[0]
        shape = list(inp.shape)
        channels_first = len(shape) == 4 and shape[1] in (3, "3") and shape[3] not in (3, "3")
        if len(shape) != 4 or (shape[3] not in (3, "3") and not channels_first):
            raise ModelLoadError(
                f"model.onnx in {folder.name} does not look like a WD14 tagger (input shape {shape}).",
                hint="WD taggers take images as [batch, height, width, 3] (or [batch, 3, height, width]).",
            )
        side = shape[2] if channels_first else shape[1]
        height = side if isinstance(side, int) else DEFAULT_SIZE
        self._normalise = timm_normalisation(folder) if channels_first else None
        n_out = session.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(table):
            raise ModelLoadError(
                f"selected_tags.csv has {len(table)} tags but model.onnx predicts {n_out}.",
                hint="The two files come from different models; take both from the same repository.",
            )
        self._session = session
        self._tags = table
        self._input_name = inp.name
        self._size = int(height)
        self._fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        self.model_dir = folder
        log.info(
            "Loaded WD14 tagger %s (%d tags, %d px, %s)",
            folder.name,
            len(table),
            self._size,
            session.get_providers()[0],
        )

    def scores(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Raw sigmoid scores, ``[len(images), n_tags]``."""
        if self._session is None:
            raise ModelLoadError("The WD14 tagger is not loaded.", hint="Load a model folder first.")
        batch = np.stack([prepare_image(im, self._size) for im in images])
        if self._normalise is not None:
            batch = to_channels_first(batch, *self._normalise)
        step = self._fixed_batch or len(images)
        outputs = []
        for start in range(0, len(batch), step):
            chunk = batch[start : start + step]
            outputs.append(
                np.asarray(self._session.run(None, {self._input_name: chunk})[0], dtype=np.float32)
            )
        return np.concatenate(outputs).reshape(len(images), -1)

    def caption(self, images: Sequence[Image.Image], options: CaptionOptions) -> list[CaptionResult]:
        self.check_options(options)
        assert isinstance(options, TaggerOptions)
        if not images:
            return []
        results = []
        for row in self.scores(images):
            tags = select_tags(row, self._tags, options)
            results.append(CaptionResult(text=", ".join(t.tag for t in tags), tags=tuple(tags)))
        return results

    def unload(self) -> None:
        self._session = None
        super().unload()
