"""fp8 / NF4 base weights in the generation engine (issue 14), on the tiny FLUX.1 model (and SD 1.5 in fp8).

The stored weights really are float8_e4m3fn / 4-bit (checked by dtype and bytes held), the picture
stays close to the full-precision one, and LoRAs still apply on top (unfused, in full precision).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.generation.conftest import image_array

# Mean absolute pixel difference (0..255) from the full-precision image of the same seed, measured on
# the tiny random model (CPU, fp32 compute): fp8 0.14, NF4 4.6 (another seed: 45.7). Random weights
# amplify rounding far more than a trained model does; the bounds leave room for that and still
# catch a broken conversion. The LoRA's change of the picture correlates with its change on the
# full-precision model at 0.997 (fp8) and 0.89 (NF4). The tiny SD 1.5 UNet in fp8: 0.69.
TOLERANCE = {"fp8": 1.0, "nf4": 8.0}
MIN_LORA_CORRELATION = {"fp8": 0.95, "nf4": 0.8}


def _mean_diff(a, b) -> float:
    return float(np.abs(image_array(a) - image_array(b)).mean())


@pytest.mark.parametrize("kind", ["fp8", "nf4"])
def test_low_precision_base_is_close_and_loras_still_apply(flux_engine, flux_request, kind):
    from lora_studio.diffusion.memory import base_weight_dtypes, held_bytes

    full = flux_engine.generate(flux_request).paths[0]
    other_seed = flux_engine.generate(flux_request.with_(seed=99)).paths[0]
    low_request = flux_request.with_(base_weights=kind)
    low = flux_engine.generate(low_request).paths[0]
    entry = flux_engine.model(flux_request.model, base_weights=kind)
    full_entry = flux_engine.model(flux_request.model)
    want = torch.float8_e4m3fn if kind == "fp8" else torch.uint8
    # Every Linear of the double and single blocks (attention, MLP and modulation) is stored low.
    block_linears = [
        m
        for n, m in entry.pipe.transformer.named_modules()
        if "blocks." in n and isinstance(m, torch.nn.Linear)
    ]
    assert len(block_linears) == 2 * 14 + 2 * 6
    assert {m.weight.dtype for m in block_linears} == {want}
    assert base_weight_dtypes(entry.pipe.text_encoder_2).get(want, 0) > 0  # T5 too
    assert held_bytes(entry.pipe.transformer) < 0.5 * held_bytes(full_entry.pipe.transformer)
    diff, unrelated = _mean_diff(low, full), _mean_diff(other_seed, full)
    print(f"{kind}: mean pixel difference {diff:.2f} (another seed: {unrelated:.2f})")
    assert diff <= TOLERANCE[kind] < unrelated

    lora_full = flux_engine.generate(flux_request.with_(prompt="a photo of a cat <lora:fa:1>")).paths[0]
    lora_low = flux_engine.generate(low_request.with_(prompt="a photo of a cat <lora:fa:1>")).paths[0]
    # The LoRA changes the low-precision picture the way it changes the full one.
    d_low = (image_array(lora_low) - image_array(low)).ravel()
    d_full = (image_array(lora_full) - image_array(full)).ravel()
    corr = float(np.corrcoef(d_low, d_full)[0, 1])
    print(
        f"{kind}: LoRA change {np.abs(d_low).mean():.2f} vs {np.abs(d_full).mean():.2f}, correlation {corr:.3f}"
    )
    assert corr > MIN_LORA_CORRELATION[kind] and np.abs(d_low).mean() > 0.5 * np.abs(d_full).mean()
    assert not entry.stack.fused  # LoRAs run beside low-precision weights
    zero = flux_engine.generate(low_request.with_(prompt="a photo of a cat <lora:fa:0>")).paths[0]
    assert np.array_equal(image_array(zero), image_array(low))


def test_sd_model_in_fp8_with_a_lora(engine, base_request):
    """The same switch on an SD 1.5 UNet (convolutions included): close to full precision, the LoRA
    acts, weight 0 is the fp8 base picture."""
    full = engine.generate(base_request).paths[0]
    low_request = base_request.with_(base_weights="fp8")
    low = engine.generate(low_request).paths[0]
    unet = engine.model(base_request.model, base_weights="fp8").pipe.unet
    assert unet.down_blocks[0].resnets[0].conv1.weight.dtype == torch.float8_e4m3fn
    diff = _mean_diff(low, full)
    print(f"sd1 fp8: mean pixel difference {diff:.2f}")
    assert diff <= TOLERANCE["fp8"]
    lora = engine.generate(low_request.with_(prompt=base_request.prompt + " <lora:a:1>")).paths[0]
    assert _mean_diff(lora, low) > 1.0
    zero = engine.generate(low_request.with_(prompt=base_request.prompt + " <lora:a:0>")).paths[0]
    assert np.array_equal(image_array(zero), image_array(low))
