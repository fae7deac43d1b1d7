"""PEFT's LoHa/LoKr/DoRA weights <-> LyCORIS' file layout: every factorisation PEFT makes gives
the same weight change once written as LyCORIS writes it (LyCORIS ``lycoris/modules/loha.py``,
``lokr.py``), as the readers compute it (``formats.lycoris_keys.lycoris_delta``)."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from peft import LoHaConfig, LoKrConfig, LoraConfig, inject_adapter_in_model
from peft.utils import get_peft_model_state_dict

from lora_studio.formats.lycoris_keys import (
    dora_scale_from_peft,
    dora_scale_to_peft,
    lycoris_delta,
    module_rank_alpha,
    peft_to_lycoris,
)

R, ALPHA = 4, 3.0


def _model(config):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        OrderedDict(
            lin=torch.nn.Linear(48, 32), conv=torch.nn.Conv2d(16, 32, 3), pw=torch.nn.Conv2d(32, 8, 1)
        )
    )
    model = inject_adapter_in_model(config, model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if any(part in name for part in ("hada_", "lokr_", "lora_")):
                p.copy_(torch.randn(p.shape) * 0.3)
    return model


CONFIGS = [
    pytest.param(LoHaConfig(r=R, alpha=ALPHA, target_modules=["lin", "conv", "pw"]), id="loha"),
    pytest.param(LoHaConfig(r=R, alpha=ALPHA, target_modules=["lin", "conv", "pw"], use_effective_conv2d=True), id="loha-cp"),
    pytest.param(LoKrConfig(r=R, alpha=ALPHA, target_modules=["lin", "conv", "pw"]), id="lokr"),
    pytest.param(LoKrConfig(r=1, alpha=ALPHA, target_modules=["lin", "conv", "pw"], decompose_both=True, decompose_factor=4), id="lokr-both-f4"),
    pytest.param(LoKrConfig(r=16, alpha=ALPHA, target_modules=["lin", "conv", "pw"]), id="lokr-full"),
]  # fmt: skip


@pytest.mark.parametrize("config", CONFIGS)
def test_each_peft_factorisation_gives_the_same_weight_change_in_lycoris_form(config) -> None:
    model = _model(config)
    sd = get_peft_model_state_dict(model)
    tensors = peft_to_lycoris({"unet": sd}, family="sd1", rank_alpha_for=lambda c, p: (config.r, ALPHA))
    kinds = set()
    for name in ("lin", "conv", "pw"):
        layer = getattr(model, name)
        parts = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(f"lora_unet_{name}.")}
        assert "alpha" in parts and parts["alpha"].dim() == 0
        kinds.add(tuple(sorted(parts)))
        want = layer.get_delta_weight("default")
        got = lycoris_delta(parts, tuple(want.shape))
        assert torch.allclose(got, want, atol=1e-5, rtol=1e-4), name
        rank, alpha = module_rank_alpha(parts)
        if "lokr_w1" in parts and "lokr_w2" in parts:
            assert (rank, alpha) == (1, 1.0)  # both parts full: LyCORIS' scale 1, the scale folded into w1
    assert kinds  # a factorisation was written for every module


def test_dora_magnitudes_are_written_on_the_output_axis_and_read_back() -> None:
    model = _model(LoraConfig(r=2, lora_alpha=2, target_modules=["lin", "conv"], use_dora=True))
    sd = get_peft_model_state_dict(model)
    tensors = peft_to_lycoris({"unet": sd}, family="sd1", rank_alpha_for=lambda c, p: (2, 2.0))
    assert tensors["lora_unet_lin.dora_scale"].shape == (32, 1)
    assert tensors["lora_unet_conv.dora_scale"].shape == (32, 1, 1, 1)
    assert tensors["lora_unet_lin.lora_down.weight"].shape == (2, 48)
    for name, dims in (("lin", 2), ("conv", 4)):
        peft_magnitude = sd[f"{name}.lora_magnitude_vector"]
        assert torch.equal(dora_scale_to_peft(tensors[f"lora_unet_{name}.dora_scale"], dims), peft_magnitude)
        assert torch.equal(dora_scale_from_peft(peft_magnitude), tensors[f"lora_unet_{name}.dora_scale"])
