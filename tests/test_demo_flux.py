"""``lora-studio demo create --family flux``: a FLUX.1 demo project in the layout users have."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lora_studio.cli.main import main as cli_main
from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.core.serialization import load_toml
from lora_studio.dataset.io import load_dataset
from lora_studio.demo import CONCEPT, IMAGE_COUNT, TRAIN_CONFIG, TRIGGER, demo_train_config, model_file


@pytest.fixture(scope="module")
def flux_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("flux-demo") / "FLUX demo"
    assert cli_main(["demo", "create", "--family", "flux", str(root)]) == 0
    return root


def test_flux_demo_layout_and_config(flux_demo, capsys):
    from lora_studio.training.config import SCHEMA_VERSION, TrainConfig

    models = flux_demo / "models"
    assert sorted(p.relative_to(models).as_posix() for p in models.rglob("*") if p.is_file()) == [
        "checkpoints/flux1-dev-tiny.safetensors",
        "text_encoders/clip_l.safetensors",
        "text_encoders/t5xxl_fp16.safetensors",
        "vae/ae.safetensors",
    ]
    config, unknown = load_toml(TrainConfig, flux_demo / TRAIN_CONFIG, current_version=SCHEMA_VERSION)
    assert unknown == []
    assert config.model.base_model == model_file("flux") == "models/checkpoints/flux1-dev-tiny.safetensors"
    assert config.dataset.resolution == 64 and config.dataset.trigger_word == TRIGGER
    (concept,) = load_dataset(flux_demo).concepts
    assert concept.name == CONCEPT and len(concept.items) == IMAGE_COUNT
    # the samples take FLUX.1-dev's distilled guidance ("Distilled CFG"), not a CFG scale
    assert [(p.cfg, p.guidance) for p in config.sample.prompts] == [(1.0, 3.5), (1.0, 3.5)]
    assert [p.cfg for p in demo_train_config().sample.prompts] == [5.0, 5.0]  # SD demos: CFG


def test_flux_demo_model_loads_with_its_components_found(flux_demo):
    from lora_studio.diffusion.families import inspect_checkpoint
    from lora_studio.diffusion.loading import load_pipeline

    model = flux_demo / model_file("flux")
    detected = inspect_checkpoint(model)
    assert (detected.family, detected.variant, detected.missing_parts) == (
        ModelFamily.FLUX, "dev", ("clip_l", "t5xxl", "ae")
    )  # fmt: skip
    loaded = load_pipeline(model)
    assert (loaded.family, loaded.prediction, loaded.variant) == (ModelFamily.FLUX, Prediction.FLOW, "dev")
    assert loaded.components["t5xxl"] == flux_demo / "models" / "text_encoders" / "t5xxl_fp16.safetensors"
    assert loaded.components["ae"] == flux_demo / "models" / "vae" / "ae.safetensors"
    image = loaded.pipeline(
        f"{TRIGGER}, orange round mascot",
        height=64,
        width=64,
        num_inference_steps=2,
        guidance_scale=3.5,
        generator=torch.Generator().manual_seed(3),
        output_type="np",
        max_sequence_length=64,
    ).images[0]
    assert image.shape == (64, 64, 3) and np.isfinite(image).all() and image.std() > 0.01


def test_flux_demo_project_lists_only_the_flux_model(flux_demo):
    from lora_studio.generation.model_library import scan_library

    library = scan_library([], [], project_root=flux_demo)
    assert [(m.path, m.family) for m in library.models] == [(flux_demo / model_file("flux"), ModelFamily.FLUX)]
