"""The demo project: complete, loadable from both model layouts, and the same model in each."""

from __future__ import annotations

import numpy as np
import pytest

from lora_studio.cli.main import main as cli_main
from lora_studio.core.errors import LoraStudioError
from lora_studio.core.serialization import load_toml
from lora_studio.dataset.io import load_dataset
from lora_studio.demo import CONCEPT, IMAGE_COUNT, MODEL_FILE, REPEATS, TRAIN_CONFIG, TRIGGER


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "Demo project"
    assert cli_main(["demo", "create", str(root)]) == 0
    return root


def test_demo_project_has_dataset_model_and_config(demo_dir):
    from lora_studio.training.config import SCHEMA_VERSION, TrainConfig

    dataset = load_dataset(demo_dir)
    (concept,) = dataset.concepts
    assert concept.name == CONCEPT and concept.repeats == REPEATS and concept.trigger == TRIGGER
    assert len(concept.items) == IMAGE_COUNT
    assert all(item.caption.startswith(f"{TRIGGER}, ") for item in concept.items)
    assert len({item.caption for item in concept.items}) > 4  # captions describe different scenes
    config, unknown = load_toml(TrainConfig, demo_dir / TRAIN_CONFIG, current_version=SCHEMA_VERSION)
    assert unknown == []
    assert (demo_dir / config.model.base_model).is_file()
    assert config.dataset.trigger_word == TRIGGER


def test_demo_model_loads_from_single_file_and_folder_with_same_output(demo_dir):
    import torch

    from lora_studio.diffusion.loading import load_pipeline

    outputs = []
    for source in (demo_dir / MODEL_FILE, demo_dir / "models" / "diffusers"):
        loaded = load_pipeline(source)
        image = loaded.pipeline(
            "zorb, orange round mascot",
            num_inference_steps=2,
            height=64,
            width=64,
            generator=torch.Generator().manual_seed(3),
            output_type="np",
        ).images[0]
        outputs.append(image)
    assert outputs[0].shape == (64, 64, 3)
    assert np.abs(outputs[0] - outputs[1]).max() < 1e-5


def test_demo_refuses_a_folder_with_files(tmp_path):
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    from lora_studio.demo import create_demo_project

    with pytest.raises(LoraStudioError, match="not empty"):
        create_demo_project(tmp_path)
    assert (tmp_path / "keep.txt").read_text(encoding="utf-8") == "mine"
