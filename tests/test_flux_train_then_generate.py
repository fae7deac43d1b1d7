"""FLUX.1 end to end through the command line: the demo project trains, and LoRA Studio's own
generation reproduces the trainer's sample from the saved LoRA file."""

from __future__ import annotations

import contextlib
import io
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


@pytest.fixture(scope="module")
def demo_lora(flux_demo: Path) -> tuple[Path, str]:
    """The demo project trained for 2 steps by ``lora-studio train``: its LoRA file and what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", str(flux_demo / "training.toml"), "--max-steps", "2"]) == 0
    return flux_demo / "output" / "zorb.safetensors", out.getvalue()


def test_demo_flux_project_trains_from_the_cli(demo_lora: tuple[Path, str]) -> None:
    lora, printed = demo_lora
    assert "done:" in printed
    from safetensors import safe_open

    with safe_open(str(lora), "pt") as f:
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


def test_cli_generate_finds_the_demo_flux_components_and_refuses_it_on_sd(
    flux_demo: Path, demo_lora: tuple[Path, str], tiny_sd1_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """``lora-studio generate --model M`` with M the base model the demo's training config names, run
    in the project folder with no other flags: CLIP-L, T5-XXL and the autoencoder are found in
    models/text_encoders and models/vae (what the LoRA does to the picture is checked above). The
    trained FLUX LoRA on an SD 1.5 model gets the family message and exit code 2, no picture."""
    from lora_studio.formats.infotext import read_png_parameters

    config, _ = load_config(flux_demo / "training.toml")
    lora = demo_lora[0]
    monkeypatch.chdir(flux_demo)
    common = ["--prompt", "zorb, orange round mascot", "--size", "64x64", "--steps", "3", "--seed", "4"]
    args = ["generate", "--model", config.model.base_model, *common]
    assert main([*args, "--lora", f"{lora}:0.7", "--out", str(tmp_path / "flux")]) == 0
    (png,) = (tmp_path / "flux").glob("*.png")
    text = read_png_parameters(png) or ""
    assert "<lora:zorb:0.7>" in text and 'Lora hashes: "zorb: ' in text
    assert "CFG scale: 1, Distilled CFG Scale: 3.5, Seed: 4" in text and "Model: flux1-dev-tiny" in text
    assert Image.open(png).size == (64, 64)
    capsys.readouterr()

    sd = ["generate", "--model", str(tiny_sd1_dir), "--lora", str(lora), *common, "--out", str(tmp_path / "sd")]
    assert main(sd) == 2
    err = capsys.readouterr().err
    assert "is a FLUX.1 LoRA, but the model is SD 1.5" in err, err
    assert not list((tmp_path / "sd").glob("*.png"))
