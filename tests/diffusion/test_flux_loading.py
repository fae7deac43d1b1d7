"""FLUX.1 files in every layout users have load offline into the same pipeline, and say what they are."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from lora_studio.core.errors import ModelLoadError
from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.diffusion.families import inspect_checkpoint
from lora_studio.diffusion.loading import load_pipeline
from lora_studio.diffusion.tiny_flux import TINY_FLUX_RESOLUTION, rounded_tiny_flux_pipeline, save_tiny_flux

FP8_TOLERANCE = 0.1  # largest pixel difference (0..1) of the fp8 file's picture: measured 0.025


def _image(pipe, guidance: float = 3.5) -> np.ndarray:
    return pipe(
        "a photo of a cat",
        height=TINY_FLUX_RESOLUTION,
        width=TINY_FLUX_RESOLUTION,
        num_inference_steps=2,
        guidance_scale=guidance,
        generator=torch.Generator().manual_seed(7),
        output_type="np",
        max_sequence_length=32,
    ).images[0]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return _image(rounded_tiny_flux_pipeline(0, "dev"))


@pytest.mark.parametrize(
    ("layout", "kind", "tolerance"),
    [("transformer", "single_file", 0.0), ("all_in_one", "single_file", 0.0), ("diffusers", "diffusers", 0.0),
     ("transformer_fp8", "single_file", FP8_TOLERANCE)],
)  # fmt: skip
def test_every_layout_gives_the_same_image(tiny_flux, reference, layout, kind, tolerance):
    loaded = load_pipeline(tiny_flux[layout])
    assert (loaded.family, loaded.prediction, loaded.kind, loaded.variant) == (
        ModelFamily.FLUX, Prediction.FLOW, kind, "dev"
    )  # fmt: skip
    assert type(loaded.pipeline).__name__ == "FluxPipeline"
    diff = float(np.abs(_image(loaded.pipeline) - reference).max())
    assert diff <= tolerance, diff
    if layout == "transformer_fp8":
        assert loaded.fp8 and diff > 0  # really stored in fp8, and upcast to compute
    t5 = loaded.pipeline.text_encoder_2
    assert t5.shared.weight.data_ptr() == t5.encoder.embed_tokens.weight.data_ptr()  # still tied


def test_fp8_base_weights_give_back_the_files_own_fp8_values(tiny_flux):
    """The fp8 file is upcast while loading; storing the base in fp8 for training (kohya's fp8_base)
    gives back exactly the file's fp8 weights (fp8 -> fp32 -> fp8 is lossless)."""
    from lora_studio.diffusion.flux_format import transformer_from_bfl
    from lora_studio.diffusion.memory import FP8_DTYPE, store_fp8

    transformer = load_pipeline(tiny_flux["transformer_fp8"]).pipeline.transformer
    stored = transformer_from_bfl(load_file(str(tiny_flux["transformer_fp8"])), transformer.config)
    transformer.requires_grad_(False)  # a frozen base, as the trainer has it
    assert store_fp8(transformer, torch.float32) > 10
    checked = 0
    for name, module in transformer.named_modules():
        if isinstance(module, torch.nn.Linear) and module.weight.dtype == FP8_DTYPE:
            assert torch.equal(module.weight.view(torch.uint8), stored[name + ".weight"].view(torch.uint8)), name
            checked += 1
    assert checked > 10


def test_components_are_found_in_the_model_folders(tiny_flux):
    loaded = load_pipeline(tiny_flux["transformer"])
    models = tiny_flux["models"]
    assert loaded.components == {
        "transformer": tiny_flux["transformer"],
        "clip_l": models / "text_encoders" / "clip_l.safetensors",
        "t5xxl": models / "text_encoders" / "t5xxl_fp16.safetensors",
        "ae": models / "vae" / "ae.safetensors",
    }
    whole = load_pipeline(tiny_flux["all_in_one"])
    assert set(whole.components.values()) == {tiny_flux["all_in_one"]}  # nothing taken from outside


def test_header_only_detection(tiny_flux, tmp_path):
    dev = inspect_checkpoint(tiny_flux["transformer"])
    assert (dev.family, dev.prediction, dev.variant, dev.weight_dtype, dev.fp8) == (
        ModelFamily.FLUX, Prediction.FLOW, "dev", "bf16", False
    )  # fmt: skip
    assert (dev.layout, dev.parts, dev.missing_parts) == ("transformer", ("transformer",), ("clip_l", "t5xxl", "ae"))
    assert not dev.has_vae and not dev.has_text_encoder
    fp8 = inspect_checkpoint(tiny_flux["transformer_fp8"])
    assert (fp8.weight_dtype, fp8.fp8, fp8.variant) == ("fp8", True, "dev") and "fp8" in fp8.notes
    aio = inspect_checkpoint(tiny_flux["all_in_one"])
    assert (aio.layout, aio.missing_parts, aio.has_vae, aio.has_text_encoder) == ("all_in_one", (), True, True)
    folder = inspect_checkpoint(tiny_flux["diffusers"])
    assert (folder.family, folder.layout, folder.variant, folder.missing_parts) == (
        ModelFamily.FLUX, "diffusers", "dev", ()
    )  # fmt: skip
    schnell = save_tiny_flux(tmp_path, 0, "schnell", layouts=("transformer", "all_in_one"))
    assert inspect_checkpoint(schnell["transformer"]).variant == "schnell"
    assert inspect_checkpoint(schnell["all_in_one"]).variant == "schnell"
    # An all-in-one file without its VAE: the part is named as missing.
    state = load_file(str(schnell["all_in_one"]))
    no_vae = tmp_path / "no-vae.safetensors"
    save_file({k: v for k, v in state.items() if not k.startswith("vae.")}, str(no_vae))
    found = inspect_checkpoint(no_vae)
    assert (found.missing_parts, found.has_vae, found.has_text_encoder) == (("ae",), False, True)


@pytest.mark.parametrize(
    ("part", "words"),
    [("clip_l", ["CLIP-L text encoder", "clip_l.safetensors"]), ("t5xxl", ["T5-XXL", "t5xxl_fp16"]),
     ("ae", ["autoencoder", "ae.safetensors"])],
)  # fmt: skip
def test_component_files_are_not_base_models(tiny_flux, part, words):
    with pytest.raises(ModelLoadError) as info:
        inspect_checkpoint(tiny_flux[part])
    text = str(info.value)
    assert "one part of a model" in text and "flux1-dev.safetensors" in text
    for word in words:
        assert word in text, text


def _alone(tiny_flux, tmp_path: Path, *parts: str) -> Path:
    """The BFL transformer in a fresh folder, with only ``parts`` beside it."""
    folder = tmp_path / "alone" / "checkpoints"
    folder.mkdir(parents=True)
    model = Path(shutil.copy(tiny_flux["transformer"], folder))
    for part in parts:
        shutil.copy(tiny_flux[part], folder)
    return model


@pytest.mark.parametrize(
    ("present", "missing_words", "folder"),
    [(("clip_l", "ae"), ["T5-XXL text encoder", "t5xxl_fp16.safetensors"], "text_encoders"),
     (("clip_l", "t5xxl"), ["autoencoder (VAE)", "ae.safetensors"], "vae")],
)  # fmt: skip
def test_a_missing_part_is_named_with_where_to_put_it(tiny_flux, tmp_path, present, missing_words, folder):
    model = _alone(tiny_flux, tmp_path, *present)
    with pytest.raises(ModelLoadError) as info:
        load_pipeline(model)
    text = str(info.value)
    option = "--t5xxl" if folder == "text_encoders" else "--ae"
    for word in [model.name, *missing_words, f'"{model.parent.parent / folder}"', option]:
        assert word in text, text
    assert "CLIP-L" not in text.split("Put")[0]  # only what is missing is asked for


def test_components_checked_from_headers_before_loading(tiny_flux, tmp_path):
    from lora_studio.diffusion.flux_components import find_flux_components

    found = find_flux_components(tiny_flux["transformer"])
    assert found == {
        "clip_l": tiny_flux["clip_l"],
        "t5xxl": tiny_flux["t5xxl"],
        "ae": tiny_flux["ae"],
    }
    assert find_flux_components(tiny_flux["all_in_one"]) == {"clip_l": None, "t5xxl": None, "ae": None}
    with pytest.raises(ModelLoadError, match="T5-XXL"):
        find_flux_components(_alone(tiny_flux, tmp_path, "clip_l", "ae"))
    with pytest.raises(ModelLoadError, match="not a FLUX.1 model"):
        find_flux_components(tiny_flux["ae"])


def test_components_beside_the_model_and_explicit_paths(tiny_flux, tmp_path, reference):
    beside = _alone(tiny_flux, tmp_path, "clip_l", "t5xxl", "ae")
    loaded = load_pipeline(beside)
    assert loaded.components["t5xxl"] == beside.parent / "t5xxl_fp16.safetensors"
    assert float(np.abs(_image(loaded.pipeline) - reference).max()) == 0.0
    lonely = tmp_path / "lonely" / "m.safetensors"
    lonely.parent.mkdir()
    shutil.copy(tiny_flux["transformer"], lonely)
    explicit = load_pipeline(lonely, clip_l=tiny_flux["clip_l"], t5xxl=tiny_flux["t5xxl"], ae=tiny_flux["ae"])
    assert explicit.components["ae"] == tiny_flux["ae"]
    with pytest.raises(ModelLoadError, match="chosen as the T5-XXL text encoder, but it is CLIP-L"):
        load_pipeline(lonely, clip_l=tiny_flux["clip_l"], t5xxl=tiny_flux["clip_l"], ae=tiny_flux["ae"])


def test_a_component_of_another_size_is_not_taken(tiny_flux, tmp_path):
    """A T5 whose width does not fit the transformer (here 16, the tiny transformer takes 32) is
    passed over, as a real 4096-wide T5 would be next to a differently sized model."""
    model = _alone(tiny_flux, tmp_path, "clip_l", "ae")
    save_file(
        {"shared.weight": torch.zeros(8, 16), "encoder.block.0.layer.0.SelfAttention.q.weight": torch.zeros(16, 16)},
        str(model.parent / "t5xxl_fp16.safetensors"),
    )
    with pytest.raises(ModelLoadError, match="T5-XXL"):
        load_pipeline(model)
    with pytest.raises(ModelLoadError, match="does not fit this FLUX.1 model"):
        load_pipeline(model, t5xxl=model.parent / "t5xxl_fp16.safetensors")


def test_comfy_extras_and_scaled_fp8_load(tiny_flux, tmp_path, reference):
    """clip_l files that also hold the projection, and ComfyUI's "scaled fp8" transformer files."""
    folder = tmp_path / "m"
    folder.mkdir()
    clip = load_file(str(tiny_flux["clip_l"]))
    clip["text_projection.weight"] = torch.eye(32, dtype=torch.float16)
    clip["logit_scale"] = torch.tensor(4.6)
    save_file(clip, str(folder / "clip_l.safetensors"), metadata=_meta(tiny_flux["clip_l"]))
    shutil.copy(tiny_flux["t5xxl"], folder)
    shutil.copy(tiny_flux["ae"], folder)
    state = load_file(str(tiny_flux["transformer"]))
    scaled: dict[str, torch.Tensor] = {"scaled_fp8": torch.zeros(0, dtype=torch.float8_e4m3fn)}
    for key, value in state.items():
        if value.ndim == 2:
            scale = value.float().abs().max() / 448.0
            scaled[key] = (value.float() / scale).to(torch.float8_e4m3fn)
            scaled[key[: -len(".weight")] + ".scale_weight"] = scale.reshape(1)
        else:
            scaled[key] = value
    save_file(scaled, str(folder / "flux1-dev-fp8-scaled.safetensors"), metadata=_meta(tiny_flux["transformer"]))
    found = inspect_checkpoint(folder / "flux1-dev-fp8-scaled.safetensors")
    assert found.fp8
    loaded = load_pipeline(folder / "flux1-dev-fp8-scaled.safetensors")
    assert float(np.abs(_image(loaded.pipeline) - reference).max()) <= FP8_TOLERANCE


def test_fp8_t5_is_read_and_the_full_precision_one_preferred(tiny_flux, tmp_path, reference):
    """t5xxl_fp8_e4m3fn.safetensors works; beside t5xxl_fp16 the fp16 file is taken."""
    model = _alone(tiny_flux, tmp_path, "clip_l", "ae")
    fp8 = model.parent / "t5xxl_fp8_e4m3fn.safetensors"
    state = load_file(str(tiny_flux["t5xxl"]))
    save_file({k: v.to(torch.float8_e4m3fn) if v.ndim == 2 else v for k, v in state.items()}, str(fp8),
              metadata=_meta(tiny_flux["t5xxl"]))  # fmt: skip
    loaded = load_pipeline(model)
    assert loaded.components["t5xxl"] == fp8
    assert loaded.pipeline.text_encoder_2.shared.weight.dtype == torch.float32  # upcast for compute
    assert float(np.abs(_image(loaded.pipeline) - reference).max()) <= FP8_TOLERANCE
    shutil.copy(tiny_flux["t5xxl"], model.parent)
    assert load_pipeline(model).components["t5xxl"] == model.parent / "t5xxl_fp16.safetensors"


def _meta(path: Path) -> dict[str, str]:
    from lora_studio.formats.safetensors_meta import read_header

    return read_header(path).metadata


def test_a_file_of_other_sizes_than_its_config_is_refused_in_plain_words(tiny_flux, tmp_path):
    """Without the configs our tiny files carry, a file is read with the real FLUX.1 sizes."""
    model = _alone(tiny_flux, tmp_path, "t5xxl", "ae")
    save_file(load_file(str(tiny_flux["clip_l"])), str(model.parent / "clip_l.safetensors"))  # no metadata
    with pytest.raises(ModelLoadError, match=r'"clip_l.safetensors" does not match the CLIP-L text encoder of FLUX.1'):
        load_pipeline(model)


def test_nf4_fill_and_diffusers_layout_transformer_files_get_their_own_message(tiny_flux, tmp_path):
    state = load_file(str(tiny_flux["transformer"]))
    nf4 = dict(state)
    nf4["double_blocks.0.img_attn.qkv.weight.absmax"] = torch.zeros(4)
    save_file(nf4, str(tmp_path / "flux1-dev-bnb-nf4.safetensors"))
    with pytest.raises(ModelLoadError, match="4-bit .*NF4.* FLUX.1 file"):
        inspect_checkpoint(tmp_path / "flux1-dev-bnb-nf4.safetensors")
    fill = dict(state)
    fill["img_in.weight"] = torch.zeros(state["img_in.weight"].shape[0], 384, dtype=torch.bfloat16)
    save_file(fill, str(tmp_path / "flux1-fill-dev.safetensors"))
    with pytest.raises(ModelLoadError, match="FLUX.1 tool model .*384 input channels"):
        inspect_checkpoint(tmp_path / "flux1-fill-dev.safetensors")
    transformer = load_pipeline(tiny_flux["diffusers"]).pipeline.transformer
    save_file(transformer.state_dict(), str(tmp_path / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(ModelLoadError, match="FLUX.1 transformer in diffusers layout") as info:
        inspect_checkpoint(tmp_path / "diffusion_pytorch_model.safetensors")
    assert "model_index.json" in str(info.value)


def test_family_override_cannot_turn_flux_into_sdxl(tiny_flux):
    with pytest.raises(ModelLoadError, match="is a FLUX.1 model, not SDXL"):
        load_pipeline(tiny_flux["transformer"], family="sdxl")
