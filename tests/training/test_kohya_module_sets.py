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

import pytest
import torch

from lora_studio.core.families import ModelFamily
from lora_studio.formats.lora_keys import kohya_name
from lora_studio.training.config import NetworkConfig, NetworkTarget
from lora_studio.training.network import add_lora, text_encoder_targets, unet_targets
from tests.kohya_rules import (
    CONV_RANK,
    KOHYA_TE,
    KOHYA_UNET,
    KOHYA_UNET_CONV,
    RANK,
    by_class,
    meta_pipeline,
    sdxl_unet_from_ldm_keys,
)


def _expected(models: dict[str, torch.nn.Module], family: ModelFamily, te: bool, conv: bool) -> dict:
    if family == ModelFamily.SDXL:
        out = sdxl_unet_from_ldm_keys(models["unet"], conv)
    else:
        classes = KOHYA_UNET | (KOHYA_UNET_CONV if conv else set())
        out = by_class(models["unet"], "lora_unet", classes, conv, text_model=False)
    if te:
        prefixes = {"text_encoder": "lora_te1", "text_encoder_2": "lora_te2"}
        for comp in ("text_encoder", "text_encoder_2"):
            if comp in models:
                prefix = prefixes[comp] if family == ModelFamily.SDXL else "lora_te"
                out.update(by_class(models[comp], prefix, KOHYA_TE, conv, text_model=True))
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
    models = meta_pipeline(config)
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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "family", "modules"),
    [("sd15", ModelFamily.SD1, 350), ("sd2", ModelFamily.SD2, 416), ("sdxl-base", ModelFamily.SDXL, 1052)],
)
def test_diffusers_injects_every_module_of_our_full_size_files(config, family, modules):
    """diffusers' ``load_lora_weights`` (what other diffusers-based tools call) finds every module of
    a LoCon with text-encoder layers written under our names, on the full-size architectures."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline

    from lora_studio.generation.loras import count_injected

    models = meta_pipeline(config)
    sdxl = family == ModelFamily.SDXL
    names = _ours(meta_pipeline(config), family, te=True, conv=True)  # name -> (down, up) shapes
    state = {}
    for name, (down, up) in names.items():
        state[f"{name}.lora_down.weight"] = torch.zeros(down)
        state[f"{name}.lora_up.weight"] = torch.zeros(up)
        state[f"{name}.alpha"] = torch.tensor(1.0)
    extra = {"tokenizer_2": None} if sdxl else {"safety_checker": None, "feature_extractor": None}
    pipe = (StableDiffusionXLPipeline if sdxl else StableDiffusionPipeline)(
        vae=None, tokenizer=None, scheduler=EulerDiscreteScheduler(), **models, **extra
    )
    pipe.load_lora_weights(state, adapter_name="other_tool")
    assert len(names) == modules
    assert count_injected(pipe, "other_tool", tuple(models)) == modules
