"""Our LoRA modules are exactly the ones sd-scripts creates, on the full-size SD 1.5, SD 2.x and SDXL
architectures (built on the meta device from the bundled configs: no weights, no memory).

The expected set is derived here from sd-scripts' rules (``networks/lora.py``): every Linear and
Conv2d inside a ``Transformer2DModel`` (plus ``ResnetBlock2D``/``Downsample2D``/``Upsample2D`` when
conv layers are trained) of the UNet, and every Linear of the text encoders' ``CLIPAttention`` and
``CLIPMLP``, named ``<prefix>_<module path with "_">``. sd-scripts trains SD 1.x/2.x on a UNet with
diffusers' module names and SDXL on one with the original layout's names, so for SDXL the set is
derived from the original-layout key names of the bundled SDXL config's UNet.
"""

from __future__ import annotations

import re

import pytest
import torch
from accelerate import init_empty_weights

from lora_studio.diffusion.families import ModelFamily
from lora_studio.formats.lora_keys import kohya_name
from lora_studio.training.config import NetworkConfig, NetworkTarget
from lora_studio.training.network import add_lora, text_encoder_targets, unet_targets

RANK, CONV_RANK = 4, 2
_KOHYA_UNET = {"Transformer2DModel"}
_KOHYA_UNET_CONV = {"ResnetBlock2D", "Downsample2D", "Upsample2D"}
_KOHYA_TE = {"CLIPAttention", "CLIPSdpaAttention", "CLIPMLP"}
# Original-layout (LDM) block prefixes: input_blocks.N.S., middle_block.S., output_blocks.N.S.
_LDM_BLOCK = r"(?:input_blocks\.\d+|middle_block|output_blocks\.\d+)\.\d+\."
_LDM_TRANSFORMER = re.compile(_LDM_BLOCK + r"(?:proj_in|proj_out|transformer_blocks\..+)\.weight$")
# ResBlock layers, the downsampler's ``op`` and the upsampler's ``conv`` (its Conv2d sits right after the slot).
_LDM_CONV_PARTS = re.compile(
    _LDM_BLOCK + r"(?:in_layers\.2|out_layers\.3|emb_layers\.1|skip_connection|op|conv)\.weight$"
)


def _meta_pipeline(name: str) -> dict[str, torch.nn.Module]:
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


def _lora_shapes(weight_shape: tuple[int, ...], rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(lora_down, lora_up) shapes sd-scripts' LoRAModule gives a Linear or Conv2d of this weight."""
    if len(weight_shape) == 2:
        return (rank, weight_shape[1]), (weight_shape[0], rank)
    return (rank, weight_shape[1], *weight_shape[2:]), (weight_shape[0], rank, 1, 1)


def _by_class(
    model: torch.nn.Module, prefix: str, classes: set[str], conv: bool, text_model: bool
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
            out[f"{prefix}_{path.replace('.', '_')}"] = _lora_shapes(
                tuple(child.weight.shape), CONV_RANK if is_3x3 else RANK
            )
    return out


def _sdxl_unet_from_ldm_keys(unet: torch.nn.Module, conv: bool) -> dict[str, tuple]:
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
        out[name] = _lora_shapes(tuple(tensor.shape), CONV_RANK if is_3x3 else RANK)
    return out


def _expected(models: dict[str, torch.nn.Module], family: ModelFamily, te: bool, conv: bool) -> dict:
    if family == ModelFamily.SDXL:
        out = _sdxl_unet_from_ldm_keys(models["unet"], conv)
    else:
        classes = _KOHYA_UNET | (_KOHYA_UNET_CONV if conv else set())
        out = _by_class(models["unet"], "lora_unet", classes, conv, text_model=False)
    if te:
        prefixes = {"text_encoder": "lora_te1", "text_encoder_2": "lora_te2"}
        for comp in ("text_encoder", "text_encoder_2"):
            if comp in models:
                prefix = prefixes[comp] if family == ModelFamily.SDXL else "lora_te"
                out.update(_by_class(models[comp], prefix, _KOHYA_TE, conv, text_model=True))
    return out


def _ours(models: dict[str, torch.nn.Module], family: ModelFamily, te: bool, conv: bool) -> dict:
    """Our trainer's targets with PEFT adapters injected, named by ``kohya_name`` as the writer does."""
    cfg = NetworkConfig(
        rank=RANK,
        alpha=RANK,
        conv_rank=CONV_RANK,
        conv_alpha=CONV_RANK,
        target=NetworkTarget.ATTENTION_FF_CONV if conv else NetworkTarget.ATTENTION_FF,
    )
    comps = {"unet": unet_targets(models["unet"], cfg.target)}
    if te:
        comps.update({c: text_encoder_targets(m) for c, m in models.items() if c != "unet"})
    out: dict[str, tuple] = {}
    unet_config = dict(models["unet"].config)
    for comp, targets in comps.items():
        add_lora(models[comp], targets, cfg)
        layers = dict(models[comp].named_modules())
        for path in targets.all:
            layer = layers[path]
            down, up = layer.lora_A["default"].weight, layer.lora_B["default"].weight
            name = kohya_name(comp, path, family, unet_config)
            assert name not in out
            out[name] = (tuple(down.shape), tuple(up.shape))
    return out


@pytest.mark.parametrize(
    ("config", "family", "modules"),
    [("sd15", ModelFamily.SD1, 192), ("sd2", ModelFamily.SD2, 192), ("sdxl-base", ModelFamily.SDXL, 722)],
)
@pytest.mark.parametrize("conv", [False, True], ids=["lora", "locon"])
@pytest.mark.parametrize("te", [False, True], ids=["unet", "unet+te"])
def test_our_modules_are_exactly_the_ones_sd_scripts_creates(config, family, modules, conv, te):
    models = _meta_pipeline(config)
    expected = _expected(models, family, te, conv)
    ours = _ours(models, family, te, conv)
    assert sorted(set(ours) - set(expected))[:5] == [] and sorted(set(expected) - set(ours))[:5] == []
    assert ours == expected  # names and the lora_down / lora_up shapes
    unet_modules = sum(1 for n in ours if n.startswith("lora_unet_"))
    if not conv:
        # sd-scripts' published counts: 192 UNet modules for SD 1.x/2.x, 722 for SDXL.
        assert unet_modules == modules
    else:
        assert unet_modules > modules
    if family == ModelFamily.SDXL:
        assert all(
            n.startswith(("lora_unet_input_blocks_", "lora_unet_middle_block_", "lora_unet_output_blocks_"))
            for n in ours
            if n.startswith("lora_unet_")
        )
