"""Full-size random-weight base models from LoRA Studio's bundled configs (for the benchmarks).

``save_random_model(family, folder, dtype)`` writes a diffusers folder with the real architecture of
SD 1.5 / SDXL (UNet, text encoders, VAE from ``lora_studio/resources/model_configs``) and random
weights, built directly in ``dtype`` so building SDXL never needs an fp32 copy. ``--tiny`` callers
use :mod:`lora_studio.diffusion.tiny` instead.

FLUX.1-dev: ``build_random_flux_pipeline`` makes the transformer, T5-XXL, CLIP-L and autoencoder on
the meta device and fills them with small normal values in ``dtype`` (no slow per-layer init).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# family -> (bundled config name, native resolution)
FAMILIES: dict[str, tuple[str, int]] = {
    "sd1": ("sd15", 512),
    "sdxl": ("sdxl-base", 1024),
    "flux": ("flux-dev", 1024),
}


def build_random_flux_pipeline(dtype: torch.dtype = torch.bfloat16, seed: int = 0) -> Any:
    """FLUX.1-dev's real architecture (bundled configs) with random weights (std 0.02) in ``dtype``."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel

    from lora_studio.diffusion.configs import materialize_config
    from lora_studio.diffusion.t5_tokenizer import load_t5_tokenizer

    folder = materialize_config(FAMILIES["flux"][0])
    with init_empty_weights():
        transformer = FluxTransformer2DModel.from_config(FluxTransformer2DModel.load_config(folder / "transformer"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        clip = CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder"))
        t5 = T5EncoderModel(T5Config.from_pretrained(folder / "text_encoder_2"))
    gen = torch.Generator().manual_seed(seed)
    for model in (transformer, vae, clip, t5):
        model.to_empty(device="cpu")
        model.to(dtype)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "norm" in name and name.endswith("weight"):
                    p.fill_(1.0)
                elif name.endswith("bias"):
                    p.zero_()
                else:
                    p.normal_(0.0, 0.02, generator=gen)
            for b in model.buffers():
                if b.is_floating_point():
                    b.zero_()
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler.from_pretrained(folder / "scheduler"),
        vae=vae,
        text_encoder=clip,
        tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer"),
        text_encoder_2=t5,
        tokenizer_2=load_t5_tokenizer(),
        transformer=transformer,
    )


def build_random_pipeline(family: str, dtype: torch.dtype = torch.bfloat16, seed: int = 0) -> Any:
    """The real architecture of ``family`` with random weights, created in ``dtype``."""
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from lora_studio.diffusion.configs import materialize_config

    folder = materialize_config(FAMILIES[family][0])
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # modules are born in dtype: no fp32 copy of the weights
    try:
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        te = CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder"))
        parts: dict[str, Any] = {
            "unet": unet,
            "vae": vae,
            "text_encoder": te,
            "tokenizer": CLIPTokenizer.from_pretrained(folder / "tokenizer"),
            "scheduler": EulerDiscreteScheduler.from_pretrained(folder / "scheduler"),
        }
        if family == "sdxl":
            parts["text_encoder_2"] = CLIPTextModelWithProjection(
                CLIPTextConfig.from_pretrained(folder / "text_encoder_2")
            )
            parts["tokenizer_2"] = CLIPTokenizer.from_pretrained(folder / "tokenizer_2")
            return StableDiffusionXLPipeline(**parts)
        return StableDiffusionPipeline(
            **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
        )
    finally:
        torch.set_default_dtype(previous)


def save_random_model(family: str, out: Path, dtype: torch.dtype = torch.bfloat16) -> Path:
    """Write the random model as a diffusers folder (reused when it is already there)."""
    out = Path(out)
    marker = out / ".complete"
    if marker.exists():
        return out
    pipe = build_random_flux_pipeline(dtype) if family == "flux" else build_random_pipeline(family, dtype)
    pipe.save_pretrained(str(out), safe_serialization=True)
    marker.write_text(json.dumps({"family": family, "dtype": str(dtype)}), encoding="utf-8")
    del pipe
    return out


def save_pictures(folder: Path, count: int, size: int, seed: int = 0) -> Path:
    """``count`` simple captioned pictures of ``size`` px for a training benchmark."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(count):
        base = rng.integers(0, 255, 3)
        arr = np.stack([(base[c] + xx * (c + 1) + yy) % 255 for c in range(3)], -1).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"img{i}.png")
        (folder / f"img{i}.txt").write_text(f"sks, picture {i}", encoding="utf-8")
    return folder


def make_lora(path: Path, unet: torch.nn.Module, family: str, seed: int, rank: int) -> Path:
    """A random kohya LoRA on every attention projection of ``unet``."""
    from lora_studio.formats.lora_keys import kohya_name
    from lora_studio.formats.safetensors_meta import write_safetensors

    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    layout = dict(unet.config)  # SDXL names follow this UNet's own block numbers (kohya's layout)
    for name, module in unet.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if isinstance(module, torch.nn.Linear) and (
            leaf in ("to_q", "to_k", "to_v") or name.endswith("to_out.0")
        ):
            key = kohya_name("unet", name, family, layout)
            tensors[f"{key}.lora_down.weight"] = (
                torch.randn(rank, module.in_features, generator=gen).half() * 0.01
            )
            tensors[f"{key}.lora_up.weight"] = (
                torch.randn(module.out_features, rank, generator=gen).half() * 0.01
            )
            tensors[f"{key}.alpha"] = torch.tensor(float(rank)).half()
    return write_safetensors(path, tensors, {"ss_network_dim": str(rank)})
