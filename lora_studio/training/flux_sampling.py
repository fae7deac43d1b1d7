"""Samples of a FLUX run, rendered by the FLUX pipeline that holds the LoRA being trained.

The prompts' T5/CLIP outputs come from the run's text cache (encoded before the first step), so
the text encoders need not be on the card, or even in memory, when samples are made. Distilled
guidance is the prompt's ``guidance`` (Forge's "Distilled CFG Scale"); real CFG is not used.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import torch

from lora_studio.core.fileio import atomic_write_with
from lora_studio.training.config import SamplePrompt, TrainConfig
from lora_studio.training.run_files import sample_filename
from lora_studio.training.sampling import _save_png, isolated


def flux_infotext(p: SamplePrompt, width: int, height: int, seed: int, step: int, guidance: bool) -> str:
    """A1111/Forge "parameters" text of a FLUX sample (Forge writes distilled guidance this way)."""
    distilled = f", Distilled CFG Scale: {p.guidance:g}" if guidance else ""
    return (
        f"{p.prompt}\nSteps: {p.steps}, Sampler: Euler, Schedule type: Simple, CFG scale: 1"
        f"{distilled}, Seed: {seed}, Size: {width}x{height}, Training step: {step}"
    )


def generate_flux_samples(
    session: Any,  # a FluxTrainingSession
    config: TrainConfig,
    out_dir: Path,
    *,
    step: int,
    epoch: int,
    trained_modules: list[torch.nn.Module],
) -> list[tuple[int, str, Path]]:
    """Render every sample prompt; returns (prompt index, prompt, PNG path)."""
    from PIL.PngImagePlugin import PngInfo

    pipe = session.pipeline
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    device = session.device
    dtype = pipe.vae.dtype
    with isolated(trained_modules):
        for i, p in enumerate(config.sample.prompts):
            width = p.width or config.dataset.resolution
            height = p.height or config.dataset.resolution
            seed = p.seed if p.seed >= 0 else config.run.seed + i
            hidden, pooled = session.prompt_conditioning(p.prompt)
            with session.autocast():
                image = pipe(
                    prompt_embeds=hidden.to(device, dtype),
                    pooled_prompt_embeds=pooled.to(device, dtype),
                    width=width,
                    height=height,
                    num_inference_steps=p.steps,
                    guidance_scale=p.guidance,
                    generator=torch.Generator(device="cpu").manual_seed(seed),
                    output_type="pil",
                ).images[0]
            info = PngInfo()
            info.add_text("parameters", flux_infotext(p, width, height, seed, step, session.guidance_embeds))
            path = out_dir / sample_filename(config.run.output_name, step=step, epoch=epoch, prompt_index=i)
            atomic_write_with(path, partial(_save_png, image, info))
            results.append((i, p.prompt, path))
    return results
