"""kohya / sd-scripts memory settings import into LoRA Studio's memory options, not "unsupported"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lora_studio.training.config import BaseWeights, config_to_toml, load_config
from lora_studio.training.kohya_import import import_kohya_gui_json, import_sd_scripts_toml


@pytest.mark.parametrize(
    "flags,unet,te",
    [
        ({"fp8_base": True}, BaseWeights.FP8, BaseWeights.FP8),
        ({"fp8_base_unet": True}, BaseWeights.FP8, BaseWeights.FULL),
        ({"fp8_base": True, "fp8_base_unet": True}, BaseWeights.FP8, BaseWeights.FP8),
        ({"fp8_base": False}, BaseWeights.FULL, BaseWeights.FULL),
    ],
)
def test_fp8_flags(tmp_path: Path, flags: dict, unet: BaseWeights, te: BaseWeights) -> None:
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"network_dim": 8, **flags}), encoding="utf-8")
    r = import_kohya_gui_json(p)
    assert r.config.memory.unet_weights == unet and r.config.memory.text_encoder_weights == te
    assert not any(u.startswith("fp8") for u in r.not_understood)


def test_sd_scripts_toml_block_swap_lowram_offload_checkpointing(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text(
        "blocks_to_swap = 6\nlowram = true\ncpu_offload_checkpointing = true\nfp8_base = true\n",
        encoding="utf-8",
    )
    r = import_sd_scripts_toml(p)
    c = r.config
    assert c.memory.blocks_to_swap == 6 and c.memory.unet_weights == BaseWeights.FP8
    assert c.run.gradient_checkpointing
    assert r.not_understood == ()
    assert any("cpu_offload_checkpointing" in n for n in r.notes)


def test_memory_settings_round_trip_through_toml(tmp_path: Path) -> None:
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"fp8_base_unet": True, "blocks_to_swap": "4"}), encoding="utf-8")
    cfg = import_kohya_gui_json(p).config
    out = tmp_path / "run.toml"
    out.write_text(config_to_toml(cfg), encoding="utf-8")
    again, unknown = load_config(out)
    assert unknown == [] and again.memory == cfg.memory and again.memory.blocks_to_swap == 4
