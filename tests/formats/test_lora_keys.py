from __future__ import annotations

import pytest
import torch

from lora_studio.core.families import ModelFamily
from lora_studio.formats.lora_keys import (
    LoraFormat,
    classify_lora_keys,
    kohya_name,
    kohya_to_peft,
    parse_kohya_name,
    peft_to_kohya,
)

SD1, SDXL = ModelFamily.SD1, ModelFamily.SDXL


@pytest.mark.parametrize(
    ("component", "path", "family", "expected"),
    [
        ("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", SD1,
         "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"),
        ("unet", "mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj", SDXL,
         "lora_unet_middle_block_1_transformer_blocks_0_ff_net_0_proj"),
        ("unet", "down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k", SDXL,
         "lora_unet_input_blocks_8_1_transformer_blocks_9_attn2_to_k"),
        ("unet", "down_blocks.1.resnets.0.conv_shortcut", SDXL, "lora_unet_input_blocks_4_0_skip_connection"),
        ("unet", "down_blocks.1.downsamplers.0.conv", SDXL, "lora_unet_input_blocks_6_0_op"),
        ("unet", "up_blocks.1.upsamplers.0.conv", SDXL, "lora_unet_output_blocks_5_2_conv"),
        ("unet", "up_blocks.2.resnets.2.time_emb_proj", SDXL, "lora_unet_output_blocks_8_0_emb_layers_1"),
        ("text_encoder", "encoder.layers.0.self_attn.q_proj", SD1,
         "lora_te_text_model_encoder_layers_0_self_attn_q_proj"),
        ("text_encoder", "text_model.encoder.layers.0.self_attn.q_proj", ModelFamily.SD2,
         "lora_te_text_model_encoder_layers_0_self_attn_q_proj"),
        ("text_encoder", "encoder.layers.11.mlp.fc1", SDXL, "lora_te1_text_model_encoder_layers_11_mlp_fc1"),
        ("text_encoder_2", "text_model.encoder.layers.0.self_attn.out_proj", SDXL,
         "lora_te2_text_model_encoder_layers_0_self_attn_out_proj"),
        ("text_encoder_2", "encoder.layers.0.self_attn.out_proj", SDXL,
         "lora_te2_text_model_encoder_layers_0_self_attn_out_proj"),
    ],
)  # fmt: skip
def test_kohya_name(component, path, family, expected):
    assert kohya_name(component, path, family) == expected


def test_kohya_name_rejects_te2_outside_sdxl():
    with pytest.raises(ValueError):
        kohya_name("text_encoder_2", "text_model.encoder.layers.0.mlp.fc1", SD1)


@pytest.mark.parametrize(
    "path",
    [
        "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_out.0",
        "up_blocks.1.attentions.2.proj_in",
        "mid_block.attentions.0.transformer_blocks.0.ff.net.2",
        "down_blocks.0.resnets.1.conv_shortcut",
        "up_blocks.0.resnets.0.time_emb_proj",
        "down_blocks.0.downsamplers.0.conv",
    ],
)
def test_parse_kohya_name_inverts_unet_names(path):
    assert parse_kohya_name(kohya_name("unet", path, SD1)) == ("unet", path)


def test_parse_kohya_name_text_encoders():
    flat = "encoder.layers.3.self_attn.k_proj"
    assert parse_kohya_name(kohya_name("text_encoder", flat, SD1), flat_clip_text_model=True) == (
        "text_encoder",
        flat,
    )
    assert parse_kohya_name("lora_te1_text_model_encoder_layers_3_mlp_fc2", flat_clip_text_model=False) == (
        "text_encoder",
        "text_model.encoder.layers.3.mlp.fc2",
    )
    assert parse_kohya_name("lora_te2_text_model_encoder_layers_3_mlp_fc2") == (
        "text_encoder_2",
        "text_model.encoder.layers.3.mlp.fc2",
    )
    with pytest.raises(ValueError):
        parse_kohya_name("lycoris_foo")


def test_peft_to_kohya_layout_and_alpha():
    sd = {
        "down_blocks.0.attentions.0.proj_in.lora_A.weight": torch.ones(4, 32, 1, 1),
        "down_blocks.0.attentions.0.proj_in.lora_B.weight": torch.ones(32, 4, 1, 1),
    }
    out = peft_to_kohya(
        {"unet": sd, "text_encoder": {}}, family=SD1, alpha_for=lambda c, m, r: r / 2, dtype=torch.float16
    )
    name = "lora_unet_down_blocks_0_attentions_0_proj_in"
    assert set(out) == {f"{name}.lora_down.weight", f"{name}.lora_up.weight", f"{name}.alpha"}
    assert out[f"{name}.alpha"].item() == 2.0 and out[f"{name}.alpha"].dtype == torch.float16
    assert out[f"{name}.alpha"].shape == ()
    back = kohya_to_peft(out)
    assert back.alphas["unet"]["down_blocks.0.attentions.0.proj_in"] == 2.0


def test_peft_to_kohya_rejects_dora_and_half_pairs():
    with pytest.raises(ValueError, match="kohya format"):
        peft_to_kohya(
            {"unet": {"a.lora_magnitude_vector": torch.ones(3)}}, family=SD1, alpha_for=lambda *a: 1.0
        )
    with pytest.raises(ValueError, match="missing"):
        peft_to_kohya({"unet": {"a.lora_A.weight": torch.ones(2, 3)}}, family=SD1, alpha_for=lambda *a: 1.0)


def _kohya_shapes(prefix: str, module: str, rank: int, in_dim: int, out_dim: int) -> dict:
    return {
        f"{prefix}_{module}.lora_down.weight": (rank, in_dim),
        f"{prefix}_{module}.lora_up.weight": (out_dim, rank),
        f"{prefix}_{module}.alpha": (),
    }


def test_classify_kohya_families_from_shapes():
    attn2 = "down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"
    te_q = "text_model_encoder_layers_0_self_attn_q_proj"
    sd1 = {**_kohya_shapes("lora_unet", attn2, 8, 768, 640), **_kohya_shapes("lora_te", te_q, 8, 768, 768)}
    kind = classify_lora_keys(sd1)
    assert (kind.format, kind.family, kind.has_text_encoder, kind.has_unet) == (
        LoraFormat.KOHYA_LORA,
        SD1,
        True,
        True,
    )
    assert kind.module_count == 2 and kind.ranks == (8,)

    sd2 = _kohya_shapes("lora_unet", attn2, 4, 1024, 640)
    assert classify_lora_keys(sd2).family == ModelFamily.SD2
    sd2_te = _kohya_shapes("lora_te", te_q, 4, 1024, 1024)
    assert classify_lora_keys(sd2_te).family == ModelFamily.SD2
    sdxl_unet_only = _kohya_shapes(
        "lora_unet", "input_blocks_4_1_transformer_blocks_0_attn2_to_k", 4, 2048, 640
    )
    assert classify_lora_keys(sdxl_unet_only).family == SDXL
    assert classify_lora_keys(list(sdxl_unet_only)).family == SDXL  # sgm names, no shapes
    te1 = _kohya_shapes("lora_te1", te_q, 4, 768, 768)
    assert classify_lora_keys(list(te1)).family == SDXL
    assert classify_lora_keys(_kohya_shapes("lora_unet", attn2, 4, 32, 32)).family is None


def test_classify_locon_and_dora():
    conv = {
        "lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight": (4, 320, 3, 3),
        "lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight": (320, 4, 1, 1),
        "lora_unet_down_blocks_0_resnets_0_conv1.alpha": (),
        "lora_unet_down_blocks_0_resnets_0_conv1.dora_scale": (1, 320, 1, 1),
    }
    kind = classify_lora_keys(conv)
    assert kind.format == LoraFormat.KOHYA_LOCON and kind.conv_layers and kind.dora
    one_by_one = {
        "lora_unet_x_proj_in.lora_down.weight": (4, 320, 1, 1),
        "lora_unet_x_proj_in.lora_up.weight": (320, 4, 1, 1),
    }
    assert classify_lora_keys(one_by_one).format == LoraFormat.KOHYA_LORA


@pytest.mark.parametrize(
    ("keys", "fmt"),
    [
        (["lora_unet_a_to_q.hada_w1_a", "lora_unet_a_to_q.hada_w1_b", "lora_unet_a_to_q.alpha"], LoraFormat.LOHA),
        (["lora_unet_a_to_q.lokr_w1", "lora_unet_a_to_q.lokr_w2_a"], LoraFormat.LOKR),
        (["lora_unet_a_to_q.oft_blocks", "lora_unet_a_to_q.alpha"], LoraFormat.OFT),
        (["lora_unet_a_to_q.weight", "lora_unet_a_to_q.on_input"], LoraFormat.IA3),
        (["lora_unet_a_to_q.diff", "lora_unet_a_to_q.diff_b"], LoraFormat.FULL),
        (["unet.down_blocks.0.attentions.0.proj_in.lora_A.weight", "text_encoder.encoder.layers.0.mlp.fc1.lora_B.weight"],
         LoraFormat.DIFFUSERS),
        (["base_model.model.down_blocks.0.proj_in.lora_A.weight"], LoraFormat.PEFT),
        (["unet.down_blocks.0.attentions.0.processor.to_q_lora.down.weight"], LoraFormat.DIFFUSERS_OLD),
        (["model.diffusion_model.input_blocks.0.0.weight", "cond_stage_model.transformer.x.weight"], LoraFormat.CHECKPOINT),
        (["foo", "bar"], LoraFormat.UNKNOWN),
    ],
)  # fmt: skip
def test_classify_formats(keys, fmt):
    kind = classify_lora_keys(keys)
    assert kind.format == fmt
    assert fmt.is_lycoris_only == (
        fmt in {LoraFormat.LOHA, LoraFormat.LOKR, LoraFormat.OFT, LoraFormat.IA3, LoraFormat.FULL}
    )


def test_classify_diffusers_sdxl_and_peft_dora():
    keys = {
        "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight": (4, 2048),
        "text_encoder_2.text_model.encoder.layers.0.mlp.fc1.lora_A.weight": (4, 1280),
        "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_magnitude_vector": (640,),
    }
    kind = classify_lora_keys(keys)
    assert kind.format == LoraFormat.DIFFUSERS and kind.family == SDXL and kind.dora and kind.has_text_encoder


def test_kohya_to_peft_sdxl_with_exact_module_paths():
    te2 = "text_model.encoder.layers.0.self_attn.q_proj"
    te1 = "encoder.layers.0.mlp.fc1"
    sd = {
        "text_encoder": {f"{te1}.lora_A.weight": torch.ones(2, 8), f"{te1}.lora_B.weight": torch.ones(8, 2)},
        "text_encoder_2": {
            f"{te2}.lora_A.weight": torch.ones(2, 8),
            f"{te2}.lora_B.weight": torch.ones(8, 2),
        },
    }
    kohya = peft_to_kohya(sd, family=SDXL, alpha_for=lambda c, m, r: 1.0)
    assert "lora_te1_text_model_encoder_layers_0_mlp_fc1.alpha" in kohya
    back = kohya_to_peft(kohya, module_paths={"text_encoder": [te1], "text_encoder_2": [te2]})
    assert set(back.state_dicts["text_encoder"]) == set(sd["text_encoder"])
    assert set(back.state_dicts["text_encoder_2"]) == set(sd["text_encoder_2"])
    kwargs = back.lora_config_kwargs("text_encoder_2")
    assert kwargs == {
        "r": 2,
        "lora_alpha": 1.0,
        "target_modules": [te2],
        "rank_pattern": {},
        "alpha_pattern": {},
    }


def test_kohya_to_peft_rejects_lycoris_and_reads_sgm_names():
    from lora_studio.core.errors import ModelLoadError

    with pytest.raises(ModelLoadError):
        kohya_to_peft({"lora_unet_a_to_q.hada_w1_a": torch.ones(1)})
    sgm = {
        "lora_unet_input_blocks_4_1_proj_in.lora_down.weight": torch.ones(2, 4),
        "lora_unet_input_blocks_4_1_proj_in.lora_up.weight": torch.ones(4, 2),
        "lora_unet_middle_block_2_in_layers_2.lora_down.weight": torch.ones(2, 4, 3, 3),
        "lora_unet_middle_block_2_in_layers_2.lora_up.weight": torch.ones(4, 2, 1, 1),
        "lora_unet_output_blocks_2_2_conv.lora_down.weight": torch.ones(2, 4, 3, 3),
        "lora_unet_output_blocks_2_2_conv.lora_up.weight": torch.ones(4, 2, 1, 1),
    }
    back = kohya_to_peft(sgm)
    assert set(back.ranks["unet"]) == {
        "down_blocks.1.attentions.0.proj_in",
        "mid_block.resnets.1.conv1",
        "up_blocks.0.upsamplers.0.conv",
    }


def test_sdxl_names_rename_both_ways():
    from lora_studio.formats.lora_keys import is_sgm_unet_name, rename_sdxl_unet_keys

    old = {
        "lora_unet_down_blocks_2_attentions_1_transformer_blocks_3_attn1_to_out_0.alpha": 1,
        "lora_unet_up_blocks_0_resnets_2_conv2.lora_up.weight": 2,
        "lora_te2_text_model_encoder_layers_0_mlp_fc1.alpha": 3,
    }
    new = rename_sdxl_unet_keys(old, to="original")
    assert new == {
        "lora_unet_input_blocks_8_1_transformer_blocks_3_attn1_to_out_0.alpha": 1,
        "lora_unet_output_blocks_2_0_out_layers_3.lora_up.weight": 2,
        "lora_te2_text_model_encoder_layers_0_mlp_fc1.alpha": 3,
    }
    assert all(is_sgm_unet_name(k.split(".")[0]) for k in new if k.startswith("lora_unet"))
    assert rename_sdxl_unet_keys(new, to="diffusers") == old
    assert parse_kohya_name("lora_unet_output_blocks_2_0_out_layers_3") == (
        "unet",
        "up_blocks.0.resnets.2.conv2",
    )


def test_kohya_to_peft_exact_paths_accept_both_sdxl_unet_namings():
    """Continuing from an SDXL LoRA: kohya's original-layout names and the diffusers-style names of
    older LoRA Studio files both land on the same UNet module, numbered by the model's own config."""
    tiny = {  # two blocks with one layer each: down_blocks.1.attentions.0 is input_blocks.3.1 here
        "layers_per_block": 1,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
    }
    path = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"
    modules = {"unet": ["", "down_blocks", "down_blocks.1", path]}
    for name in ("lora_unet_input_blocks_3_1_transformer_blocks_0_attn2_to_k", kohya_name("unet", path, SD1)):
        sd = {f"{name}.lora_down.weight": torch.ones(2, 8), f"{name}.lora_up.weight": torch.ones(8, 2)}
        back = kohya_to_peft(sd, module_paths=modules, family=SDXL, unet_config=tiny)
        assert list(back.ranks["unet"]) == [path]
    assert (
        kohya_name("unet", path, SDXL, tiny) == "lora_unet_input_blocks_3_1_transformer_blocks_0_attn2_to_k"
    )
