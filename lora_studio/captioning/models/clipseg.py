"""CLIPSeg auto-masks (``CIDAS/clipseg-rd64-refined``) through transformers, from a local folder only:
how likely each pixel shows what the prompt names."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from lora_studio.captioning.masking import MASKERS, Masker, MaskerKind, resize_scores
from lora_studio.captioning.models.blip import _load_errors, resolve_device
from lora_studio.core.errors import ModelLoadError

log = logging.getLogger(__name__)

REQUIRED = (
    ("config.json",),
    ("model.safetensors", "pytorch_model.bin"),
    ("preprocessor_config.json", "processor_config.json"),
    ("tokenizer.json", "vocab.json"),
)


class ClipSegMasker(Masker):
    kind = MaskerKind.CLIPSEG

    def __init__(self) -> None:
        self._model: Any = None
        self._processor: Any = None
        self._device = torch.device("cpu")
        self.last_prompt = ""

    def load(self, folder: str | os.PathLike[str], device: str = "auto") -> None:
        from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

        folder = Path(folder)
        spec = MASKERS[self.kind]
        missing = [" or ".join(alts) for alts in REQUIRED if not any((folder / n).is_file() for n in alts)]
        if missing:
            raise ModelLoadError(
                f"The CLIPSeg model in {folder.name} is incomplete: {', '.join(missing)} missing.",
                hint=f"Put {spec.files} from {spec.example_repo} into {folder}{os.sep}",
            )
        target = resolve_device(device)
        try:
            processor = CLIPSegProcessor.from_pretrained(folder, local_files_only=True)
            model = CLIPSegForImageSegmentation.from_pretrained(folder, local_files_only=True)
        except _load_errors() as exc:
            raise ModelLoadError(
                f"The CLIPSeg model in {folder.name} cannot be loaded: a file is damaged or from another model.",
                hint=f"Take the files again from {spec.example_repo}.",
                details=str(exc),
            ) from exc
        model.to(target).eval()  # type: ignore[arg-type]  # transformers stubs miss the device form
        self._model, self._processor, self._device = model, processor, target
        log.info("Loaded CLIPSeg %s on %s", folder.name, target)

    @torch.inference_mode()
    def predict(self, image: Image.Image, prompt: str = "") -> np.ndarray:
        if self._model is None:
            raise ModelLoadError("The CLIPSeg model is not loaded.", hint="Load a model folder first.")
        prompt = prompt.strip() or "the main subject"
        self.last_prompt = prompt
        inputs = self._processor(
            text=[prompt], images=[image.convert("RGB")], return_tensors="pt", padding=True
        ).to(self._device)
        logits = self._model(**inputs).logits
        scores = torch.sigmoid(logits.float()).reshape(logits.shape[-2], logits.shape[-1]).cpu().numpy()
        return resize_scores(scores, image.size)

    def unload(self) -> None:
        self._model = self._processor = None
        if self._device.type == "cuda":
            torch.cuda.empty_cache()
