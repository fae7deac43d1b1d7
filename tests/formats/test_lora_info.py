from __future__ import annotations

import json

import pytest
import torch

from lora_studio.core.errors import ModelLoadError
from lora_studio.core.families import ModelFamily
from lora_studio.formats.hashes import addnet_hash
from lora_studio.formats.lora_classify import LoraFormat
from lora_studio.formats.lora_info import inspect_lora
from lora_studio.formats.safetensors_meta import write_safetensors

ATTN2 = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"
TE_Q = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"


def _module(name: str, rank: int, in_dim: int, out_dim: int, alpha: float) -> dict:
    return {
        f"{name}.lora_down.weight": torch.zeros(rank, in_dim, dtype=torch.float16),
        f"{name}.lora_up.weight": torch.zeros(out_dim, rank, dtype=torch.float16),
        f"{name}.alpha": torch.tensor(alpha, dtype=torch.float16),
    }


def test_inspect_kohya_lora_with_metadata(tmp_path):
    meta = {
        "ss_output_name": "catstyle",
        "ss_base_model_version": "sd_v2",
        "ss_network_dim": "8",
        "ss_tag_frequency": json.dumps(
            {"10_a": {"cat": 10, "sitting": 3}, "5_b": {"cat": 2, "hat": 4, " ": 9}}
        ),
        "modelspec.trigger_phrase": "sks",
        "sshs_model_hash": "0123456789abcdef" * 4,
    }
    tensors = {**_module(ATTN2, 8, 768, 640, 4.0), **_module(TE_Q, 8, 768, 768, 4.0)}
    path = write_safetensors(tmp_path / "x.safetensors", tensors, meta)
    info = inspect_lora(path)
    assert info.format == LoraFormat.KOHYA_LORA
    # Metadata wins over shapes (768 would say SD1).
    assert (info.family, info.family_source) == (ModelFamily.SD2, "metadata")
    assert info.rank == 8 and info.alpha == 4.0 and info.conv_rank is None
    assert info.module_count == 2 and info.has_text_encoder
    assert info.name == "catstyle"
    assert info.suggested_triggers(3) == ["sks", "cat", "hat"]
    assert info.stored_hash == meta["sshs_model_hash"] and info.short_hash() == "0123456789ab"


def test_inspect_without_metadata_uses_keys(tmp_path):
    tensors = _module(ATTN2, 4, 2048, 640, 1.0)
    path = write_safetensors(tmp_path / "plain.safetensors", tensors)
    info = inspect_lora(path)
    assert (info.family, info.family_source) == (ModelFamily.SDXL, "keys")
    assert info.name == "plain" and not info.has_text_encoder
    assert info.suggested_triggers() == []
    assert info.short_hash() == addnet_hash(path)[:12]


def test_inspect_bf16_alpha_and_lycoris(tmp_path):
    tensors = {
        "lora_unet_a_to_q.hada_w1_a": torch.zeros(8, 4),
        "lora_unet_a_to_q.hada_w1_b": torch.zeros(4, 8),
        "lora_unet_a_to_q.alpha": torch.tensor(2.0, dtype=torch.bfloat16),
    }
    info = inspect_lora(write_safetensors(tmp_path / "loha.safetensors", tensors, {"ss_network_dim": "4"}))
    assert info.format == LoraFormat.LOHA and info.format.is_lycoris_only
    assert info.alpha == 2.0 and info.rank == 4  # rank from metadata when shapes do not say


def test_checkpoint_is_not_a_lora(tmp_path):
    path = write_safetensors(
        tmp_path / "model.safetensors", {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2, 2)}
    )
    with pytest.raises(ModelLoadError, match="checkpoint"):
        inspect_lora(path)


def test_not_a_lora_and_garbage(tmp_path):
    path = write_safetensors(tmp_path / "other.safetensors", {"foo": torch.zeros(1)})
    with pytest.raises(ModelLoadError, match="does not contain LoRA"):
        inspect_lora(path)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 3)
    with pytest.raises(ModelLoadError, match="bad.safetensors"):
        inspect_lora(bad)
    ckpt = tmp_path / "old.ckpt"
    ckpt.write_bytes(b"PK")
    with pytest.raises(ModelLoadError, match="not a .safetensors"):
        inspect_lora(ckpt)
