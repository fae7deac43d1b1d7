"""Bundled component configs: real architecture sizes (checked on the meta device) and tokenizers."""

from __future__ import annotations

import pytest
import torch
from accelerate import init_empty_weights

from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.diffusion.configs import (
    BUNDLED_CONFIGS,
    CONFIG_VERSION,
    config_name,
    materialize_config,
)

CAT_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _meta_models(name: str) -> dict[str, torch.nn.Module]:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    root = materialize_config(name)
    with init_empty_weights():
        models = {
            "unet": UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(root / "unet")),
            "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(root / "vae")),
            "text_encoder": CLIPTextModel(CLIPTextConfig.from_pretrained(root, subfolder="text_encoder")),
        }
        if (root / "text_encoder_2").exists():
            cfg = CLIPTextConfig.from_pretrained(root, subfolder="text_encoder_2")
            models["text_encoder_2"] = CLIPTextModelWithProjection(cfg)
    return models


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        ("sd15", {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480}),
        ("sd2-v", {"unet": 865_910_724, "vae": 83_653_863, "text_encoder": 340_387_840}),
        (
            "sdxl-base",
            {
                "unet": 2_567_463_684,
                "vae": 83_653_863,
                "text_encoder": 123_060_480,
                "text_encoder_2": 694_659_840,
            },
        ),
    ],
)
def test_parameter_counts_match_the_real_models(name, counts):
    models = _meta_models(name)
    assert {part: _count(model) for part, model in models.items()} == counts


def test_config_names_and_prediction():
    assert config_name(ModelFamily.SD1) == "sd15"
    assert config_name("sd2", Prediction.V) == "sd2-v"
    assert config_name("sd2", "epsilon") == "sd2"
    assert config_name("sdxl") == "sdxl-base"
    import json

    sched = json.loads((materialize_config("sd2-v") / "scheduler" / "scheduler_config.json").read_text())
    assert sched["prediction_type"] == "v_prediction"


def test_materialized_folder_is_complete_idempotent_and_versioned():
    root = materialize_config("sdxl-base")
    assert root.name == f"sdxl-base-v{CONFIG_VERSION}"
    for part in ("tokenizer", "tokenizer_2"):
        assert {"vocab.json", "merges.txt", "tokenizer_config.json"} <= {
            p.name for p in (root / part).iterdir()
        }
    stamp = (root / "model_index.json").stat().st_mtime_ns
    assert materialize_config("sdxl-base") == root
    assert (root / "model_index.json").stat().st_mtime_ns == stamp
    assert set(BUNDLED_CONFIGS) == {"sd15", "sd2", "sd2-v", "sdxl-base", "flux-dev", "flux-schnell"}


@pytest.mark.parametrize(
    ("name", "folder", "pad_id"),
    [
        ("sd15", "tokenizer", 49407),
        ("sd2", "tokenizer", 0),
        ("sdxl-base", "tokenizer", 49407),
        ("sdxl-base", "tokenizer_2", 0),
    ],
)
def test_tokenizers(name, folder, pad_id):
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(
        str(materialize_config(name)), subfolder=folder, local_files_only=True
    )
    assert tok("a photo of a cat").input_ids == CAT_IDS
    padded = tok("a cat", padding="max_length", max_length=tok.model_max_length).input_ids
    assert len(padded) == 77 and padded[-1] == pad_id
