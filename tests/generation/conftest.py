"""Fixtures for the generation tests: tiny models, random LoRAs in kohya and diffusers format."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.generation.flux_helpers import flux_dirs, flux_engine, flux_request  # noqa: F401 - FLUX fixtures

UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out"]
TE_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]


def add_random_lora(pipe, seed: int, rank: int = 4, alpha: float = 2.0, scale: float = 0.3):
    """Add a PEFT LoRA named "ref" with random (non-zero) A and B to the UNet and text encoder(s)."""
    import torch
    from peft import LoraConfig

    gen = torch.Generator().manual_seed(seed)
    comps = {"unet": UNET_TARGETS, "text_encoder": TE_TARGETS}
    if getattr(pipe, "text_encoder_2", None) is not None:
        comps["text_encoder_2"] = TE_TARGETS
    for comp, targets in comps.items():
        model = getattr(pipe, comp)
        model.add_adapter(
            LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets, init_lora_weights=True), "ref"
        )
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_" in name:
                    param.copy_(torch.randn(param.shape, generator=gen) * scale)
    return comps


def peft_state_dicts(pipe) -> dict:
    from peft.utils import get_peft_model_state_dict

    out = {}
    for comp in ("unet", "text_encoder", "text_encoder_2"):
        model = getattr(pipe, comp, None)
        if model is not None:
            out[comp] = get_peft_model_state_dict(model, adapter_name="ref")
    return out


def make_kohya_lora(path: Path, family: str, seed: int, alpha: float = 2.0) -> Path:
    """A kohya-format LoRA file for the tiny model of ``family`` (written by the formats agent's saver)."""
    from lora_studio.diffusion.tiny import build_tiny_pipeline
    from lora_studio.formats.lora_keys import save_kohya_lora

    pipe = build_tiny_pipeline(family, 0)
    add_random_lora(pipe, seed, alpha=alpha)
    return save_kohya_lora(
        path,
        peft_state_dicts(pipe),
        family=family,
        alpha_for=lambda *_: alpha,
        metadata={"ss_network_dim": "4", "ss_network_alpha": str(alpha), "ss_output_name": path.stem},
        unet_config=dict(pipe.unet.config),
    )


def make_diffusers_lora(folder: Path, family: str, seed: int) -> Path:
    """A diffusers/peft-format LoRA (``save_lora_weights``), alpha = rank."""
    from lora_studio.diffusion.tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline(family, 0)
    add_random_lora(pipe, seed, alpha=4.0)
    sds = peft_state_dicts(pipe)
    kwargs = {"unet_lora_layers": sds["unet"], "text_encoder_lora_layers": sds["text_encoder"]}
    if "text_encoder_2" in sds:
        kwargs["text_encoder_2_lora_layers"] = sds["text_encoder_2"]
    type(pipe).save_lora_weights(str(folder), **kwargs)
    return folder / "pytorch_lora_weights.safetensors"


@pytest.fixture(scope="session")
def lora_dir(tmp_path_factory) -> Path:
    """A folder with LoRAs for the tiny SD1 model: a.safetensors, b.safetensors (kohya, seeds 1/2),
    diff.safetensors (diffusers format, seed 1 with alpha = rank) and xl.safetensors (tiny SDXL)."""
    folder = tmp_path_factory.mktemp("loras")
    make_kohya_lora(folder / "a.safetensors", "sd1", 1)
    make_kohya_lora(folder / "b.safetensors", "sd1", 2)
    sub = tmp_path_factory.mktemp("diffusers-lora")
    make_diffusers_lora(sub, "sd1", 3).rename(folder / "diff.safetensors")
    make_kohya_lora(folder / "xl.safetensors", "sdxl", 4)
    return folder


@pytest.fixture(scope="session")
def engine(lora_dir):
    """One engine for the session (as in the app): pipelines stay cached between tests."""
    from lora_studio.generation.engine import GenerationEngine

    return GenerationEngine(lora_dirs=[lora_dir], max_models=2)


@pytest.fixture()
def base_request(tiny_sd1_dir, tmp_path):
    from lora_studio.generation.request import GenerationRequest

    return GenerationRequest(
        model=str(tiny_sd1_dir),
        prompt="a photo of a cat",
        negative="blurry",
        steps=3,
        seed=42,
        width=64,
        height=64,
        output_dir=str(tmp_path / "out"),
        sampler="Euler",
    )


def image_array(path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32)
