"""load_pipeline: single files and diffusers folders give the same model, offline, with plain errors."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from lora_studio.core.errors import ModelLoadError
from lora_studio.core.events import StatusChanged
from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.diffusion.loading import load_pipeline


def _image(pipeline) -> np.ndarray:
    out = pipeline(
        "a photo of a cat",
        num_inference_steps=2,
        height=64,
        width=64,
        guidance_scale=5.0,
        generator=torch.Generator("cpu").manual_seed(7),
        output_type="np",
    )
    return out.images[0]


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_single_file_and_folder_give_the_same_image(tiny_models, family):
    events = []
    single = load_pipeline(tiny_models[family]["single_file"], reporter=events.append)
    folder = load_pipeline(tiny_models[family]["diffusers"])
    assert (single.kind, folder.kind) == ("single_file", "diffusers")
    assert single.family == folder.family == ModelFamily(family)
    assert single.prediction == folder.prediction == Prediction.EPSILON
    assert any(isinstance(e, StatusChanged) for e in events)
    a, b = _image(single.pipeline), _image(folder.pipeline)
    assert a.shape == (64, 64, 3)
    assert np.abs(a - b).max() < 1e-5


def test_no_network_is_ever_touched(tiny_models, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    import diffusers.loaders.single_file as single_file
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    monkeypatch.setattr(single_file, "snapshot_download", refuse)
    for family in ("sd1", "sdxl"):
        for kind in ("single_file", "diffusers"):
            assert load_pipeline(tiny_models[family][kind]).pipeline is not None


def test_prediction_override_sets_the_scheduler(tiny_models):
    loaded = load_pipeline(tiny_models["sd1"]["single_file"], prediction="v_prediction")
    assert loaded.prediction == Prediction.V
    assert loaded.pipeline.scheduler.config.prediction_type == "v_prediction"


def test_tiny_sd2_folder_is_recognised(tmp_path):
    from lora_studio.diffusion.tiny import save_tiny_diffusers

    folder = save_tiny_diffusers("sd2", tmp_path / "sd2")
    assert load_pipeline(folder).family == ModelFamily.SD2


def _refused(path, *words: str) -> ModelLoadError:
    with pytest.raises(ModelLoadError) as info:
        load_pipeline(path)
    text = str(info.value).lower()
    assert info.value.hint
    for word in words:
        assert word.lower() in text, text
    return info.value


def test_failures_are_model_load_errors(tmp_path, tiny_models):
    lora = tmp_path / "style.safetensors"
    save_file({"lora_unet_mid_block_attentions_0_proj_in.lora_down.weight": torch.zeros(2, 2)}, str(lora))
    _refused(lora, "lora")
    _refused(tmp_path / "nothing-here.safetensors", "not found")
    (tmp_path / "empty_folder").mkdir()
    _refused(tmp_path / "empty_folder", "model_index.json")

    # A checkpoint whose weights do not fit its description: diffusers' error becomes ours.
    wrong = tmp_path / "wrong.safetensors"
    src = tiny_models["sd1"]["single_file"]
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        meta = fh.metadata()
    tensors["model.diffusion_model.out.2.weight"] = torch.zeros(4, 7, 3, 3)
    save_file(tensors, str(wrong), metadata=meta)
    err = _refused(wrong, "could not be loaded")
    assert "wrong.safetensors" in err.message and err.details

    # Weights missing from the file would stay empty placeholders: refused, not half-loaded.
    partial = tmp_path / "partial.safetensors"
    del tensors["model.diffusion_model.out.2.weight"]
    save_file(tensors, str(partial), metadata=meta)
    _refused(partial, "partial.safetensors", "missing")


def test_inpainting_is_refused_plainly(tmp_path):
    u = "model.diffusion_model."
    path = tmp_path / "inpaint.safetensors"
    save_file(
        {
            u + "input_blocks.0.0.weight": torch.zeros(2, 9, 1, 1),
            u + "out.2.weight": torch.zeros(1),
            "first_stage_model.encoder.conv_in.weight": torch.zeros(1),
            "cond_stage_model.transformer.text_model.x": torch.zeros(1),
        },
        str(path),
    )
    _refused(path, "inpainting")
