"""Fusing keeps no second copy of the touched base weights, and still restores them exactly."""

from __future__ import annotations

import pytest
import torch

from lora_studio.core.families import ModelFamily
from lora_studio.generation.loras import LoraStack
from lora_studio.generation.request import LoraSpec


def _touched_bytes(stack: LoraStack) -> int:
    return sum(
        layer.get_base_layer().weight.numel() * layer.get_base_layer().weight.element_size()
        for _, layer in stack._fuser._fused_layers.items()
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fuse_bookkeeping_is_a_small_fraction_and_restores_exactly(lora_dir, dtype) -> None:
    from lora_studio.diffusion.tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline("sd1", 0).to(dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    stack = LoraStack(pipe, ModelFamily.SD1)
    a, b = str(lora_dir / "a.safetensors"), str(lora_dir / "b.safetensors")
    stack.apply([LoraSpec(a, 0.0)], fuse=False)
    base = {n: p.detach().clone() for n, p in pipe.unet.named_parameters() if "lora_" not in n}
    for weights in ((1.0, 0.5), (-0.6, 1.3), (0.25, 0.0)):
        stack.apply([LoraSpec(a, weights[0]), LoraSpec(b, weights[1])], fuse=True)
        assert stack.fused
        touched = _touched_bytes(stack)
        assert touched > 0
        # the old bookkeeping held a full copy (100 %); now only the rounding fix-ups (these test
        # LoRAs change the tiny weights by far more than real ones do: see the full-size test)
        assert stack.bookkeeping_bytes() < 0.75 * touched, (stack.bookkeeping_bytes(), touched)
        changed = [n for n, p in pipe.unet.named_parameters() if "lora_" not in n and not torch.equal(p, base[n])]
        assert changed  # the fuse really wrote into the base weights
    stack.apply([LoraSpec(a, 0.0), LoraSpec(b, 0.0)], fuse=True)  # weight 0: the exact base model
    assert stack.bookkeeping_bytes() == 0
    after = {n: p.detach() for n, p in pipe.unet.named_parameters() if "lora_" not in n}
    assert all(torch.equal(after[n], base[n]) for n in base)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_undo_of_a_full_size_layer_costs_a_few_percent(dtype) -> None:
    """An SDXL-sized attention weight (1280x1280) with a rank-32 LoRA changing it by about 1 %."""
    from lora_studio.generation.lora_fusing import _Undo

    gen = torch.Generator().manual_seed(0)
    weight = (torch.randn(1280, 1280, generator=gen) * 0.02).to(dtype)
    original = weight.clone()
    up = torch.randn(1280, 32, generator=gen) * 1e-3
    down = torch.randn(32, 1280, generator=gen) * 0.05
    undo = _Undo.fuse(weight, [(down, up, 0.8)])
    assert not torch.equal(weight, original)
    assert undo.nbytes < 0.10 * weight.numel() * weight.element_size(), undo.nbytes
    undo.apply(weight)
    assert torch.equal(weight, original)
