"""Sample images during training, through the pipeline that holds the LoRA being trained.

Sampling never disturbs training: models go to eval mode and back, and the global RNG states are
restored afterwards, so a run with samples takes the same steps as one without.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import torch

from lora_studio.core.fileio import atomic_write_with
from lora_studio.training.checkpoints import capture_rng, restore_rng
from lora_studio.training.config import SamplePrompt, TrainConfig
from lora_studio.training.run_files import sample_filename

log = logging.getLogger(__name__)


@contextlib.contextmanager
def isolated(modules: list[torch.nn.Module]) -> Iterator[None]:
    """Eval mode and untouched RNG streams for the duration of the block."""
    rng = capture_rng()
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, was in zip(modules, modes):
            m.train(was)
        restore_rng(rng)


def _infotext(p: SamplePrompt, width: int, height: int, seed: int, cfg: TrainConfig, step: int) -> str:
    neg = f"\nNegative prompt: {p.negative}" if p.negative else ""
    return (
        f"{p.prompt}{neg}\nSteps: {p.steps}, CFG scale: {p.cfg:g}, Seed: {seed}, Size: {width}x{height}, "
        f"Clip skip: {cfg.model.clip_skip}, Training step: {step}"
    )


def generate_samples(
    pipeline: Any,
    config: TrainConfig,
    out_dir: Path,
    *,
    step: int,
    epoch: int,
    trained_modules: list[torch.nn.Module],
    text_encoder: Any = None,
) -> list[tuple[int, str, Path]]:
    """Render every sample prompt; returns (prompt index, prompt, PNG path)."""
    from PIL.PngImagePlugin import PngInfo

    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    device = pipeline.unet.device
    clip_skip = config.model.clip_skip - 1 if config.model.clip_skip > 1 else None
    with isolated(trained_modules):
        for i, p in enumerate(config.sample.prompts):
            width = p.width or config.dataset.resolution
            height = p.height or config.dataset.resolution
            seed = p.seed if p.seed >= 0 else config.run.seed + i
            gen = torch.Generator(device="cpu").manual_seed(seed)
            prompt_kw: dict[str, Any] = {"prompt": p.prompt, "negative_prompt": p.negative or None}
            if text_encoder is not None and not hasattr(pipeline, "text_encoder_2"):
                # Our encoder: clip skip (diffusers' SD1 clip_skip breaks on transformers 5) and
                # long prompts in 75-token windows, exactly as in training.
                pos, _ = text_encoder.encode([p.prompt])
                neg, _ = text_encoder.encode([p.negative])
                prompt_kw = {"prompt_embeds": pos, "negative_prompt_embeds": neg}
                clip_skip = None
            image = pipeline(
                **prompt_kw,
                width=width,
                height=height,
                num_inference_steps=p.steps,
                guidance_scale=p.cfg,
                generator=gen,
                clip_skip=clip_skip,
                output_type="pil",
            ).images[0]
            info = PngInfo()
            info.add_text("parameters", _infotext(p, width, height, seed, config, step))
            path = out_dir / sample_filename(config.run.output_name, step=step, epoch=epoch, prompt_index=i)
            atomic_write_with(path, partial(_save_png, image, info))
            results.append((i, p.prompt, path))
    del device
    return results


def _save_png(image: Any, info: Any, path: Path) -> None:
    image.save(path, format="PNG", pnginfo=info)
