"""Florence-2 captions (base and large) through transformers' own Florence-2 classes.

The folder holds the model in the transformers layout (``florence-community/Florence-2-base`` or
``-large``). Microsoft's original upload needs the repository's own Python code, which LoRA Studio
never runs; such a folder gets a message naming the repository to take instead. Files are read
strictly from the local folder. The caption task token is the whole prompt: ``<CAPTION>`` (one
line), ``<DETAILED_CAPTION>`` or ``<MORE_DETAILED_CAPTION>`` (a paragraph).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from lora_studio.captioning.base import (
    FLORENCE2,
    Captioner,
    CaptionOptions,
    CaptionResult,
    FlorenceOptions,
    missing_model_message,
)
from lora_studio.captioning.models.blip import _load_errors, resolve_device
from lora_studio.core.errors import ModelLoadError

log = logging.getLogger(__name__)


def needs_remote_code(folder: Path) -> bool:
    """True for a folder in the layout that only loads with the repository's own Python code."""
    if (folder / "modeling_florence2.py").is_file():
        return True
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "auto_map" in config


def check_folder(folder: Path, kind: str, name: str) -> None:
    """Raise ModelLoadError naming the missing files of a transformers captioner folder."""
    from lora_studio.captioning.base import get_spec

    spec = get_spec(kind)
    missing = spec.missing_files(folder) if folder.is_dir() else list(spec.required_files)
    if missing:
        raise ModelLoadError(
            f"The {name} model in {folder.name} is incomplete.", hint=missing_model_message(kind, folder)
        )


def clean_text(text: str) -> str:
    """One line: whitespace runs become single spaces; stray sentence markers go."""
    return " ".join(text.replace("<s>", " ").replace("</s>", " ").split())


class Florence2Captioner(Captioner):
    """Natural-language captions from a Florence-2 model."""

    kind = FLORENCE2.kind
    options_type = FlorenceOptions

    def __init__(self) -> None:
        super().__init__()
        self._model: Any = None
        self._processor: Any = None
        self._device = torch.device("cpu")
        self.last_prompts: list[str] = []  # what the model was asked last (decoded), for checks

    def load(self, model_dir: str | os.PathLike[str], device: str = "auto") -> None:
        from transformers import AutoProcessor, Florence2ForConditionalGeneration

        folder = Path(model_dir)
        check_folder(folder, self.kind, "Florence-2")
        if needs_remote_code(folder):
            raise ModelLoadError(
                f"The Florence-2 files in {folder.name} are Microsoft's original upload, which needs "
                "code from the model's repository; LoRA Studio does not run downloaded code.",
                hint="Take the same model in the transformers layout instead: "
                "florence-community/Florence-2-base or florence-community/Florence-2-large.",
            )
        target = resolve_device(device)
        dtype = torch.float16 if target.type == "cuda" else torch.float32
        try:
            processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
            model = Florence2ForConditionalGeneration.from_pretrained(
                folder, local_files_only=True, dtype=dtype
            )
        except _load_errors() as exc:
            raise ModelLoadError(
                f"The Florence-2 model in {folder.name} cannot be loaded: a file is damaged or from another model.",
                hint=missing_model_message(self.kind, folder),
                details=str(exc),
            ) from exc
        model.to(target).eval()  # type: ignore[arg-type]  # transformers stubs miss the device form
        self._model, self._processor, self._device = model, processor, target
        self.model_dir = folder
        log.info("Loaded Florence-2 captioner %s on %s", folder.name, target)

    @torch.inference_mode()
    def caption(self, images: Sequence[Image.Image], options: CaptionOptions) -> list[CaptionResult]:
        self.check_options(options)
        assert isinstance(options, FlorenceOptions)
        if self._model is None or self._processor is None:
            raise ModelLoadError("The Florence-2 model is not loaded.", hint="Load a model folder first.")
        if not images:
            return []
        rgb = [im if im.mode == "RGB" else im.convert("RGB") for im in images]
        task = str(options.task.value if hasattr(options.task, "value") else options.task)
        inputs = self._processor(text=[task] * len(rgb), images=rgb, return_tensors="pt").to(self._device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self._model.dtype)
        tokenizer = self._processor.tokenizer
        self.last_prompts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in inputs["input_ids"]]
        out = self._model.generate(
            **inputs,
            max_new_tokens=max(1, options.max_new_tokens),
            min_new_tokens=max(0, min(options.min_new_tokens, options.max_new_tokens)),
            num_beams=max(1, options.num_beams),
            do_sample=False,
        )
        texts = self._processor.batch_decode(out, skip_special_tokens=True)
        return [CaptionResult(text=clean_text(t)) for t in texts]

    def unload(self) -> None:
        self._model = None
        self._processor = None
        if self._device.type == "cuda":
            torch.cuda.empty_cache()
        super().unload()
