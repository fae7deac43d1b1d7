"""Vision-language captioners that follow an instruction: Qwen2-VL / Qwen2.5-VL / Qwen3-VL and
JoyCaption (any LLaVA-architecture model), through transformers, from a local folder only.

The picture and the instruction go through the model's own chat template (a system line, then the
picture and the instruction), so an instruct model answers the way it was trained to. The trigger
word reaches the model through the instruction (``{trigger}``, or a sentence added to it; see
``InstructOptions.prompt_text``) and is put first in the saved caption by the run, as for every
captioner.

On a graphics card the model can load in 8 or 4 bit through bitsandbytes (a 3-4B Qwen-VL then
fits next to nothing else on an 8 GB card; JoyCaption's 8B needs 4 bit). On the CPU the setting is
ignored and the model runs in full precision: slowly, a picture at a time, with the run's progress
bar and time estimate.

Qwen-VL's transformers processor also builds a video processor, which needs torchvision; without
it the pictures are prepared here with the model's image processor and tokenizer, the same way the
processor does (one ``<|image_pad|>`` per merged patch).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from PIL import Image

from lora_studio.captioning.base import (
    LLAVA,
    QWEN_VL,
    Captioner,
    CaptionOptions,
    CaptionResult,
    InstructOptions,
    Quantization,
    missing_model_message,
)
from lora_studio.captioning.models.blip import _load_errors, resolve_device
from lora_studio.captioning.models.florence2 import check_folder, clean_text
from lora_studio.core.errors import ModelLoadError

log = logging.getLogger(__name__)


def quantization_config(quantization: Quantization, device: torch.device) -> Any:
    """bitsandbytes settings for a CUDA load; None for full precision (and always on the CPU)."""
    if quantization is Quantization.NONE or device.type != "cuda":
        if quantization is not Quantization.NONE:
            log.info(
                "%s loading needs a graphics card; the CPU loads the model in full precision", quantization
            )
        return None
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as exc:
        raise ModelLoadError(
            "Loading in 8 or 4 bit needs the bitsandbytes package, which is not installed.",
            hint="Install it with: pip install bitsandbytes — or choose full precision.",
        ) from exc
    if quantization is Quantization.FOUR_BIT:
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.float16,
            bnb_4bit_use_double_quant=True,
        )
    return BitsAndBytesConfig(load_in_8bit=True)


MAX_SIDE = 1024  # larger pictures are scaled down first: more pixels only cost time and memory


def fit_picture(image: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """RGB, the longest side at most ``max_side`` (Qwen-VL turns every 28 px square into a token)."""
    image = image if image.mode == "RGB" else image.convert("RGB")
    if max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def read_chat_template(folder: Path) -> str | None:
    """The chat template a model folder keeps outside the tokenizer (chat_template.jinja / .json)."""
    jinja, js = folder / "chat_template.jinja", folder / "chat_template.json"
    try:
        if jinja.is_file():
            return jinja.read_text(encoding="utf-8")
        if js.is_file():
            data = json.loads(js.read_text(encoding="utf-8"))
            template = data.get("chat_template") if isinstance(data, dict) else None
            return template if isinstance(template, str) else None
    except (OSError, ValueError):
        return None
    return None


class VisionLanguageCaptioner(Captioner):
    """The shared part: load, build the chat prompt, generate, keep only the new text."""

    options_type = InstructOptions
    family_name: ClassVar[str] = "vision-language"
    image_token: ClassVar[str] = "<image>"

    def __init__(self) -> None:
        super().__init__()
        self._model: Any = None
        self._processor: Any = None
        self._tokenizer: Any = None
        self._image_processor: Any = None
        self._device = torch.device("cpu")
        self.quantization = Quantization.NONE
        self.last_prompts: list[str] = []  # what the model was asked last (decoded), for checks

    def prepare(self, options: CaptionOptions) -> None:
        if isinstance(options, InstructOptions):
            self.quantization = Quantization(options.quantization)

    @property
    def device(self) -> torch.device:
        return self._device

    def load(self, model_dir: str | os.PathLike[str], device: str = "auto") -> None:
        from transformers import AutoModelForImageTextToText

        folder = Path(model_dir)
        check_folder(folder, self.kind, self.family_name)
        target = resolve_device(device)
        dtype = torch.float16 if target.type == "cuda" else torch.float32
        quant = quantization_config(self.quantization, target)
        kwargs: dict[str, Any] = {"local_files_only": True, "dtype": dtype}
        if quant is not None:
            kwargs["quantization_config"] = quant
            kwargs["device_map"] = {"": target.index or 0}
        try:
            self._load_processor(folder)
            model = AutoModelForImageTextToText.from_pretrained(folder, **kwargs)
        except ModelLoadError:
            raise
        except _load_errors() as exc:
            raise ModelLoadError(
                f"The {self.family_name} model in {folder.name} cannot be loaded: a file is damaged or "
                "from another model.",
                hint=missing_model_message(self.kind, folder),
                details=str(exc),
            ) from exc
        if self._tokenizer.chat_template is None and getattr(self._processor, "chat_template", None) is None:
            raise ModelLoadError(
                f"The model in {folder.name} has no chat template, so it cannot take an instruction.",
                hint="Use the instruct (chat) version of the model, with its chat_template file.",
            )
        if quant is None:
            model.to(target)  # type: ignore[arg-type]
        model.eval()
        self._model, self._device = model, target
        self.model_dir = folder
        log.info(
            "Loaded %s captioner %s on %s (%s)",
            self.family_name,
            folder.name,
            target,
            self.quantization.value,
        )

    def _load_processor(self, folder: Path) -> None:
        from transformers import AutoProcessor

        self._processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
        self._tokenizer = self._processor.tokenizer

    # -- prompts -------------------------------------------------------------------------------
    def messages(self, options: InstructOptions) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if options.system.strip():
            messages.append({"role": "system", "content": options.system.strip()})
        content = [{"type": "image"}, {"type": "text", "text": options.prompt_text()}]
        messages.append({"role": "user", "content": content})
        return messages

    def chat_prompt(self, options: InstructOptions) -> str:
        template_owner = (
            self._processor if getattr(self._processor, "chat_template", None) else self._tokenizer
        )
        return str(
            template_owner.apply_chat_template(
                self.messages(options), add_generation_prompt=True, tokenize=False
            )
        )

    def encode(self, images: list[Image.Image], prompt: str) -> Any:
        return self._processor(text=[prompt] * len(images), images=images, return_tensors="pt", padding=True)

    # -- captions ------------------------------------------------------------------------------
    @torch.inference_mode()
    def caption(self, images: Sequence[Image.Image], options: CaptionOptions) -> list[CaptionResult]:
        self.check_options(options)
        assert isinstance(options, InstructOptions)
        if self._model is None:
            raise ModelLoadError(
                f"The {self.family_name} model is not loaded.", hint="Load a model folder first."
            )
        if not images:
            return []
        rgb = [fit_picture(im) for im in images]
        self._tokenizer.padding_side = "left"  # generation continues every row from its end
        inputs = self.encode(rgb, self.chat_prompt(options)).to(self._device)
        if "pixel_values" in inputs and self._model.dtype.is_floating_point:
            inputs["pixel_values"] = inputs["pixel_values"].to(self._model.dtype)
        ids = inputs["input_ids"]
        self.last_prompts = [self._tokenizer.decode(row, skip_special_tokens=True) for row in ids]
        out = self._model.generate(
            **inputs,
            max_new_tokens=max(1, options.max_new_tokens),
            min_new_tokens=max(0, min(options.min_new_tokens, options.max_new_tokens)),
            do_sample=False,
        )
        texts = self._tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
        return [CaptionResult(text=clean_text(t)) for t in texts]

    def unload(self) -> None:
        self._model = self._processor = self._tokenizer = self._image_processor = None
        if self._device.type == "cuda":
            torch.cuda.empty_cache()
        super().unload()


class QwenVLCaptioner(VisionLanguageCaptioner):
    """Qwen2-VL, Qwen2.5-VL and Qwen3-VL instruct models."""

    kind = QWEN_VL.kind
    family_name = "Qwen-VL"
    image_token = "<|image_pad|>"

    def _load_processor(self, folder: Path) -> None:
        try:
            super()._load_processor(folder)
            return
        except ImportError as exc:  # the video half of the processor needs torchvision
            log.info("Qwen-VL processor unavailable (%s); preparing pictures without it", exc)
        from transformers import AutoImageProcessor, AutoTokenizer

        self._processor = None
        self._image_processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
        self._tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        if self._tokenizer.chat_template is None:  # kept next to the processor in some uploads
            self._tokenizer.chat_template = read_chat_template(folder)

    def chat_prompt(self, options: InstructOptions) -> str:
        if self._processor is not None:
            return super().chat_prompt(options)
        return str(
            self._tokenizer.apply_chat_template(
                self.messages(options), add_generation_prompt=True, tokenize=False
            )
        )

    def encode(self, images: list[Image.Image], prompt: str) -> Any:
        if self._processor is not None:
            return super().encode(images, prompt)
        from transformers import BatchFeature

        pixels = self._image_processor(images=images, return_tensors="pt")
        merge = int(getattr(self._image_processor, "merge_size", 2)) ** 2
        texts = [
            prompt.replace(self.image_token, self.image_token * int(grid.prod().item() // merge), 1)
            for grid in pixels["image_grid_thw"]
        ]
        text = self._tokenizer(texts, return_tensors="pt", padding=True)
        return BatchFeature({**text, **pixels})


class LlavaCaptioner(VisionLanguageCaptioner):
    """JoyCaption and other LLaVA-architecture instruct models."""

    kind = LLAVA.kind
    family_name = "JoyCaption / LLaVA"
