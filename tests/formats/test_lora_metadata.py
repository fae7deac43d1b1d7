from __future__ import annotations

import json
from dataclasses import replace

import pytest

from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.formats.lora_metadata import (
    KOHYA_ALWAYS,
    LoraTrainingInfo,
    base_model_version,
    build_metadata,
    family_from_metadata,
    modelspec_architecture,
    parse_metadata,
)

INFO = LoraTrainingInfo(
    output_name="my_cat",
    family=ModelFamily.SD1,
    network_dim=16,
    network_alpha=8.0,
    network_dropout=0.1,
    learning_rate=1e-4,
    unet_lr=1e-4,
    text_encoder_lr=5e-5,
    train_text_encoder=True,
    unet_targets=("to_q", "to_k"),
    text_encoder_targets=("q_proj",),
    optimizer="AdamW8bit",
    lr_scheduler="cosine",
    lr_warmup_steps=10,
    epochs=5,
    steps=500,
    batch_size=2,
    num_train_images=20,
    num_reg_images=0,
    resolution=(512, 768),
    clip_skip=2,
    mixed_precision="fp16",
    seed=42,
    noise_offset=0.05,
    min_snr_gamma=5.0,
    shuffle_caption=True,
    keep_tokens=1,
    caption_dropout_rate=0.05,
    tag_frequency={"10_cat": {"cat": 20, "sitting": 5, "кот": 2}},
    dataset_dirs={"10_cat": {"n_repeats": 10, "img_count": 20}},
    base_model_name="v1-5-pruned.safetensors",
    base_model_hash="e1441589",
    training_started_at=1700000000.0,
    training_finished_at=1700003600.0,
    session_id="123",
    comment="hello, world",
    trigger_words=("sks cat",),
    title="my_cat",
    conv_dim=4,
    conv_alpha=1.0,
)


def test_build_metadata_values_are_strings_and_kohya_shaped():
    meta = build_metadata(INFO)
    assert all(isinstance(v, str) for v in meta.values())
    assert meta["ss_network_module"] == "networks.lora"
    assert meta["ss_network_dim"] == "16" and meta["ss_network_alpha"] == "8.0"
    assert meta["ss_base_model_version"] == "sd_v1" and meta["ss_v2"] == "False"
    assert meta["ss_resolution"] == "(512, 768)"
    assert json.loads(meta["ss_tag_frequency"]) == INFO.tag_frequency
    assert json.loads(meta["ss_dataset_dirs"])["10_cat"]["img_count"] == 20
    # sd-scripts: network args are strings (as typed after --network_args), plus the dropout it adds.
    assert json.loads(meta["ss_network_args"]) == {"conv_dim": "4", "conv_alpha": "1.0", "dropout": 0.1}
    assert meta["modelspec.sai_model_spec"] == "1.0.1"
    assert meta["modelspec.architecture"] == "stable-diffusion-v1/lora"
    assert meta["modelspec.implementation"] == "diffusers"
    assert meta["modelspec.resolution"] == "512x768"
    assert meta["modelspec.prediction_type"] == "epsilon"
    assert meta["modelspec.encoder_layer"] == "2"
    assert meta["modelspec.trigger_phrase"] == "sks cat"
    assert meta["modelspec.date"].startswith("2023-11-14T")
    assert meta["modelspec.encoder_layer"] == meta["ss_clip_skip"] == "2"
    # Every key sd-scripts always writes is there, unset ones as "None" (sd-scripts' str(None)).
    assert set(KOHYA_ALWAYS) <= set(meta)
    assert meta["ss_max_token_length"] == "None" and meta["ss_training_comment"] == "hello, world"
    assert meta["ss_full_fp16"] == "False" and meta["ss_multires_noise_iterations"] == "None"
    assert meta["ss_bucket_info"] == "null" and meta["ss_reg_dataset_dirs"] == "{}"
    assert "ss_v_parameterization" not in meta


def test_unset_clip_skip_and_options_as_sd_scripts_writes_them():
    meta = build_metadata(
        replace(INFO, clip_skip=1, noise_offset=0.0, min_snr_gamma=0.0, network_dropout=0.0, conv_dim=None)
    )
    assert meta["ss_clip_skip"] == "None" and "modelspec.encoder_layer" not in meta
    assert meta["ss_noise_offset"] == meta["ss_min_snr_gamma"] == meta["ss_network_dropout"] == "None"
    assert "ss_network_args" not in meta  # sd-scripts writes it only when network args were given
    v = build_metadata(replace(INFO, family=ModelFamily.SDXL, prediction=Prediction.V))
    assert v["ss_v_parameterization"] == "True" and v["modelspec.prediction_type"] == "v"
    assert family_from_metadata(
        {"ss_base_model_version": "sdxl_base_v1-0", "ss_v_parameterization": "True"}
    ) == (
        ModelFamily.SDXL,
        Prediction.V,
    )


def test_round_trip():
    assert parse_metadata(build_metadata(INFO)) == INFO


@pytest.mark.parametrize(
    ("family", "pred", "version", "arch"),
    [
        (ModelFamily.SD1, Prediction.EPSILON, "sd_v1", "stable-diffusion-v1/lora"),
        (ModelFamily.SD2, Prediction.EPSILON, "sd_v2", "stable-diffusion-v2-512/lora"),
        (ModelFamily.SD2, Prediction.V, "sd_v2_v", "stable-diffusion-v2-768-v/lora"),
        (ModelFamily.SDXL, Prediction.EPSILON, "sdxl_base_v1-0", "stable-diffusion-xl-v1-base/lora"),
    ],
)
def test_versions(family, pred, version, arch):
    assert base_model_version(family, pred) == version
    assert modelspec_architecture(family, pred) == arch
    info = replace(INFO, family=family, prediction=pred)
    meta = build_metadata(info)
    assert meta["ss_v2"] == str(family == ModelFamily.SD2)
    assert family_from_metadata(meta) == (family, pred)
    assert family_from_metadata({"ss_base_model_version": version})[0] == family
    parsed = parse_metadata(meta)
    assert (parsed.family, parsed.prediction) == (family, pred)
    if family == ModelFamily.SDXL:
        assert meta["modelspec.implementation"] == "https://github.com/Stability-AI/generative-models"


def test_parse_foreign_kohya_metadata():
    meta = {
        "ss_network_dim": "32",
        "ss_network_alpha": "16.0",
        "ss_v2": "False",
        "ss_text_encoder_lr": "None",
        "ss_unet_lr": "0.0001",
        "ss_resolution": "(1024,1024)",
        "ss_base_model_version": "sdxl_base_v1-0",
        "ss_tag_frequency": json.dumps({"5_x": {"a": 3, "b": "2", "c": "bad"}}),
        "ss_network_args": "not json",
        "ss_training_started_at": "2024-05-01T10:00:00",
        "ss_seed": "garbage",
        "ss_clip_skip": "None",
        "some_other_tool": "value",
    }
    info = parse_metadata(meta)
    assert info.family == ModelFamily.SDXL
    assert info.network_dim == 32 and info.network_alpha == 16.0
    assert info.train_text_encoder is False and info.unet_lr == 1e-4
    assert info.resolution == (1024, 1024)
    assert info.tag_frequency == {"5_x": {"a": 3, "b": 2}}
    assert info.network_args == {}
    assert info.seed is None and info.clip_skip is None
    assert info.training_started_at is not None
    assert info.extra == {"some_other_tool": "value"}


def test_parse_empty_and_modelspec_only():
    assert parse_metadata({}) == LoraTrainingInfo(train_text_encoder=False)
    info = parse_metadata(
        {
            "modelspec.architecture": "stable-diffusion-v2-768-v/lora",
            "modelspec.resolution": "768x768",
            "modelspec.trigger_phrase": "a, b",
            "modelspec.encoder_layer": "2",
        }
    )
    assert (info.family, info.prediction) == (ModelFamily.SD2, Prediction.V)
    assert info.resolution == (768, 768) and info.trigger_words == ("a", "b") and info.clip_skip == 2


def test_build_requires_family():
    with pytest.raises(ValueError):
        build_metadata(LoraTrainingInfo())
