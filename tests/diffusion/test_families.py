"""Checkpoint detection from the safetensors header alone, and every way a file can be refused."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from lora_studio.core.errors import ModelLoadError
from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.diffusion.families import detect_model, inspect_checkpoint
from lora_studio.formats.safetensors_meta import read_header

U = "model.diffusion_model."
T = torch.zeros(1)
VAE = {"first_stage_model.encoder.conv_in.weight": T, "first_stage_model.decoder.conv_in.weight": T}
UNET = {U + "input_blocks.0.0.weight": torch.zeros(2, 4, 1, 1), U + "out.2.weight": T}
SD1 = {**UNET, **VAE, "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": T}
SD2 = {**UNET, **VAE, "cond_stage_model.model.token_embedding.weight": T}
SDXL = {
    **UNET,
    **VAE,
    "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight": T,
    "conditioner.embedders.1.model.positional_embedding": T,
}


def write(
    tmp_path: Path, tensors: dict, name: str = "model.safetensors", metadata: dict | None = None
) -> Path:
    path = tmp_path / name
    save_file({k: v.clone() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize(
    ("tensors", "family", "prediction"),
    [
        (SD1, ModelFamily.SD1, Prediction.EPSILON),
        (SD2, ModelFamily.SD2, Prediction.V),
        (SDXL, ModelFamily.SDXL, Prediction.EPSILON),
    ],
)
def test_family_from_key_prefixes(tmp_path, tensors, family, prediction):
    found = detect_model(write(tmp_path, tensors))
    assert (found.family, found.prediction, found.is_inpainting) == (family, prediction, False)
    assert found.has_vae and found.has_text_encoder
    assert found.prediction_guessed


def test_prediction_and_title_from_metadata(tmp_path):
    meta = {"modelspec.prediction_type": "epsilon", "modelspec.title": "My SD2 base"}
    found = inspect_checkpoint(write(tmp_path, SD2, metadata=meta))
    assert found.prediction == Prediction.EPSILON and not found.prediction_guessed
    assert found.title == "My SD2 base" and found.size_bytes > 0
    assert detect_model(write(tmp_path, {**SDXL, "v_pred": T}, "vp.safetensors")).prediction == Prediction.V
    kohya = write(tmp_path, SD1, "k.safetensors", {"ss_v_parameterization": "True"})
    assert detect_model(kohya).prediction == Prediction.V


def test_inpainting_and_missing_parts(tmp_path):
    inpaint = {**SD1, U + "input_blocks.0.0.weight": torch.zeros(2, 9, 1, 1)}
    assert detect_model(write(tmp_path, inpaint)).is_inpainting
    no_vae = {k: v for k, v in SD1.items() if not k.startswith("first_stage_model.")}
    assert not detect_model(write(tmp_path, no_vae, "novae.safetensors")).has_vae


def test_header_is_read_without_tensor_data(tmp_path):
    path = write(tmp_path, {**SD1, U + "big": torch.zeros(64, 64)})
    header = read_header(path)
    assert (header.tensors[U + "big"].dtype, header.tensors[U + "big"].shape) == ("F32", (64, 64))


def _assert_refused(path: Path, *words: str) -> ModelLoadError:
    with pytest.raises(ModelLoadError) as info:
        detect_model(path)
    err = info.value
    assert path.name in err.message, err.message
    assert err.hint, "every refusal says what to do next"
    for word in words:
        assert word.lower() in str(err).lower(), str(err)
    return err


@pytest.mark.parametrize(
    ("tensors", "word"),
    [
        ({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": T}, "LoRA"),
        ({"lora_te1_text_model_encoder_layers_0_mlp_fc1.alpha": T}, "LoRA"),
        ({"unet.down_blocks.0.attentions.0.to_q.lora_A.weight": T}, "LoRA"),
        ({"encoder.conv_in.weight": T, "decoder.conv_in.weight": T}, "VAE"),
        ({**UNET, **VAE, "conditioner.embedders.0.model.text_projection": T}, "refiner"),
        ({U + "joint_blocks.0.x_block.attn.qkv.weight": T}, "SD3"),
        ({"double_blocks.0.img_attn.norm.key_norm.scale": T}, "incomplete FLUX.1"),
        ({"double_blocks.0.processor.qkv_lora1.down.weight": T}, "LoRA"),
        ({U + "double_blocks.0.img_attn.qkv.weight": T}, "incomplete FLUX.1"),
        ({"down_blocks.0.resnets.0.conv1.weight": T}, "part"),
        ({"emb_params": T}, "embedding"),
        ({"control_model.input_blocks.0.0.weight": T}, "ControlNet"),
        ({"something.else": T}, "not a Stable Diffusion"),
    ],
)
def test_non_base_files_are_refused(tmp_path, tensors, word):
    _assert_refused(write(tmp_path, tensors), word)


def test_broken_files_are_refused(tmp_path):
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    _assert_refused(empty, "empty")

    good = write(tmp_path, {**SD1, U + "big": torch.zeros(256)})
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-100])
    _assert_refused(cut, "cut off")
    cut_header = tmp_path / "cuthead.safetensors"
    cut_header.write_bytes(good.read_bytes()[:40])
    _assert_refused(cut_header, "cut off")

    not_json = tmp_path / "notjson.safetensors"
    not_json.write_bytes(struct.pack("<Q", 10) + b"{not json}" + b"\0" * 16)
    _assert_refused(not_json, "damaged")

    html = tmp_path / "page.safetensors"  # a saved web page instead of the model
    html.write_bytes(b"<!DOCTYPE html><html><body>Sign in</body></html>")
    _assert_refused(html, "not a .safetensors")

    wrong_table = tmp_path / "table.safetensors"
    blob = json.dumps({"a": {"dtype": "F32"}}).encode()
    wrong_table.write_bytes(struct.pack("<Q", len(blob)) + blob)
    _assert_refused(wrong_table, "damaged")

    _assert_refused(tmp_path / "missing.safetensors", "not found")


def test_pickle_checkpoints_are_never_unpickled(tmp_path):
    ckpt = tmp_path / "model.ckpt"
    torch.save({"state_dict": {}}, ckpt)
    _assert_refused(ckpt, "safetensors")
    renamed = tmp_path / "renamed.safetensors"  # a torch zip file with the wrong extension
    with zipfile.ZipFile(renamed, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    _assert_refused(renamed, "pickle")
    old_pickle = tmp_path / "old.safetensors"
    old_pickle.write_bytes(b"\x80\x02}q\x00." + b"\0" * 20)
    _assert_refused(old_pickle, "pickle")


def test_light_modules_do_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, lora_studio.diffusion.families, lora_studio.diffusion.configs\n"
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_diffusers_folders_from_json_only(tmp_path):
    def folder(name: str, index: dict, te: dict | None = None, pred: str = "epsilon") -> Path:
        root = tmp_path / name
        (root / "scheduler").mkdir(parents=True)
        (root / "model_index.json").write_text(json.dumps(index))
        (root / "scheduler" / "scheduler_config.json").write_text(json.dumps({"prediction_type": pred}))
        if te:
            (root / "text_encoder").mkdir()
            (root / "text_encoder" / "config.json").write_text(json.dumps(te))
        return root

    sd = {"_class_name": "StableDiffusionPipeline", "text_encoder": ["transformers", "CLIPTextModel"]}
    found = inspect_checkpoint(folder("sd2", sd, {"hidden_size": 1024}, "v_prediction"))
    assert (found.family, found.prediction) == (ModelFamily.SD2, Prediction.V)
    assert inspect_checkpoint(folder("sd1", sd, {"hidden_size": 768})).family == ModelFamily.SD1
    xl = {
        "_class_name": "StableDiffusionXLPipeline",
        "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
    }
    assert inspect_checkpoint(folder("xl", xl)).family == ModelFamily.SDXL
    refiner = {**xl, "text_encoder": [None, None]}
    for root, word in (
        (folder("refiner", refiner), "refiner"),
        (folder("flux", {"_class_name": "FluxPipeline"}), "FLUX.1 folder without its transformer"),
        (folder("sd3", {"_class_name": "StableDiffusion3Pipeline"}), "StableDiffusion3Pipeline"),
        (tmp_path, "model_index.json"),
    ):
        with pytest.raises(ModelLoadError) as info:
            inspect_checkpoint(root)
        assert word.lower() in str(info.value).lower() and root.name in info.value.message
