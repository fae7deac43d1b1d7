"""Tiny FLUX.1 models and LoRA files for the generation tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

TE_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")


def save_tiny_flux_model(folder: Path, variant: str = "dev") -> Path:
    """The tiny FLUX.1 model as users have it: a BFL-layout transformer file with clip_l, t5xxl and
    ae beside it (the loader finds them). Returns the transformer file."""
    from lora_studio.diffusion.tiny_flux import save_tiny_flux

    files = save_tiny_flux(folder, 0, variant, layouts=("transformer", "clip_l", "t5xxl", "ae"))
    return files["transformer"]


def random_flux_peft(seed: int, *, rank: int = 4, scale: float = 0.05, blocks: str = "all", te: bool = True):
    """PEFT-layout LoRA weights for the tiny FLUX transformer (and CLIP-L), random and non-zero:
    every Linear (``blocks="all"``: blocks, embedders, final layer) or the double blocks' only."""
    from lora_studio.diffusion.tiny_flux import build_tiny_flux_pipeline

    pipe = build_tiny_flux_pipeline(0)
    gen = torch.Generator().manual_seed(seed)

    def lora_for(model, keep) -> dict[str, torch.Tensor]:
        sd = {}
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and keep(name):
                sd[f"{name}.lora_A.weight"] = torch.randn(rank, module.in_features, generator=gen) * scale * 4
                sd[f"{name}.lora_B.weight"] = torch.randn(module.out_features, rank, generator=gen) * scale
        return sd

    def in_transformer(name: str) -> bool:
        if blocks == "double":
            return name.startswith("transformer_blocks")
        return True

    transformer = lora_for(pipe.transformer, in_transformer)
    text = lora_for(pipe.text_encoder, lambda n: n.endswith(TE_TARGETS)) if te else {}
    return transformer, text


def write_kohya_flux_lora(path: Path, seed: int, alpha: float = 2.0, **kwargs) -> Path:
    from lora_studio.formats.flux_lora_keys import save_flux_kohya_lora

    transformer, text = random_flux_peft(seed, **kwargs)
    return save_flux_kohya_lora(
        path,
        transformer,
        text_encoder_state_dict=text,
        alpha_for=alpha,
        metadata={"ss_base_model_version": "flux1", "ss_network_dim": "4", "ss_network_alpha": str(alpha)},
    )


@pytest.fixture(scope="module")
def flux_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("flux")
    loras = root / "loras"
    loras.mkdir()
    write_kohya_flux_lora(loras / "fa.safetensors", seed=11)
    write_kohya_flux_lora(loras / "fb.safetensors", seed=12, alpha=4.0)
    return {
        "dev": save_tiny_flux_model(root / "flux-dev", "dev"),
        "schnell": save_tiny_flux_model(root / "flux-schnell", "schnell"),
        "loras": loras,
    }


@pytest.fixture(scope="module")
def flux_engine(flux_dirs):
    from lora_studio.generation.engine import GenerationEngine

    return GenerationEngine(lora_dirs=[flux_dirs["loras"]], max_models=3, device="cpu", dtype=torch.float32)


@pytest.fixture()
def flux_request(flux_dirs, tmp_path):
    from lora_studio.generation.request import GenerationRequest, family_defaults

    d = family_defaults("flux")
    return GenerationRequest(
        model=str(flux_dirs["dev"]),
        prompt="a photo of a cat",
        sampler=d.sampler,
        schedule=d.schedule,
        cfg=d.cfg,
        steps=3,
        seed=7,
        width=64,
        height=64,
        output_dir=str(tmp_path / "out"),
    )


def bfl_dotted(body: str) -> str:
    """A kohya FLUX name body (``double_blocks_0_img_attn_qkv``) in BFL dotted form."""
    from lora_studio.formats import flux_lora_keys as fk

    m = fk._BLOCK.match(body)
    if m:
        return f"{m.group(1)}.{m.group(2)}.{fk._UNDERSCORED_BFL[m.group(3)]}"
    return fk._UNDERSCORED_BFL[body]
