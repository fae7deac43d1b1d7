"""LoHa, LoKr and DoRA training: the PEFT adapter for each ``network.algo``, and the LyCORIS
metadata their files carry.

PEFT implements all three (``LoHaConfig``, ``LoKrConfig``, ``LoraConfig(use_dora=True)``); the
files are written in LyCORIS' kohya layout by :mod:`lora_studio.formats.lycoris_keys`, with the
metadata LyCORIS' kohya network records (compared against LyCORIS ``lycoris/kohya.py``,
``create_network``): ``ss_network_module = "lycoris.kohya"`` and ``ss_network_args`` holding
``algo``, ``conv_dim``, ``conv_alpha``, ``factor`` (LoKr) and ``dora_wd``/``wd_on_output`` (DoRA).
"""

from __future__ import annotations

import re
from typing import Any

from lora_studio.training.config import NetworkAlgo, NetworkConfig, NetworkTarget

# Name parts of the trained tensors of each adapter kind (PEFT's layer attribute names).
TRAINED_PARTS = (".lora_", ".hada_", ".lokr_")


def uses_lycoris_file(cfg: NetworkConfig) -> bool:
    """Whether the file is written in LyCORIS' layout (LoHa, LoKr, DoRA) instead of plain kohya."""
    return NetworkAlgo(cfg.algo) != NetworkAlgo.LORA


def adapter_config(cfg: NetworkConfig, linear: list[str], conv: list[str]) -> Any:
    """The PEFT config of ``cfg.algo`` for these modules (conv rank/alpha for ``conv``)."""
    from peft import LoHaConfig, LoKrConfig, LoraConfig

    rank_pattern = {re.escape(n): cfg.conv_rank for n in conv}
    alpha_pattern = {re.escape(n): cfg.conv_alpha for n in conv}
    targets = linear + conv
    algo = NetworkAlgo(cfg.algo)
    if algo == NetworkAlgo.LOHA:
        return LoHaConfig(
            r=cfg.rank,
            alpha=cfg.alpha,  # type: ignore[arg-type]  # peft types it int; LyCORIS alphas are floats
            target_modules=targets,
            rank_pattern=rank_pattern,
            alpha_pattern=alpha_pattern,
            module_dropout=cfg.dropout,  # LyCORIS: LoHa/LoKr have no plain dropout, module dropout
            init_weights=True,
        )
    if algo == NetworkAlgo.LOKR:
        return LoKrConfig(
            r=cfg.rank,
            alpha=cfg.alpha,  # type: ignore[arg-type]  # peft types it int; LyCORIS alphas are floats
            target_modules=targets,
            rank_pattern=rank_pattern,
            alpha_pattern=alpha_pattern,
            module_dropout=cfg.dropout,
            decompose_factor=cfg.lokr_factor,
            init_weights=True,
        )
    return LoraConfig(
        r=cfg.rank,
        lora_alpha=cfg.alpha,  # type: ignore[arg-type]  # peft types it int; kohya alphas are floats
        lora_dropout=cfg.dropout,
        target_modules=targets,
        rank_pattern=rank_pattern,
        alpha_pattern=alpha_pattern,
        init_lora_weights=True,
        use_dora=algo == NetworkAlgo.DORA,
    )


def rank_alpha_lookup(conv_modules: dict[str, set[str]], cfg: NetworkConfig):
    """``rank_alpha_for(component, module_path) -> (rank, alpha)`` as the adapters were made."""

    def rank_alpha_for(component: str, module_path: str) -> tuple[int, float]:
        if module_path in conv_modules.get(component, ()):
            return cfg.conv_rank, cfg.conv_alpha
        return cfg.rank, cfg.alpha

    return rank_alpha_for


def network_metadata(cfg: NetworkConfig) -> tuple[str, dict[str, str]] | None:
    """(``ss_network_module``, ``ss_network_args``) for a LyCORIS file, as LyCORIS' kohya network
    records them; None for plain LoRA/LoCon (sd-scripts' ``networks.lora``)."""
    if not uses_lycoris_file(cfg):
        return None
    algo = NetworkAlgo(cfg.algo)
    conv = NetworkTarget(cfg.target) == NetworkTarget.ATTENTION_FF_CONV
    args: dict[str, str] = {"algo": "locon" if algo == NetworkAlgo.DORA else algo.value}
    if conv:
        args["conv_dim"] = str(cfg.conv_rank)
        args["conv_alpha"] = f"{cfg.conv_alpha:g}"
    if algo == NetworkAlgo.LOKR:
        args["factor"] = str(cfg.lokr_factor)
    if algo == NetworkAlgo.DORA:
        args["dora_wd"] = "True"
        args["wd_on_output"] = "True"  # PEFT's magnitude is per output row
    return "lycoris.kohya", args


def write_lycoris_file(
    session: Any, path: Any, state_dicts: dict, dtype: Any, metadata: dict[str, str]
) -> Any:
    """Write ``state_dicts`` (PEFT LoHa/LoKr/DoRA weights per component) as a LyCORIS file."""
    from pathlib import Path

    from lora_studio.formats.lora_keys import write_kohya_file
    from lora_studio.formats.lycoris_keys import peft_to_lycoris

    conv = {comp: set(t.conv) for comp, t in session.targets.items()}
    tensors = peft_to_lycoris(
        state_dicts,
        family=session.family,
        rank_alpha_for=rank_alpha_lookup(conv, session.config.network),
        dtype=dtype,
        unet_config=dict(session.unet.config),
    )
    return Path(write_kohya_file(path, tensors, metadata))
