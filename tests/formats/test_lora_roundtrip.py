"""Acceptance test: a PEFT-trained LoRA saved by ``save_kohya_lora`` loads back with diffusers'
``load_lora_weights`` and reproduces the trained pipeline's output (alpha != rank on purpose)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lora_studio.core.families import ModelFamily
from lora_studio.diffusion.tiny import build_tiny_pipeline
from lora_studio.formats.hashes import addnet_hash
from lora_studio.formats.lora_classify import LoraFormat
from lora_studio.formats.lora_info import inspect_lora
from lora_studio.formats.lora_keys import SGM_UNET_PREFIXES, kohya_to_peft, load_kohya_lora, save_kohya_lora
from lora_studio.formats.safetensors_meta import read_header

UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2"]
TE_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
RANK, ALPHA = 4, 2


def _render(pipe) -> np.ndarray:
    out = pipe(
        "a photo of a cat",
        num_inference_steps=2,
        height=64,
        width=64,
        guidance_scale=5.0,
        generator=torch.Generator("cpu").manual_seed(0),
        output_type="np",
    )
    return np.asarray(out.images[0], dtype=np.float64)


def _text_encoders(pipe, family: ModelFamily) -> dict:
    encoders = {"text_encoder": pipe.text_encoder}
    if family == ModelFamily.SDXL:
        encoders["text_encoder_2"] = pipe.text_encoder_2
    return encoders


def _add_lora(pipe, family: ModelFamily, with_te: bool) -> dict:
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(1234)
    pipe.unet.add_adapter(
        LoraConfig(r=RANK, lora_alpha=ALPHA, init_lora_weights=False, target_modules=UNET_TARGETS)
    )
    state = {"unet": get_peft_model_state_dict(pipe.unet)}
    if with_te:
        for name, te in _text_encoders(pipe, family).items():
            te.add_adapter(
                LoraConfig(r=RANK, lora_alpha=ALPHA, init_lora_weights=False, target_modules=TE_TARGETS)
            )
            state[name] = get_peft_model_state_dict(te)
    return state


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "with_te"),
    [(ModelFamily.SD1, True), (ModelFamily.SD1, False), (ModelFamily.SDXL, True), (ModelFamily.SDXL, False)],
    ids=["sd1-te", "sd1-unet", "sdxl-te", "sdxl-unet"],
)
def test_kohya_export_reloads_in_diffusers(tmp_path, family, with_te):
    base = _render(build_tiny_pipeline(family, seed=0))

    trained = build_tiny_pipeline(family, seed=0)
    state = _add_lora(trained, family, with_te)
    expected = _render(trained)
    assert np.abs(expected - base).max() > 1e-2, (
        "the LoRA must change the picture for the test to mean anything"
    )

    path = save_kohya_lora(
        tmp_path / "out.safetensors",
        state,
        family=family,
        alpha_for=lambda component, module, rank: float(ALPHA),
        metadata={"ss_network_dim": str(RANK), "ss_network_alpha": str(ALPHA)},
        unet_config=dict(trained.unet.config),
    )

    header = read_header(path)
    keys = list(header.tensors)
    unet_keys = [k for k in keys if k.startswith("lora_unet_")]
    if family == ModelFamily.SDXL:  # kohya's SDXL names: the original layout's block numbers
        assert unet_keys and all(k.startswith(SGM_UNET_PREFIXES) for k in unet_keys)
    else:
        assert unet_keys and all(
            k.startswith(("lora_unet_down_", "lora_unet_mid_", "lora_unet_up_")) for k in unet_keys
        )
    te_prefixes = ("lora_te1_", "lora_te2_") if family == ModelFamily.SDXL else ("lora_te_",)
    assert all(k.startswith(("lora_unet_", *te_prefixes)) for k in keys)
    assert all(k.endswith((".lora_down.weight", ".lora_up.weight", ".alpha")) for k in keys)
    te_keys = [k for k in keys if k.startswith("lora_te")]
    if with_te:
        assert te_keys and all(k.split("_", 2)[2].startswith("text_model_encoder_layers_") for k in te_keys)
        assert not any("text_model_text_model" in k for k in te_keys)
        if family == ModelFamily.SDXL:
            assert any(k.startswith("lora_te2_text_model_encoder_layers_0_") for k in te_keys)
    else:
        assert not te_keys
    # kohya's precomputed hash covers only the tensor data, so it equals the file's addnet hash.
    assert header.metadata["sshs_model_hash"] == addnet_hash(path)
    assert len(header.metadata["sshs_legacy_hash"]) == 8

    info = inspect_lora(path)
    assert info.format == LoraFormat.KOHYA_LORA
    assert info.rank == RANK and info.alpha == ALPHA
    assert info.has_text_encoder == with_te
    if family == ModelFamily.SDXL and with_te:
        assert info.family == ModelFamily.SDXL

    fresh = build_tiny_pipeline(family, seed=0)
    fresh.load_lora_weights(str(path))
    for name, te in _text_encoders(fresh, family).items():
        has_lora = any("lora_A" in n for n, _ in te.named_parameters())
        assert has_lora == with_te, f"{name}: text-encoder LoRA loaded={has_lora}"
    got = _render(fresh)
    assert np.abs(got - expected).max() < 1e-3

    if with_te and family == ModelFamily.SD1:
        _check_resume_round_trip(path, state)
        _check_fp16_and_wrong_alpha(tmp_path, state, family, expected)


def _check_fp16_and_wrong_alpha(tmp_path, state, family, expected) -> None:
    """fp16 files still match; writing alpha = rank (diffusers' converter) is caught by the test."""
    half = save_kohya_lora(
        tmp_path / "half.safetensors",
        state,
        family=family,
        alpha_for=lambda c, m, r: float(ALPHA),
        dtype=torch.float16,
    )
    assert {t.dtype for t in read_header(half).tensors.values()} == {"F16"}
    pipe = build_tiny_pipeline(family, seed=0)
    pipe.load_lora_weights(str(half))
    assert np.abs(_render(pipe) - expected).max() < 1e-3

    wrong = save_kohya_lora(
        tmp_path / "wrong.safetensors", state, family=family, alpha_for=lambda c, m, r: float(r)
    )
    pipe = build_tiny_pipeline(family, seed=0)
    pipe.load_lora_weights(str(wrong))
    assert np.abs(_render(pipe) - expected).max() > 1e-3


def _check_resume_round_trip(path, state) -> None:
    """kohya_to_peft gives back exactly the PEFT tensors, module paths and alphas."""
    peft_lora = load_kohya_lora(path)
    for component, sd in state.items():
        back = peft_lora.state_dicts[component]
        assert set(back) == set(sd)
        for key, tensor in sd.items():
            assert torch.equal(back[key], tensor.cpu())
        assert set(peft_lora.alphas[component].values()) == {float(ALPHA)}
        kwargs = peft_lora.lora_config_kwargs(component)
        assert kwargs["r"] == RANK and kwargs["lora_alpha"] == ALPHA
    unet_paths = set(peft_lora.ranks["unet"])
    exact = kohya_to_peft(
        read_all(path),
        module_paths={"unet": unet_paths, "text_encoder": set(peft_lora.ranks["text_encoder"])},
    )
    assert set(exact.ranks["unet"]) == unet_paths


def read_all(path):
    from safetensors.torch import load_file

    return load_file(str(path))
