"""sd-scripts' LoRA naming rules (``networks/lora.py``), restated for the tests: which modules it
creates and what it calls them, from a model's classes or from original-layout (LDM) key names."""

from __future__ import annotations

import re

import torch
from accelerate import init_empty_weights

RANK, CONV_RANK = 4, 2
KOHYA_UNET = {"Transformer2DModel"}
KOHYA_UNET_CONV = {"ResnetBlock2D", "Downsample2D", "Upsample2D"}
KOHYA_TE = {"CLIPAttention", "CLIPSdpaAttention", "CLIPMLP"}
# Original-layout (LDM) block prefixes: input_blocks.N.S., middle_block.S., output_blocks.N.S.
_LDM_BLOCK = r"(?:input_blocks\.\d+|middle_block|output_blocks\.\d+)\.\d+\."
_LDM_TRANSFORMER = re.compile(_LDM_BLOCK + r"(?:proj_in|proj_out|transformer_blocks\..+)\.weight$")
# ResBlock layers, the downsampler's ``op`` and the upsampler's ``conv`` (its Conv2d sits right after the slot).
_LDM_CONV_PARTS = re.compile(
    _LDM_BLOCK + r"(?:in_layers\.2|out_layers\.3|emb_layers\.1|skip_connection|op|conv)\.weight$"
)


def meta_pipeline(name: str) -> dict[str, torch.nn.Module]:
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from lora_studio.diffusion.configs import materialize_config

    root = materialize_config(name)
    with init_empty_weights():
        models = {
            "unet": UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(root / "unet")),
            "text_encoder": CLIPTextModel(CLIPTextConfig.from_pretrained(root, subfolder="text_encoder")),
        }
        if (root / "text_encoder_2").exists():
            cfg = CLIPTextConfig.from_pretrained(root, subfolder="text_encoder_2")
            models["text_encoder_2"] = CLIPTextModelWithProjection(cfg)
    return models


def lora_shapes(weight_shape: tuple[int, ...], rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(lora_down, lora_up) shapes sd-scripts' LoRAModule gives a Linear or Conv2d of this weight."""
    if len(weight_shape) == 2:
        return (rank, weight_shape[1]), (weight_shape[0], rank)
    return (rank, weight_shape[1], *weight_shape[2:]), (weight_shape[0], rank, 1, 1)


def by_class(
    model: torch.nn.Module,
    prefix: str,
    classes: set[str],
    conv: bool,
    text_model: bool,
    rank: int = RANK,
    conv_rank: int = CONV_RANK,
) -> dict[str, tuple]:
    """sd-scripts' ``create_modules`` walk over a diffusers/transformers model."""
    out: dict[str, tuple] = {}
    for name, module in model.named_modules():
        if type(module).__name__ not in classes:
            continue
        for child_name, child in module.named_modules():
            if not isinstance(child, torch.nn.Linear | torch.nn.Conv2d):
                continue
            is_3x3 = isinstance(child, torch.nn.Conv2d) and child.kernel_size != (1, 1)
            if is_3x3 and not conv:
                continue
            path = f"{name}.{child_name}"
            if text_model and not path.startswith("text_model."):
                path = "text_model." + path  # sd-scripts' CLIPTextModel has the text_model wrapper
            out[f"{prefix}_{path.replace('.', '_')}"] = lora_shapes(
                tuple(child.weight.shape), conv_rank if is_3x3 else rank
            )
    return out


def sdxl_unet_from_ldm_keys(
    unet: torch.nn.Module, conv: bool, rank: int = RANK, conv_rank: int = CONV_RANK
) -> dict[str, tuple]:
    """The same rule on the original-layout key names of the SDXL UNet."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    from lora_studio.diffusion.ldm_format import unet_to_ldm

    state = unet.state_dict()
    ldm = unet_to_ldm(state, dict(unet.config))
    # The original-layout names are right: diffusers' own converter maps them back to the model's.
    assert set(convert_ldm_unet_checkpoint(ldm, dict(unet.config))) == set(state)
    out: dict[str, tuple] = {}
    for key, tensor in ldm.items():
        path = key.removeprefix("model.diffusion_model.")
        if tensor.ndim not in (2, 4):
            continue
        is_3x3 = tensor.ndim == 4 and tuple(tensor.shape[2:]) != (1, 1)
        in_transformer = bool(_LDM_TRANSFORMER.match(path))
        in_conv_part = conv and bool(_LDM_CONV_PARTS.match(path)) and not in_transformer
        if not (in_transformer or in_conv_part) or (is_3x3 and not conv):
            continue
        name = "lora_unet_" + path.removesuffix(".weight").replace(".", "_")
        out[name] = lora_shapes(tuple(tensor.shape), conv_rank if is_3x3 else rank)
    return out
