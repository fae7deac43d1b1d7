"""Background removal with an ONNX model (IS-Net, U2-Net, BiRefNet …) run by onnxruntime.

The network takes one ``[1, 3, S, S]`` RGB picture scaled to 0..1 and normalised with a mean and
std, and returns a foreground map ``[1, 1, S, S]`` (or ``[1, S, S]``): probabilities, or logits for
BiRefNet-style models (recognised by values outside 0..1 and passed through a sigmoid). The map is
stretched to 0..1, as the rembg tools do, and resized to the picture. ``S`` comes from the model's
input shape, else from the file name; ``bg_remover.json`` in the folder overrides size, mean, std.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lora_studio.captioning.masking import (
    BG_REMOVER_CONFIG,
    MASKERS,
    Masker,
    MaskerKind,
    bg_remover_file,
    resize_scores,
)
from lora_studio.captioning.models.wd14 import _providers
from lora_studio.core.errors import ModelLoadError

log = logging.getLogger(__name__)

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# (file name start, size, mean, std): the preparation each family was trained with
PRESETS: tuple[tuple[str, int, tuple[float, ...], tuple[float, ...]], ...] = (
    ("isnetis", 1024, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    ("isnet", 1024, (0.5, 0.5, 0.5), (1.0, 1.0, 1.0)),
    ("u2net", 320, *IMAGENET),
    ("birefnet", 1024, *IMAGENET),
)
DEFAULT = ("", 1024, *IMAGENET)


def preparation(model_file: Path, input_shape: list[Any]) -> tuple[int, np.ndarray, np.ndarray]:
    """(size, mean, std) for a model: bg_remover.json, else the family preset; a fixed input size wins."""
    name = model_file.name.lower()
    _, size, mean, std = next((p for p in PRESETS if name.startswith(p[0])), DEFAULT)
    config_path = model_file.parent / BG_REMOVER_CONFIG
    if not config_path.is_file():
        config_path = model_file.parent.parent / BG_REMOVER_CONFIG  # onnx/model.onnx layouts
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
            size = int(config.get("size", size))
            mean = tuple(float(v) for v in config.get("mean", mean))
            std = tuple(float(v) for v in config.get("std", std))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise ModelLoadError(
                f"{config_path.name} in {config_path.parent.name} cannot be read.",
                hint='It should look like {"size": 1024, "mean": [0.5, 0.5, 0.5], "std": [1, 1, 1]}.',
                details=repr(exc),
            ) from exc
    if len(input_shape) == 4 and isinstance(input_shape[2], int) and input_shape[2] > 0:
        size = input_shape[2]
    return size, np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)


class BackgroundRemover(Masker):
    kind = MaskerKind.BG_REMOVER

    def __init__(self) -> None:
        self._session: Any = None
        self._input = ""
        self._size = DEFAULT[1]
        self._mean = np.zeros(3, np.float32)
        self._std = np.ones(3, np.float32)

    @property
    def input_size(self) -> int:
        return self._size

    def load(self, folder: str | os.PathLike[str], device: str = "auto") -> None:
        folder = Path(folder)
        spec = MASKERS[self.kind]
        model_file = bg_remover_file(folder)
        if model_file is None:
            raise ModelLoadError(
                f"There is no background-removal model in {folder.name}.",
                hint=f"Put {spec.files} from {spec.example_repo} into {folder}{os.sep}",
            )
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(model_file), sess_options=opts, providers=_providers(device))
        except Exception as exc:  # onnxruntime raises its own exception types for damaged files
            raise ModelLoadError(
                f"{model_file.name} in {folder.name} cannot be loaded; the file is damaged or not a model.",
                hint=f"Download it again from {spec.example_repo}.",
                details=str(exc),
            ) from exc
        inp = session.get_inputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1] not in (3, "3"):
            raise ModelLoadError(
                f"{model_file.name} does not look like a background remover (input shape {shape}).",
                hint="Background removers take one picture as [1, 3, height, width].",
            )
        self._size, self._mean, self._std = preparation(model_file, shape)
        self._session, self._input = session, inp.name
        log.info("Loaded background remover %s (%d px)", model_file.name, self._size)

    def predict(self, image: Image.Image, prompt: str = "") -> np.ndarray:
        if self._session is None:
            raise ModelLoadError("The background remover is not loaded.", hint="Load a model folder first.")
        rgb = image.convert("RGB").resize((self._size, self._size), Image.Resampling.BILINEAR)
        x = (np.asarray(rgb, dtype=np.float32) / 255.0 - self._mean) / self._std
        batch = np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)
        out = np.asarray(self._session.run(None, {self._input: batch})[0], dtype=np.float32)
        scores = out.reshape(out.shape[-2], out.shape[-1])
        if scores.min() < 0.0 or scores.max() > 1.0:
            scores = (1.0 / (1.0 + np.exp(-scores))).astype(np.float32)  # logits
        lo, hi = float(scores.min()), float(scores.max())
        if hi - lo > 1e-6:
            scores = (scores - lo) / (hi - lo)
        return resize_scores(scores, image.size)

    def unload(self) -> None:
        self._session = None
