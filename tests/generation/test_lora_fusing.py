"""Fusing LoRAs into the base weights: exact restore, re-weighting in place, no diffusers walk."""

from __future__ import annotations

import random

import pytest
import torch

from lora_studio.core.families import ModelFamily
from lora_studio.generation.loras import LoraStack
from lora_studio.generation.request import LoraSpec


@pytest.fixture()
def stack():
    from lora_studio.diffusion.tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline("sd1", 0)
    pipe.set_progress_bar_config(disable=True)
    return LoraStack(pipe, ModelFamily.SD1)


def _base_weights(pipe) -> dict[str, torch.Tensor]:
    """Every parameter that is not a LoRA parameter, by its name in the base model."""
    out = {}
    for comp in ("unet", "text_encoder"):
        for name, p in getattr(pipe, comp).named_parameters():
            if "lora_" not in name:
                out[f"{comp}.{name.replace('.base_layer', '')}"] = p.detach().clone()
    return out


def _outputs(pipe) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, pipe.tokenizer.vocab_size, (1, 8), generator=gen)
    latents = torch.randn(1, 4, 8, 8, generator=gen)
    with torch.no_grad():
        cond = pipe.text_encoder(ids)[0]
        noise = pipe.unet(latents, torch.tensor(500), encoder_hidden_states=cond).sample
    return cond, noise


def test_twenty_random_fuse_cycles_leave_the_base_weights_exact(stack, lora_dir):
    pipe = stack.pipe
    before = _base_weights(pipe)
    base_out = _outputs(pipe)
    files = [str(lora_dir / "a.safetensors"), str(lora_dir / "b.safetensors")]
    rng = random.Random(7)
    for _ in range(20):
        specs = [
            LoraSpec(f, round(rng.uniform(-1.5, 1.5), 3), te_weight=rng.choice([None, 0.0, 0.4]))
            for f in rng.sample(files, rng.randint(1, 2))
        ]
        stack.apply(specs, fuse=rng.random() < 0.8)
    stack.apply([], fuse=True)
    assert not stack.fused
    after = _base_weights(pipe)
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)
    for got, want in zip(_outputs(pipe), base_out):
        assert torch.allclose(got, want, atol=1e-6, rtol=0)


def test_refused_weights_equal_unfused_and_skip_diffusers_fuse(stack, lora_dir, monkeypatch):
    pipe = stack.pipe
    a, b = str(lora_dir / "a.safetensors"), str(lora_dir / "b.safetensors")
    stack.apply([LoraSpec(a, 0.9), LoraSpec(b, 0.3)], fuse=True)

    def forbidden(*_a, **_k):
        raise AssertionError("diffusers' fuse/unfuse/set_adapters walks the whole model")

    for name in ("fuse_lora", "unfuse_lora", "set_adapters", "enable_lora", "disable_lora"):
        monkeypatch.setattr(pipe, name, forbidden)
    for w in (0.5, -0.7, 0.0, 1.2):
        specs = [LoraSpec(a, w, te_weight=0.25), LoraSpec(b, 0.3)]
        stack.apply(specs, fuse=True)
        assert stack.fused
        fused = _outputs(pipe)
        stack.apply(specs, fuse=False)
        assert not stack.fused
        unfused = _outputs(pipe)
        for got, want in zip(fused, unfused):
            assert torch.allclose(got, want, atol=1e-4, rtol=1e-4), (got - want).abs().max()
        stack.apply(specs, fuse=True)  # back to fused for the next weight change


def test_weight_zero_fused_is_the_base_model_exactly(stack, lora_dir):
    base = _outputs(stack.pipe)
    stack.apply([LoraSpec(str(lora_dir / "a.safetensors"), 0.8)], fuse=True)
    stack.apply([LoraSpec(str(lora_dir / "a.safetensors"), 0.0)], fuse=True)
    for got, want in zip(_outputs(stack.pipe), base):
        assert torch.equal(got, want)


def test_the_peft_internals_the_fuser_uses_are_still_there() -> None:
    """lora_studio.generation.lora_fusing writes into PEFT's LoRA layers directly. If this fails,
    peft changed under it: re-check every use in that module before moving the pin."""
    import re
    import tomllib
    from pathlib import Path

    import peft
    from peft import LoraConfig, inject_adapter_in_model

    from lora_studio.generation.lora_fusing import PEFT_INTERNALS, PINNED_PEFT, PeftLayerFuser

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text("utf-8"))
    pins = [d for d in pyproject["project"]["dependencies"] if re.match(r"peft\b", d)]
    assert pins == [f"peft=={PINNED_PEFT}"], "update lora_fusing.PINNED_PEFT together with the pin"
    assert peft.__version__ == PINNED_PEFT, (
        f"peft {peft.__version__} is installed, lora_fusing was written for {PINNED_PEFT}"
    )

    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Conv2d(5, 4, 3))
    model = inject_adapter_in_model(LoraConfig(r=2, lora_alpha=1.0, target_modules=["0", "1"]), model)
    layers = [m for m in model.modules() if hasattr(m, "lora_A")]
    assert len(layers) == 2
    for layer in layers:
        read_with_a_default = {"lora_variant", "fan_in_fan_out"}  # getattr(layer, name, default)
        missing = [name for name in PEFT_INTERNALS if not hasattr(layer, name) and name not in read_with_a_default]
        assert not missing, f"peft's LoRA layer lost {missing}: lora_fusing.py must change"
        down, up = layer.lora_A["default"].weight, layer.lora_B["default"].weight
        assert down.shape[0] == layer.r["default"] == up.shape[1] == 2
        assert isinstance(layer.scaling["default"], float) and isinstance(layer.merged_adapters, list)
        assert isinstance(layer.get_base_layer(), torch.nn.Linear | torch.nn.Conv2d)
        assert layer.active_adapters == ["default"] and layer.disable_adapters is False
        layer.set_scale("default", 0.5)
        assert layer.scaling["default"] == pytest.approx(0.5 * 1.0 / 2)  # weight × alpha / rank
    assert layers[0].fan_in_fan_out is False  # a Linear layer says how its weight is stored
    # A plain LoRA fuses on our fast path: base + scale · B @ A, and restores exactly.
    lin = layers[0]
    torch.nn.init.normal_(lin.lora_B["default"].weight)
    base = lin.get_base_layer().weight.detach().clone()
    from types import SimpleNamespace

    fuser = PeftLayerFuser(SimpleNamespace(unet=model), ("unet",))
    assert [layer for _, layer in fuser.lora_layers()] == layers
    fuser.set_weights((("default", 0.5, 0.5),))
    fuser.fuse((("default", 0.5, 0.5),))
    expected = base + lin.scaling["default"] * lin.lora_B["default"].weight @ lin.lora_A["default"].weight
    assert torch.allclose(lin.get_base_layer().weight, expected, atol=1e-6)
    assert lin.merged_adapters == ["default"]  # so PEFT's forward skips the LoRA branch
    fuser.unfuse()
    assert torch.equal(lin.get_base_layer().weight, base) and lin.merged_adapters == []
