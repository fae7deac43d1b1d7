"""Bundled FLUX.1 configs: the real sizes (counted on the meta device), the layout table, tokenizers."""

from __future__ import annotations

import pytest
import torch
from accelerate import init_empty_weights

from lora_studio.core.families import ModelFamily
from lora_studio.diffusion.configs import config_name, materialize_config
from lora_studio.diffusion.flux_format import transformer_from_bfl, transformer_to_bfl


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _meta(name: str) -> dict[str, torch.nn.Module]:
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    root = materialize_config(name)
    with init_empty_weights():
        models = {
            "transformer": FluxTransformer2DModel.from_config(FluxTransformer2DModel.load_config(root / "transformer")),
            "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(root / "vae")),
            "text_encoder": CLIPTextModel(CLIPTextConfig.from_pretrained(root, subfolder="text_encoder")),
            "text_encoder_2": T5EncoderModel(T5Config.from_pretrained(root, subfolder="text_encoder_2")),
        }
    models["text_encoder_2"].tie_weights()  # the meta context undoes T5's tied input embedding
    return models


@pytest.mark.parametrize(
    ("variant", "transformer"), [("dev", 11_901_408_320), ("schnell", 11_891_178_560)]
)
def test_parameter_counts_match_the_released_models(variant, transformer):
    name = config_name(ModelFamily.FLUX, variant=variant)
    assert name == f"flux-{variant}"
    models = _meta(name)
    counts = {part: _count(m) for part, m in models.items()}
    assert counts == {
        "transformer": transformer,
        "vae": 83_819_683,
        "text_encoder": 123_060_480,  # CLIP-L
        "text_encoder_2": 4_762_310_656,  # T5 v1.1 XXL encoder (shared embedding counted once)
    }


def test_bfl_names_and_shapes_of_the_real_transformer():
    """The BFL layout of the bundled dev config: flux1-dev.safetensors' 780 weights and their shapes."""
    model = _meta("flux-dev")["transformer"]
    bfl = transformer_to_bfl(model.state_dict(), model.config)
    assert len(bfl) == 780
    shapes = {k: tuple(v.shape) for k, v in bfl.items()}
    assert shapes["img_in.weight"] == (3072, 64)
    assert shapes["txt_in.weight"] == (3072, 4096)
    assert shapes["vector_in.in_layer.weight"] == (3072, 768)
    assert shapes["guidance_in.in_layer.weight"] == (3072, 256)
    assert shapes["double_blocks.18.img_attn.qkv.weight"] == (9216, 3072)
    assert shapes["double_blocks.0.txt_attn.norm.key_norm.scale"] == (128,)
    assert shapes["single_blocks.37.linear1.weight"] == (21504, 3072)
    assert shapes["single_blocks.37.linear2.weight"] == (3072, 15360)
    assert shapes["final_layer.adaLN_modulation.1.weight"] == (6144, 3072)
    from lora_studio.formats.flux_layout import FluxDims, diffusers_to_bfl_names

    dims = FluxDims.from_config(model.config)
    assert (dims.inner_dim, dims.mlp_dim, dims.num_layers, dims.num_single_layers) == (3072, 12288, 19, 38)
    names = diffusers_to_bfl_names(dims)
    assert names["transformer_blocks.3.attn.add_v_proj"] == "double_blocks.3.txt_attn.qkv"
    assert names["single_transformer_blocks.37.proj_mlp"] == "single_blocks.37.linear1"
    assert names["norm_out.linear"] == "final_layer.adaLN_modulation.1"
    schnell = _meta("flux-schnell")["transformer"]
    assert len(transformer_to_bfl(schnell.state_dict(), schnell.config)) == 776


def test_our_bfl_reader_agrees_with_diffusers_converter_at_full_width():
    """diffusers' own converter (full width only) and ours read the same BFL tensors identically.

    One double and one single block at the real width 3072, with one column per row, so the fused
    qkv / linear1 splits and the final (shift, scale) swap are checked on real row counts."""
    from diffusers.loaders.single_file_utils import convert_flux_transformer_checkpoint_to_diffusers

    config = dict(
        num_layers=1, num_single_layers=1, num_attention_heads=24, attention_head_dim=128, guidance_embeds=True
    )
    with init_empty_weights():
        from diffusers import FluxTransformer2DModel

        model = FluxTransformer2DModel(**config)
    gen = torch.Generator().manual_seed(0)
    fake = {
        k: torch.randn(v.shape[0], 1, generator=gen) if v.ndim >= 1 else torch.randn((), generator=gen)
        for k, v in transformer_to_bfl(model.state_dict(), model.config).items()
    }
    ours = transformer_from_bfl(fake, model.config)
    theirs = convert_flux_transformer_checkpoint_to_diffusers({k: v.clone() for k, v in fake.items()})
    assert set(ours) == set(theirs) == set(model.state_dict())
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key


def test_flux_config_folder_has_both_tokenizers():
    from transformers import CLIPTokenizer, T5TokenizerFast

    root = materialize_config("flux-schnell")
    clip = CLIPTokenizer.from_pretrained(str(root), subfolder="tokenizer", local_files_only=True)
    t5 = T5TokenizerFast.from_pretrained(str(root), subfolder="tokenizer_2", local_files_only=True)
    assert clip("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert t5("a photo of a cat").input_ids == [3, 9, 1202, 13, 3, 9, 1712, 1]
