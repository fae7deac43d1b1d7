"""BLIP image captioning (Salesforce/blip-image-captioning-base and -large) through transformers.

Needs nothing beyond transformers and torch. Files are read strictly from the local folder
(``local_files_only=True``): a folder with missing files gives a message naming them, never a
download. Conditional captioning: with a prompt such as "a photo of", the caption continues it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image

from lora_studio.captioning.base import (
    BLIP,
    Captioner,
    CaptionOptions,
    CaptionResult,
    SentenceOptions,
    missing_model_message,
)
from lora_studio.core.errors import ModelLoadError

if TYPE_CHECKING:
    from transformers import BlipForConditionalGeneration, BlipProcessor

log = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> the first CUDA card when there is one, else the CPU."""
    if device in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def strip_prompt(text: str, prompt: str) -> str:
    """Drop ``prompt`` from the start of ``text`` (BLIP lowercases and re-spaces what it echoes)."""
    words, head = text.split(), prompt.lower().split()
    if head and [w.lower() for w in words[: len(head)]] == head:
        return " ".join(words[len(head) :])
    return text


def _load_errors() -> tuple[type[BaseException], ...]:
    """What a damaged or foreign model folder raises while loading (safetensors has its own error)."""
    errors: list[type[BaseException]] = [OSError, ValueError, KeyError, RuntimeError]
    try:
        from safetensors import SafetensorError

        errors.append(SafetensorError)
    except ImportError:  # pragma: no cover - safetensors comes with transformers
        pass
    return tuple(errors)


class BlipCaptioner(Captioner):
    """One short sentence per image from a BLIP captioning model."""

    kind = BLIP.kind
    options_type = SentenceOptions

    def __init__(self) -> None:
        super().__init__()
        self._model: BlipForConditionalGeneration | None = None
        self._processor: BlipProcessor | None = None
        self._device = torch.device("cpu")

    def load(self, model_dir: str | os.PathLike[str], device: str = "auto") -> None:
        from transformers import BlipForConditionalGeneration, BlipProcessor

        folder = Path(model_dir)
        missing = BLIP.missing_files(folder) if folder.is_dir() else list(BLIP.required_files)
        if missing:
            raise ModelLoadError(
                f"The BLIP model in {folder.name} is incomplete.",
                hint=missing_model_message(self.kind, folder),
            )
        target = resolve_device(device)
        dtype = torch.float16 if target.type == "cuda" else torch.float32
        try:
            processor = BlipProcessor.from_pretrained(folder, local_files_only=True)
            model = BlipForConditionalGeneration.from_pretrained(folder, local_files_only=True, dtype=dtype)
        except _load_errors() as exc:
            raise ModelLoadError(
                f"The BLIP model in {folder.name} cannot be loaded: a file is damaged or from another model.",
                hint=missing_model_message(self.kind, folder),
                details=str(exc),
            ) from exc
        model.to(target).eval()  # type: ignore[arg-type]  # transformers' stub of .to() misses the device form
        self._model, self._processor, self._device = model, processor, target
        self.model_dir = folder
        log.info("Loaded BLIP captioner %s on %s", folder.name, target)

    @torch.inference_mode()
    def caption(self, images: Sequence[Image.Image], options: CaptionOptions) -> list[CaptionResult]:
        self.check_options(options)
        assert isinstance(options, SentenceOptions)
        if self._model is None or self._processor is None:
            raise ModelLoadError("The BLIP model is not loaded.", hint="Load a model folder first.")
        if not images:
            return []
        rgb = [im if im.mode == "RGB" else im.convert("RGB") for im in images]
        prompt = options.prompt.strip()
        kwargs = {"text": [prompt] * len(rgb)} if prompt else {}
        inputs = self._processor(images=rgb, return_tensors="pt", **kwargs).to(self._device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self._model.dtype)
        out = self._model.generate(
            **inputs,
            max_new_tokens=max(1, options.max_new_tokens),
            min_new_tokens=max(0, min(options.min_new_tokens, options.max_new_tokens)),
            num_beams=max(1, options.num_beams),
            repetition_penalty=options.repetition_penalty,
        )
        texts = self._processor.batch_decode(out, skip_special_tokens=True)
        results = []
        for text in texts:
            text = " ".join(text.split())
            if prompt and not options.keep_prompt:
                text = strip_prompt(text, prompt)
            results.append(CaptionResult(text=text))
        return results

    def unload(self) -> None:
        self._model = None
        self._processor = None
        if self._device.type == "cuda":
            torch.cuda.empty_cache()
        super().unload()
