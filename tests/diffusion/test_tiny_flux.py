"""The tiny FLUX.1 pipeline: deterministic, FLUX-shaped, and it makes an image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lora_studio.diffusion.tiny_flux import TINY_FLUX_RESOLUTION, build_tiny_flux_pipeline


def _image(pipe, seed: int = 1, guidance: float = 3.5) -> np.ndarray:
    return pipe(
        "a photo of a cat",
        height=TINY_FLUX_RESOLUTION,
        width=TINY_FLUX_RESOLUTION,
        num_inference_steps=2,
        guidance_scale=guidance,
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
        max_sequence_length=32,
    ).images[0]


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = (build_tiny_flux_pipeline(s) for s in (0, 0, 1))
    for name, pa in a.transformer.state_dict().items():
        assert torch.equal(pa, b.transformer.state_dict()[name])
    assert not torch.equal(a.transformer.x_embedder.weight, c.transformer.x_embedder.weight)
    assert not torch.equal(a.text_encoder_2.shared.weight, c.text_encoder_2.shared.weight)
    img_a, img_b = _image(a), _image(b)
    assert img_a.shape == (TINY_FLUX_RESOLUTION, TINY_FLUX_RESOLUTION, 3)
    assert np.array_equal(img_a, img_b)
    assert img_a.std() > 0.01  # not a flat picture


def test_building_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_flux_pipeline(5)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("variant", ["dev", "schnell"])
def test_flux_structure(variant):
    pipe = build_tiny_flux_pipeline(0, variant)
    cfg = pipe.transformer.config
    assert cfg.in_channels == 64 and cfg.guidance_embeds == (variant == "dev")
    assert (cfg.num_layers, cfg.num_single_layers) == (2, 2)
    assert sum(cfg.axes_dims_rope) == cfg.attention_head_dim
    assert pipe.vae.config.latent_channels == 16
    assert (pipe.vae.config.scaling_factor, pipe.vae.config.shift_factor) == (0.3611, 0.1159)
    assert pipe.vae_scale_factor == 8
    assert pipe.text_encoder_2.config.vocab_size == 32128
    assert pipe.tokenizer_2("a photo of a cat").input_ids == [3, 9, 1202, 13, 3, 9, 1712, 1]
    assert pipe.scheduler.config.use_dynamic_shifting == (variant == "dev")
    assert pipe.transformer.config.joint_attention_dim == pipe.text_encoder_2.config.d_model
    assert pipe.transformer.config.pooled_projection_dim == pipe.text_encoder.config.hidden_size


def test_guidance_changes_the_dev_image_only():
    dev, schnell = build_tiny_flux_pipeline(0, "dev"), build_tiny_flux_pipeline(0, "schnell")
    assert not np.array_equal(_image(dev, guidance=1.0), _image(dev, guidance=5.0))
    assert np.array_equal(_image(schnell, guidance=1.0), _image(schnell, guidance=5.0))
