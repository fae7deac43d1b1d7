"""Writing a FLUX LoRA: kohya's FLUX form (``formats.flux_lora_keys``) with sd-scripts' metadata.

Besides the ``ss_*`` keys every LoRA gets, sd-scripts' ``flux_train_network`` records its FLUX
options (``ss_guidance_scale``, ``ss_timestep_sampling`` …); the network module is
``networks.lora_flux`` and ModelSpec names the FLUX.1 variant the LoRA was trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lora_studio.training.network import alpha_lookup

FLUX_NETWORK_MODULE = "networks.lora_flux"


def flux_metadata_extra(config: Any) -> dict[str, str]:
    """sd-scripts' FLUX training keys (``update_metadata`` of its FLUX network trainer)."""
    f = config.flux
    return {
        "ss_apply_t5_attn_mask": str(bool(f.apply_t5_attn_mask)),
        "ss_weighting_scheme": str(f.weighting_scheme),
        "ss_logit_mean": str(f.logit_mean),
        "ss_logit_std": str(f.logit_std),
        "ss_mode_scale": str(f.mode_scale),
        "ss_guidance_scale": str(f.guidance_scale),
        "ss_timestep_sampling": str(f.timestep_sampling),
        "ss_sigmoid_scale": str(f.sigmoid_scale),
        "ss_model_prediction_type": str(f.model_prediction_type),
        "ss_discrete_flow_shift": str(f.discrete_flow_shift),
    }


def write_flux_lora(session: Any, path: Path, info: Any) -> Path:
    """Write the current LoRA of a FLUX ``session`` to ``path`` in kohya's FLUX form."""
    from dataclasses import replace

    from lora_studio.formats.flux_lora_keys import save_flux_kohya_lora
    from lora_studio.formats.lora_metadata import build_metadata
    from lora_studio.training.session import torch_dtype

    cfg = session.config
    info = replace(info, network_module=FLUX_NETWORK_MODULE, extra={**info.extra, **flux_metadata_extra(cfg)})
    metadata = build_metadata(info)
    metadata.pop("modelspec.prediction_type", None)  # FLUX predicts a flow: neither epsilon nor v
    if not session.guidance_embeds:
        metadata["modelspec.architecture"] = "flux-1-schnell/lora"
    state = session.lora_state_dicts()
    component_alpha = alpha_lookup(session.targets, cfg.network)
    return save_flux_kohya_lora(
        path,
        state["unet"],
        text_encoder_state_dict=state.get("text_encoder"),
        alpha_for=lambda comp, module, rank: component_alpha(
            "unet" if comp == "transformer" else comp, module, rank
        ),
        dtype=torch_dtype(cfg.run.save_precision),
        metadata=metadata,
    )
