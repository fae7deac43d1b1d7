"""diffusers' own ``FluxPipeline.load_lora_weights`` reads our kohya FLUX export of a single block.

diffusers splits ``lora_unet_single_blocks_N_linear1`` with FLUX.1's real widths (3072 × 3 + 12288
rows), so this check uses one single block at the real width (3072, 24 heads; ~190 M parameters)
with the tiny text encoders and autoencoder around it. The double blocks, embedders and CLIP-L are
compared with diffusers on the whole tiny model in test_flux_generation.py.
"""

from __future__ import annotations

import torch

from lora_studio.formats.flux_lora_keys import flux_peft_to_kohya, read_flux_lora

SINGLE_MODULES = ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp", "proj_out", "norm.linear")


def _real_width_single_block_pipeline():
    from diffusers import FluxPipeline, FluxTransformer2DModel

    from lora_studio.diffusion.tiny_flux import build_tiny_flux_pipeline

    tiny = build_tiny_flux_pipeline(0)
    config = dict(tiny.transformer.config)
    config.update(num_layers=0, num_single_layers=1, attention_head_dim=128, num_attention_heads=24)
    config["axes_dims_rope"] = (16, 56, 56)
    with torch.device("meta"):
        transformer = FluxTransformer2DModel(**{k: v for k, v in config.items() if not k.startswith("_")})
    transformer = transformer.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in transformer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
    parts = {
        k: getattr(tiny, k)
        for k in ("scheduler", "vae", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")
    }
    return FluxPipeline(transformer=transformer, **parts)


def test_single_block_export_loads_in_diffusers_with_every_module_and_same_output():
    pipe = _real_width_single_block_pipeline()
    model = pipe.transformer
    gen = torch.Generator().manual_seed(1)
    peft = {}
    for name in SINGLE_MODULES:
        lin = model.get_submodule(f"single_transformer_blocks.0.{name}")
        peft[f"single_transformer_blocks.0.{name}.lora_A.weight"] = torch.randn(
            4, lin.in_features, generator=gen
        )
        peft[f"single_transformer_blocks.0.{name}.lora_B.weight"] = (
            torch.randn(lin.out_features, 4, generator=gen) * 0.01
        )
    kohya = flux_peft_to_kohya(peft, alpha_for=2.0)
    assert {k.partition(".")[0] for k in kohya} == {
        "lora_unet_single_blocks_0_linear1",
        "lora_unet_single_blocks_0_linear2",
        "lora_unet_single_blocks_0_modulation_lin",
    }
    ours = read_flux_lora(kohya)

    hidden = torch.randn(1, 4, model.config.in_channels, generator=gen)
    context = torch.randn(1, 3, model.config.joint_attention_dim, generator=gen)
    inputs = dict(
        hidden_states=hidden,
        encoder_hidden_states=context,
        pooled_projections=torch.randn(1, model.config.pooled_projection_dim, generator=gen),
        timestep=torch.tensor([0.5]),
        guidance=torch.tensor([3.5]),
        img_ids=torch.zeros(4, 3),
        txt_ids=torch.zeros(3, 3),
        return_dict=False,
    )

    pipe.load_lora_weights(dict(kohya), adapter_name="k")
    injected = {n for n, m in model.named_modules() if "k" in getattr(m, "lora_A", {})}
    assert injected == {f"single_transformer_blocks.0.{n}" for n in SINGLE_MODULES}
    for name in injected:
        layer = model.get_submodule(name)
        theirs = (layer.lora_B["k"].weight @ layer.lora_A["k"].weight) * layer.scaling["k"]
        torch.testing.assert_close(theirs, ours.transformer[name].delta(), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        with_lora = model(**inputs)[0]
        pipe.unload_lora_weights()
        for name, pair in ours.transformer.items():
            model.get_submodule(name).weight += pair.delta()  # our own application: W + ΔW
        merged = model(**inputs)[0]
    torch.testing.assert_close(with_lora, merged, rtol=1e-4, atol=1e-4)
