"""The FLUX.1 part of importing kohya configs (sd-scripts' ``flux_train_network.py`` options and
the kohya_ss GUI's FLUX fields). Torch-free; used by :mod:`lora_studio.training.kohya_import`.

A config is a FLUX one when it says so (``flux1_checkbox``, ``LoRA_type = "Flux1"``,
``network_module = "networks.lora_flux"``) or names FLUX's component files (``clip_l``, ``t5xxl``,
``ae``). Options the config leaves out get sd-scripts' defaults, not ours, so the run matches what
sd-scripts would have done with the same file.
"""

from __future__ import annotations

from typing import Any

from lora_studio.core.families import ModelFamily
from lora_studio.training.config import ModelPrediction, TimestepSampling, WeightingScheme

FLUX_NETWORK_MODULE = "networks.lora_flux"


def _choice(enum: Any) -> Any:
    return lambda v: enum(str(v).strip().lower())


def flux_keys(to_bool: Any, to_int: Any, to_float: Any) -> dict[str, tuple[str, Any]]:
    """kohya key -> (dotted TrainConfig field, converter) for the FLUX options."""
    return {
        "clip_l": ("flux.clip_l", str),
        "t5xxl": ("flux.t5xxl", str),
        "ae": ("flux.ae", str),
        "guidance_scale": ("flux.guidance_scale", to_float),
        "timestep_sampling": ("flux.timestep_sampling", _choice(TimestepSampling)),
        "sigmoid_scale": ("flux.sigmoid_scale", to_float),
        "discrete_flow_shift": ("flux.discrete_flow_shift", to_float),
        "model_prediction_type": ("flux.model_prediction_type", _choice(ModelPrediction)),
        "weighting_scheme": ("flux.weighting_scheme", _choice(WeightingScheme)),
        "logit_mean": ("flux.logit_mean", to_float),
        "logit_std": ("flux.logit_std", to_float),
        "mode_scale": ("flux.mode_scale", to_float),
        "t5xxl_max_token_length": ("flux.t5xxl_max_token_length", to_int),
        "apply_t5_attn_mask": ("flux.apply_t5_attn_mask", to_bool),
        "cache_text_encoder_outputs_to_disk": ("flux.cache_text_encoder_outputs_to_disk", to_bool),
        "flux1_cache_text_encoder_outputs": ("dataset.cache_text_encoder_outputs", to_bool),
        "flux1_cache_text_encoder_outputs_to_disk": ("flux.cache_text_encoder_outputs_to_disk", to_bool),
    }


# Understood without a field of their own (see flux_settings).
FLUX_HANDLED = {
    "flux1_checkbox",
    "split_mode",
    "split_qkv",
    "train_blocks",
    "train_double_block_indices",
    "train_single_block_indices",
    "train_t5xxl",
    "t5xxl_lr",
    "mem_eff_save",
    "double_blocks_to_swap",
    "single_blocks_to_swap",
    "sdxl_cache_text_encoder_outputs",  # a GUI field of the SDXL tab, saved with every config
}

# networks.lora_flux options that sd-scripts takes as network_args ("train_blocks=single" …)
FLUX_NETWORK_ARGS = {"train_blocks", "split_qkv", "train_t5xxl", "train_double_block_indices", "train_single_block_indices"}

# sd-scripts' defaults for the FLUX options a config leaves out.
SD_SCRIPTS_DEFAULTS = {
    "flux.timestep_sampling": TimestepSampling.SIGMA,
    "flux.discrete_flow_shift": 3.0,
    "flux.model_prediction_type": ModelPrediction.SIGMA_SCALED,
    "flux.guidance_scale": 3.5,
}


def is_flux(flat: dict[str, Any], to_bool: Any) -> bool:
    module = str(flat.get("network_module", "") or "")
    return (
        to_bool(flat.get("flux1_checkbox", False))
        or str(flat.get("LoRA_type", "")) == "Flux1"
        or module == FLUX_NETWORK_MODULE
        or any(str(flat.get(k, "") or "").strip() for k in ("clip_l", "t5xxl", "ae"))
    )


def flux_settings(
    flat: dict[str, Any],
    changes: dict[str, Any],
    unsupported: list[str],
    notes: list[str],
    *,
    to_bool: Any,
    to_int: Any,
) -> None:
    """Family, sd-scripts defaults and the FLUX options that need more than one key."""
    changes["model.family"] = ModelFamily.FLUX
    changes.pop("model.prediction", None)  # v_parameterization = false: FLUX predicts a flow
    for key, value in SD_SCRIPTS_DEFAULTS.items():
        changes.setdefault(key, value)
    changes.pop("network.target", None)  # conv_dim of a Flux1 GUI config means nothing for FLUX
    changes.pop("network.conv_rank", None)
    if to_bool(flat.get("train_t5xxl", False)):
        unsupported.append("train_t5xxl: T5-XXL is never trained (it stays frozen); CLIP-L can be")
    blocks = str(flat.get("train_blocks", "all") or "all")
    if blocks != "all":
        unsupported.append(f"train_blocks: '{blocks}' is not supported; every block is trained")
    for key in ("train_double_block_indices", "train_single_block_indices"):
        if str(flat.get(key, "all") or "all") != "all":
            unsupported.append(f"{key}: not supported; every block is trained")
    if to_bool(flat.get("split_mode", False)):
        notes.append("split_mode: not needed; block swapping (blocks_to_swap) saves the memory instead.")
    if to_bool(flat.get("split_qkv", False)):
        notes.append(
            "split_qkv: the saved LoRA always has kohya's fused qkv modules, which every FLUX tool "
            "loads at full strength."
        )
    if changes.get("flux.cache_text_encoder_outputs_to_disk"):
        changes["dataset.cache_text_encoder_outputs"] = True
    swap = sum(to_int(flat.get(k) or 0) for k in ("double_blocks_to_swap", "single_blocks_to_swap"))
    if swap and "memory.blocks_to_swap" not in changes:
        changes["memory.blocks_to_swap"] = swap
        notes.append(f"double/single_blocks_to_swap: imported as {swap} blocks to swap.")
