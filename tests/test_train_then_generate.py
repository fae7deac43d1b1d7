"""End to end, for each model family's demo project (``lora-studio demo create --family …``): a LoCon
with text-encoder layers trained on it loads in the generation engine and reproduces the trainer's
own sample picture (same prompt, seed, steps, CFG, sampler); diffusers' ``load_lora_weights`` alone
injects every module of the file; A1111's metadata view reads the file's metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from lora_studio.cli.main import main as cli_main
from lora_studio.demo import IMAGE_COUNT, REPEATS, TRAIN_CONFIG, model_file
from tests.a1111_rules import a1111_view

FAMILIES = [
    pytest.param("sd1", id="sd1"),
    pytest.param("sd2", id="sd2", marks=pytest.mark.slow),
    pytest.param("sdxl", id="sdxl", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("family", FAMILIES)
def test_trained_lora_reproduces_the_trainers_sample_in_the_generation_engine(tmp_path, family, capsys):
    from lora_studio.generation.engine import GenerationEngine
    from lora_studio.generation.request import GenerationRequest, LoraSpec
    from lora_studio.training.config import NetworkTarget, SamplePrompt, load_config, resolve_paths, update
    from lora_studio.training.trainer import run_training

    root = tmp_path / "demo"
    assert cli_main(["demo", "create", "--family", family, str(root)]) == 0
    capsys.readouterr()
    config, _ = load_config(root / TRAIN_CONFIG)
    assert config.model.base_model == model_file(family)
    prompt = SamplePrompt(prompt="zorb, orange round mascot, waving, beach", seed=7, steps=4, cfg=5.0)
    config = update(
        resolve_paths(config, root),
        **{
            "run.max_steps": 6,
            "run.save_precision": config.run.precision,  # compare like with like: fp32 file
            "network.target": NetworkTarget.ATTENTION_FF_CONV,
            "network.conv_rank": 2,
            "network.conv_alpha": 1.0,
            "network.train_text_encoder": True,
            "sample.prompts": (prompt,),
            "sample.every_n_epochs": 0,
            "sample.every_n_steps": 6,
        },
    )
    result = run_training(config)
    assert result.final_lora is not None and result.samples, "training wrote no LoRA or sample"
    trainer_sample = np.asarray(Image.open(result.samples[-1]).convert("RGB"), dtype=np.int16)

    request = GenerationRequest(
        model=str(root / model_file(family)),
        prompt=prompt.prompt,
        loras=(LoraSpec(str(result.final_lora), 1.0),),
        sampler="Euler",
        steps=prompt.steps,
        cfg=prompt.cfg,
        seed=prompt.seed,
        width=64,
        height=64,
        output_dir=str(tmp_path / "out"),
    )
    engine = GenerationEngine()
    with_lora = np.asarray(Image.open(engine.generate(request).paths[0]).convert("RGB"), dtype=np.int16)
    without = np.asarray(
        Image.open(engine.generate(request.with_(loras=())).paths[0]).convert("RGB"), dtype=np.int16
    )
    diff_to_sample = np.abs(with_lora - trainer_sample)
    assert diff_to_sample.max() <= 3, (
        f"engine differs from the trainer's sample by {diff_to_sample.max()} levels"
    )
    # ...and the LoRA really does something, so the match above is not trivial.
    assert np.abs(without - trainer_sample).mean() > 2 * max(diff_to_sample.mean(), 0.1)

    _check_diffusers_injects_every_module(root, result.final_lora, family)
    _check_a1111_reads_the_metadata(result.final_lora, family)
    _check_lora_info(result.final_lora, family, capsys)


def _check_diffusers_injects_every_module(root, lora_path, family) -> None:
    """What other diffusers-based tools see: ``load_lora_weights`` with nothing of ours in between."""
    from safetensors import safe_open

    from lora_studio.diffusion.loading import load_pipeline
    from lora_studio.generation.loras import count_injected

    with safe_open(str(lora_path), "pt") as fh:
        names = {k.split(".")[0] for k in fh.keys()}
    if family == "sdxl":  # kohya's SDXL names: the original layout's blocks
        unet = [n for n in names if n.startswith("lora_unet_")]
        assert unet and all(n.startswith(("lora_unet_input_blocks_", "lora_unet_middle_block_", "lora_unet_output_blocks_")) for n in unet)  # fmt: skip
    assert any(n.endswith(("_in_layers_2", "_conv1")) for n in names), "no conv layer was trained"
    pipe = load_pipeline(root / "models" / "diffusers").pipeline
    pipe.load_lora_weights(str(lora_path), adapter_name="other_tool")
    comps = ("unet", "text_encoder") + (("text_encoder_2",) if family == "sdxl" else ())
    assert count_injected(pipe, "other_tool", comps) == len(names)


def _check_a1111_reads_the_metadata(lora_path, family) -> None:
    from lora_studio.formats.safetensors_meta import read_header

    meta = read_header(lora_path).metadata
    view = a1111_view(meta)
    rows = view["rows"]
    assert view["sd_version"] == {"sd1": "SD1", "sd2": "SD2", "sdxl": "SDXL"}[family]
    assert rows["Output name"] == "zorb" and rows["Model"] == f"tiny-{family}.safetensors"
    assert rows["Kohya module"] == "networks.lora" and "Clip skip" not in rows  # clip skip unset
    # Every picture at its repeats, in the buckets the pictures went to (128x128 pictures, 64 px training).
    assert rows["Resolutions"] == {"64x64": IMAGE_COUNT * REPEATS}
    assert rows["Dataset size"] == IMAGE_COUNT
    tag_names = [t for t, _ in view["tags"]]
    assert "zorb" in tag_names and all(t == t.lower() for t in tag_names)
    assert json.loads(meta["ss_network_args"]) == {"conv_dim": "2", "conv_alpha": "1.0", "dropout": None}
    assert meta["ss_optimizer"].startswith("torch.optim.adamw.AdamW(")
    assert meta["ss_clip_skip"] == "None" and "modelspec.encoder_layer" not in meta


def _check_lora_info(lora_path, family, capsys) -> None:
    assert cli_main(["lora", "info", str(lora_path)]) == 0
    out = capsys.readouterr().out
    assert {"sd1": "SD 1.5", "sd2": "SD 2", "sdxl": "SDXL"}[family] in out
    (conv_line,) = [line for line in out.splitlines() if line.startswith("Conv rank / alpha")]
    assert conv_line.split()[-3:] == ["2", "/", "1.0"]
