"""FLUX LoRA key formats: the kohya FLUX export joins split modules exactly; every form reads back."""

from __future__ import annotations

import json

import pytest
import torch

from lora_studio.core.errors import ModelLoadError
from lora_studio.formats.flux_lora_keys import (
    LoraPair,
    bfl_to_diffusers,
    diffusers_to_bfl,
    flux_peft_to_kohya,
    is_flux_lora_keys,
    load_flux_lora,
    read_flux_lora,
    save_flux_kohya_lora,
)
from lora_studio.formats.lora_classify import classify_lora_keys
from tests.generation.flux_helpers import bfl_dotted

HIDDEN = 32  # tiny transformer: 2 heads × 16
MLP = 4 * HIDDEN


def tiny_transformer():
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(0)
    return FluxTransformer2DModel(
        patch_size=1, in_channels=4, num_layers=2, num_single_layers=2, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=24, pooled_projection_dim=20,
        axes_dims_rope=(4, 6, 6), guidance_embeds=True,
    )  # fmt: skip


def linear_paths(model) -> dict[str, torch.nn.Linear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


def random_peft(model, rank=4, seed=1, skip=()):
    """A PEFT-layout state dict with random non-zero A/B for every Linear (as get_peft_model_state_dict
    gives), and per-module alphas that differ (so the fused strengths differ too)."""
    gen = torch.Generator().manual_seed(seed)
    sd, alphas = {}, {}
    for i, (path, lin) in enumerate(sorted(linear_paths(model).items())):
        if path in skip:
            continue
        sd[f"{path}.lora_A.weight"] = torch.randn(rank, lin.in_features, generator=gen)
        sd[f"{path}.lora_B.weight"] = torch.randn(lin.out_features, rank, generator=gen)
        alphas[path] = float(1 + i % 3)
    return sd, alphas


def peft_deltas(sd, alphas) -> dict[str, torch.Tensor]:
    out = {}
    for key in sd:
        if key.endswith(".lora_A.weight"):
            path = key[: -len(".lora_A.weight")]
            a, b = sd[key], sd[f"{path}.lora_B.weight"]
            out[path] = (b @ a) * (alphas[path] / a.shape[0])
    return out


def kohya_deltas(tensors) -> dict[str, torch.Tensor]:
    out = {}
    for key, down in tensors.items():
        if key.endswith(".lora_down.weight"):
            name = key[: -len(".lora_down.weight")]
            up, alpha = tensors[f"{name}.lora_up.weight"], float(tensors[f"{name}.alpha"])
            out[name] = (up.float() @ down.float()) * (alpha / down.shape[0])
    return out


def test_names_follow_bfl_layout():
    assert bfl_to_diffusers("single_blocks.5.linear1") == tuple(
        f"single_transformer_blocks.5.{p}" for p in ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp")
    )
    assert bfl_to_diffusers("double_blocks_1_txt_mod_lin") == ("transformer_blocks.1.norm1_context.linear",)
    assert diffusers_to_bfl("transformer_blocks.0.attn.add_k_proj") == ("double_blocks.0.txt_attn.qkv", 1, 3)
    assert diffusers_to_bfl("norm_out.linear") == ("final_layer.adaLN_modulation.1", 0, 1)
    with pytest.raises(ValueError):
        diffusers_to_bfl("transformer_blocks.0.attn.norm_q")


def test_export_names_and_fused_math_are_exact():
    model = tiny_transformer()
    sd, alphas = random_peft(model)
    te_sd = {
        "encoder.layers.0.self_attn.q_proj.lora_A.weight": torch.randn(4, 16),
        "encoder.layers.0.self_attn.q_proj.lora_B.weight": torch.randn(16, 4),
    }
    tensors = flux_peft_to_kohya(
        sd, text_encoder_state_dict=te_sd, alpha_for=lambda c, m, r: alphas.get(m, 8.0)
    )
    names = {k.partition(".")[0] for k in tensors}
    for n in range(2):
        for tail in ("img_attn_qkv", "img_attn_proj", "img_mlp_0", "img_mlp_2", "img_mod_lin",
                     "txt_attn_qkv", "txt_attn_proj", "txt_mlp_0", "txt_mlp_2", "txt_mod_lin"):  # fmt: skip
            assert f"lora_unet_double_blocks_{n}_{tail}" in names
        for tail in ("linear1", "linear2", "modulation_lin"):
            assert f"lora_unet_single_blocks_{n}_{tail}" in names
    assert "lora_te1_text_model_encoder_layers_0_self_attn_q_proj" in names
    assert "lora_unet_final_layer_adaLN_modulation_1" in names and "lora_unet_img_in" in names
    assert not any("to_q" in n or "split" in n or "proj_mlp" in n for n in names)
    # Each tensor as kohya writes it: 2-D down/up, scalar alpha.
    assert all(tensors[k].dim() == 0 for k in tensors if k.endswith(".alpha"))
    qkv = "lora_unet_double_blocks_0_img_attn_qkv"
    assert tensors[f"{qkv}.lora_down.weight"].shape == (12, HIDDEN)
    assert tensors[f"{qkv}.lora_up.weight"].shape == (3 * HIDDEN, 12)
    assert tensors["lora_unet_single_blocks_1_linear1.lora_up.weight"].shape == (3 * HIDDEN + MLP, 16)

    # Exact: the fused module's ΔW (kohya's alpha / rank rule) is the parts' ΔW stacked by rows.
    ref = peft_deltas(sd, alphas)
    got = kohya_deltas(tensors)
    for bfl_name, delta in got.items():
        if bfl_name.startswith("lora_te1_"):
            continue
        parts = bfl_to_diffusers(bfl_name[len("lora_unet_") :])
        want = torch.cat([ref[p] for p in parts], 0)
        if parts == ("norm_out.linear",):
            want = torch.cat(want.chunk(2)[::-1], 0)  # BFL's (shift, scale) order
        torch.testing.assert_close(delta, want, rtol=1e-5, atol=1e-5)
    assert len(got) == 1 + sum(1 for k in got if k.startswith("lora_unet_"))


def test_equal_alphas_copy_tensors_bit_for_bit_and_alpha_is_strength_times_rank():
    model = tiny_transformer()
    sd, _ = random_peft(model)
    tensors = flux_peft_to_kohya(sd, alpha_for=2.0)
    name = "lora_unet_single_blocks_0_linear1"
    assert float(tensors[f"{name}.alpha"]) == pytest.approx(2.0 / 4 * 16)
    up = tensors[f"{name}.lora_up.weight"]
    assert torch.equal(
        up[HIDDEN : 2 * HIDDEN, 4:8], sd["single_transformer_blocks.0.attn.to_k.lora_B.weight"]
    )
    assert not up[:HIDDEN, 4:].any()  # block-diagonal
    assert torch.equal(
        tensors[f"{name}.lora_down.weight"][12:], sd["single_transformer_blocks.0.proj_mlp.lora_A.weight"]
    )


def test_missing_part_leaves_its_rows_zero():
    model = tiny_transformer()
    sd, alphas = random_peft(
        model, skip={"transformer_blocks.0.attn.to_k", "single_transformer_blocks.0.proj_mlp"}
    )
    tensors = flux_peft_to_kohya(sd, alpha_for=lambda c, m, r: alphas[m])
    qkv_up = tensors["lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight"]
    assert qkv_up.shape == (3 * HIDDEN, 8)
    assert not qkv_up[HIDDEN : 2 * HIDDEN].any()
    lin_up = tensors["lora_unet_single_blocks_0_linear1.lora_up.weight"]
    assert lin_up.shape == (3 * HIDDEN + MLP, 12) and not lin_up[3 * HIDDEN :].any()
    back = read_flux_lora(tensors)
    assert "transformer_blocks.0.attn.to_k" not in back.transformer
    assert "single_transformer_blocks.0.proj_mlp" not in back.transformer
    ref = peft_deltas(sd, alphas)
    for path in (
        "transformer_blocks.0.attn.to_q",
        "transformer_blocks.0.attn.to_v",
        "single_transformer_blocks.0.attn.to_v",
    ):
        torch.testing.assert_close(back.transformer[path].delta(), ref[path], rtol=1e-5, atol=1e-5)


def _assert_same_as(lora, ref, te_ref=None):
    assert set(lora.transformer) == set(ref)
    for path, delta in ref.items():
        torch.testing.assert_close(lora.transformer[path].delta(), delta, rtol=1e-5, atol=1e-5)
    for path, delta in (te_ref or {}).items():
        torch.testing.assert_close(lora.text_encoder[path].delta(), delta, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def exported():
    model = tiny_transformer()
    sd, alphas = random_peft(model, seed=3)
    te_sd = {
        "encoder.layers.1.mlp.fc1.lora_A.weight": torch.randn(4, 16),
        "encoder.layers.1.mlp.fc1.lora_B.weight": torch.randn(64, 4),
    }
    te_ref = {
        "encoder.layers.1.mlp.fc1": (
            te_sd["encoder.layers.1.mlp.fc1.lora_B.weight"] @ te_sd["encoder.layers.1.mlp.fc1.lora_A.weight"]
        )
        * 0.5
    }
    alpha_for = lambda c, m, r: alphas.get(m, 2.0)  # noqa: E731
    return (
        flux_peft_to_kohya(sd, text_encoder_state_dict=te_sd, alpha_for=alpha_for),
        peft_deltas(sd, alphas),
        te_ref,
    )


def test_round_trip_kohya(exported):
    tensors, ref, te_ref = exported
    lora = read_flux_lora(tensors)
    assert lora.source_format == "kohya"
    _assert_same_as(lora, ref, te_ref)
    # kohya form again from what was read: the same file.
    again = flux_peft_to_kohya(
        lora.to_peft().state_dicts["transformer"],
        text_encoder_state_dict=lora.to_peft().state_dicts["text_encoder"],
        alpha_for=lambda c, m, r: lora.components()[c][m].alpha,
    )
    for name, delta in kohya_deltas(tensors).items():
        torch.testing.assert_close(kohya_deltas(again)[name], delta, rtol=1e-5, atol=1e-5)


def test_te_names_without_text_model_segment(exported):
    tensors, ref, te_ref = exported
    renamed = {k.replace("lora_te1_text_model_", "lora_te1_"): v for k, v in tensors.items()}
    _assert_same_as(read_flux_lora(renamed), ref, te_ref)


def test_diffusers_peft_form(exported):
    tensors, ref, te_ref = exported
    lora = read_flux_lora(tensors)
    sd = lora.to_diffusers_state_dict(text_model_wrapper=True)
    assert all(k.startswith(("transformer.", "text_encoder.text_model.")) for k in sd)
    back = read_flux_lora(sd)
    assert back.source_format == "diffusers"
    _assert_same_as(back, ref, te_ref)
    # Bare PEFT keys with explicit alphas (peft's own layout plus an .alpha per module).
    bare = {}
    for path, pair in lora.transformer.items():
        bare[f"base_model.model.{path}.lora_A.weight"] = pair.down
        bare[f"base_model.model.{path}.lora_B.weight"] = pair.up
        bare[f"base_model.model.{path}.alpha"] = torch.tensor(pair.alpha)
    _assert_same_as(read_flux_lora(bare), ref)


def test_ai_toolkit_bfl_form(exported):
    tensors, ref, _ = exported
    ait = {}
    for key, value in tensors.items():
        if key.startswith("lora_unet_"):
            name, _, suffix = key.partition(".")
            path = bfl_dotted(name[len("lora_unet_") :])
            suffix = suffix.replace("lora_down", "lora_A").replace("lora_up", "lora_B")
            ait[f"diffusion_model.{path}.{suffix}"] = value
    lora = read_flux_lora(ait)
    assert lora.source_format == "ai-toolkit"
    _assert_same_as(lora, ref)


def test_onetrainer_form(exported):
    tensors, ref, te_ref = exported
    lora = read_flux_lora(tensors)
    ot = {}
    for path, pair in lora.transformer.items():
        name = "lora_transformer_" + path.replace(".", "_")
        ot[f"{name}.lora_down.weight"], ot[f"{name}.lora_up.weight"] = pair.down, pair.up
        ot[f"{name}.alpha"] = torch.tensor(pair.alpha)
    for key, value in tensors.items():
        if key.startswith("lora_te1_"):
            ot[key] = value
    back = read_flux_lora(ot)
    assert back.source_format == "kohya+onetrainer"
    _assert_same_as(back, ref, te_ref)


def _split_qkv_file():
    """What sd-scripts writes for split_qkv training: concatenated downs, block-diagonal up, and the
    per-part alpha unchanged (rank 4 per part, alpha 4: the parts were trained at strength 1)."""
    gen = torch.Generator().manual_seed(5)
    downs = [torch.randn(4, HIDDEN, generator=gen) for _ in range(3)]
    ups = [torch.randn(HIDDEN, 4, generator=gen) for _ in range(3)]
    up = torch.block_diag(*ups)
    name = "lora_unet_double_blocks_0_img_attn_qkv"
    tensors = {
        f"{name}.lora_down.weight": torch.cat(downs),
        f"{name}.lora_up.weight": up,
        f"{name}.alpha": torch.tensor(4.0),
        "lora_unet_double_blocks_0_img_attn_proj.lora_down.weight": torch.randn(4, HIDDEN, generator=gen),
        "lora_unet_double_blocks_0_img_attn_proj.lora_up.weight": torch.randn(HIDDEN, 4, generator=gen),
        "lora_unet_double_blocks_0_img_attn_proj.alpha": torch.tensor(4.0),
    }
    return tensors, [u @ d for u, d in zip(ups, downs)]


def test_sd_scripts_split_qkv_file_loads_at_trained_strength():
    tensors, parts = _split_qkv_file()
    for lora in (
        read_flux_lora(tensors, {"ss_network_args": json.dumps({"split_qkv": "True"})}),
        read_flux_lora(tensors),  # no metadata: rank 3× and the same alpha as the other modules
    ):
        for path, want in zip(("attn.to_q", "attn.to_k", "attn.to_v"), parts):
            torch.testing.assert_close(lora.transformer[f"transformer_blocks.0.{path}"].delta(), want)
    # Told it is a plain fused module: kohya's rule (alpha / fused rank), what other tools apply.
    plain = read_flux_lora(tensors, split_qkv=False)
    torch.testing.assert_close(plain.transformer["transformer_blocks.0.attn.to_q"].delta(), parts[0] / 3)


def test_t5_modules_are_reported_and_foreign_names_refused(exported):
    tensors, ref, _ = exported
    extra = dict(tensors)
    extra["lora_te2_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight"] = torch.zeros(4, 8)
    extra["lora_te2_encoder_block_0_layer_0_SelfAttention_q.lora_up.weight"] = torch.zeros(8, 4)
    lora = read_flux_lora(extra)
    assert lora.skipped == ["lora_te2_encoder_block_0_layer_0_SelfAttention_q"]
    with pytest.raises(ModelLoadError, match="not a FLUX.1 LoRA module"):
        read_flux_lora({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 8),
                        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(8, 4)})  # fmt: skip


def test_classified_as_flux(exported):
    tensors, _, _ = exported
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    kind = classify_lora_keys(shapes)
    assert kind.family is not None and kind.family.value == "flux"
    assert kind.has_unet and kind.has_text_encoder
    diff = read_flux_lora(tensors).to_diffusers_state_dict()
    assert classify_lora_keys({k: tuple(v.shape) for k, v in diff.items()}).family.value == "flux"
    assert is_flux_lora_keys(diff) and not is_flux_lora_keys(["lora_unet_input_blocks_4_1_proj_in.alpha"])


def test_save_writes_hashes_and_loads(tmp_path, exported):
    model = tiny_transformer()
    sd, _ = random_peft(model, seed=9)
    path = save_flux_kohya_lora(
        tmp_path / "f.safetensors", sd, alpha_for=4.0, metadata={"ss_network_dim": "4"}
    )
    from lora_studio.formats.safetensors_meta import read_header

    meta = read_header(path).metadata
    assert meta["ss_network_dim"] == "4" and len(meta["sshs_model_hash"]) == 64
    lora = load_flux_lora(path)
    assert lora.module_count == len(linear_paths(model))
    assert isinstance(next(iter(lora.transformer.values())), LoraPair)


def test_inspect_lora_identifies_flux_files(tmp_path):
    from lora_studio.core.families import ModelFamily, Prediction
    from lora_studio.formats.lora_info import inspect_lora

    model = tiny_transformer()
    sd, _ = random_peft(model, seed=4)
    # sd-scripts' FLUX metadata (ss_v2 False would read as SD 1.5 without the FLUX rule).
    meta = {"ss_base_model_version": "flux1", "ss_v2": "False", "modelspec.architecture": "flux-1-dev/lora"}
    info = inspect_lora(save_flux_kohya_lora(tmp_path / "k.safetensors", sd, alpha_for=4.0, metadata=meta))
    assert (info.family, info.family_source, info.prediction) == (
        ModelFamily.FLUX,
        "metadata",
        Prediction.FLOW,
    )
    # Without metadata the names tell (OneTrainer's form here).
    lora = read_flux_lora(flux_peft_to_kohya(sd, alpha_for=4.0))
    ot = {}
    for path, pair in lora.transformer.items():
        name = "lora_transformer_" + path.replace(".", "_")
        ot[f"{name}.lora_down.weight"], ot[f"{name}.lora_up.weight"] = pair.down, pair.up
    from lora_studio.formats.safetensors_meta import write_safetensors

    info = inspect_lora(write_safetensors(tmp_path / "ot.safetensors", ot, {}))
    assert (info.family, info.family_source) == (ModelFamily.FLUX, "keys")
    assert not info.has_text_encoder and info.rank == 4
