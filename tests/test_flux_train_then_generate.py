"""FLUX.1 end to end through the command line: the demo project trains, and LoRA Studio's own
generation reproduces the trainer's sample from the saved LoRA file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lora_studio.cli.main import main
from lora_studio.training.config import SamplePrompt, load_config, save_config, update


@pytest.fixture(scope="module")
def flux_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "flux-demo"
    assert main(["demo", "create", "--family", "flux", str(root)]) == 0
    return root


def test_demo_flux_project_trains_from_the_cli(flux_demo: Path, capsys) -> None:
    assert main(["train", str(flux_demo / "training.toml"), "--max-steps", "2"]) == 0
    assert "done:" in capsys.readouterr().out
    from safetensors import safe_open

    with safe_open(str(flux_demo / "output" / "zorb.safetensors"), "pt") as f:
        keys = {k.split(".")[0] for k in f.keys()}
        meta = f.metadata()
    assert "lora_unet_double_blocks_0_img_attn_qkv" in keys and "lora_unet_single_blocks_0_linear1" in keys
    assert meta["ss_base_model_version"] == "flux1"


def test_our_generation_reproduces_the_trainers_flux_sample(flux_demo: Path, tmp_path: Path) -> None:
    from lora_studio.generation.engine import GenerationEngine
    from lora_studio.generation.request import GenerationRequest, LoraSpec

    config, _ = load_config(flux_demo / "training.toml")
    prompt = SamplePrompt(prompt="zorb, orange round mascot, waving, beach", seed=5, steps=4, guidance=3.5)
    config = update(
        config,
        **{
            "run.output_dir": str(tmp_path / "out"),
            "run.save_precision": "fp32",  # the file holds exactly the weights the sample used
            "run.max_steps": 3,
            "optimizer.learning_rate": 1e-2,
            "network.train_text_encoder": True,
            "sample.prompts": (prompt,),
            "sample.every_n_steps": 3,
            "sample.every_n_epochs": 0,
        },
    )
    save_config(config, flux_demo / "repro.toml")
    assert main(["train", str(flux_demo / "repro.toml")]) == 0
    lora = tmp_path / "out" / "zorb.safetensors"
    sample = next((tmp_path / "out" / "samples").glob("*.png"))
    engine = GenerationEngine(device="cpu", dtype=torch.float32)
    request = GenerationRequest(
        model=str(flux_demo / config.model.base_model),
        prompt=prompt.prompt,
        loras=(LoraSpec(str(lora), 1.0),),
        steps=prompt.steps,
        seed=prompt.seed,
        width=64,
        height=64,
        distilled_cfg=prompt.guidance,
        sampler="Euler",
        schedule="Simple",
        cfg=1.0,
        output_dir=str(tmp_path / "gen"),
    )
    result = engine.generate(request)
    ours = np.asarray(Image.open(result.paths[0]).convert("RGB"), dtype=np.int16)
    trained = np.asarray(Image.open(sample).convert("RGB"), dtype=np.int16)
    assert np.abs(ours - trained).max() <= 2, np.abs(ours - trained).max()
    plain = engine.generate(request.with_(loras=(LoraSpec(str(lora), 0.0),), output_dir=str(tmp_path / "g0")))
    base = np.asarray(Image.open(plain.paths[0]).convert("RGB"), dtype=np.int16)
    assert np.abs(base - trained).max() > 4  # the LoRA made the difference
