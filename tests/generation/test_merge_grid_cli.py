"""Merging (LoRA+LoRA, LoRA into checkpoint) against stacking, grids, and the command line."""

from __future__ import annotations

import numpy as np
import pytest

from lora_studio.generation.request import LoraSpec
from tests.generation.conftest import image_array

WEIGHTS = (0.7, -0.5)


@pytest.fixture()
def stacked(lora_dir):
    return (
        LoraSpec(str(lora_dir / "a.safetensors"), WEIGHTS[0]),
        LoraSpec(str(lora_dir / "b.safetensors"), WEIGHTS[1]),
    )


def test_merged_lora_equals_stacking(engine, base_request, stacked, tmp_path):
    from lora_studio.generation.merge import merge_lora_files

    stack_img = image_array(engine.generate(base_request.with_(loras=stacked, fuse_loras=False)).paths[0])
    report = merge_lora_files(stacked, tmp_path / "merged.safetensors", dtype=__import__("torch").float32)
    assert report.mode == "concat" and report.min_energy_kept == 1.0
    merged = image_array(engine.generate(base_request.with_(loras=(LoraSpec(str(report.path)),))).paths[0])
    assert np.abs(merged - stack_img).max() <= 2
    svd = merge_lora_files(stacked, tmp_path / "svd.safetensors", rank=8)  # 4 + 4: no information lost
    assert svd.min_energy_kept > 0.999
    svd_img = image_array(engine.generate(base_request.with_(loras=(LoraSpec(str(svd.path)),))).paths[0])
    assert np.abs(svd_img - stack_img).mean() < 1.0


def test_baked_checkpoint_equals_stacking(engine, base_request, stacked, tmp_path):
    from lora_studio.generation.merge import bake_loras

    stack_img = image_array(engine.generate(base_request.with_(loras=stacked)).paths[0])
    baked = bake_loras(base_request.model, stacked, tmp_path / "baked", dtype=None)
    baked_img = image_array(engine.generate(base_request.with_(model=str(baked))).paths[0])
    assert np.abs(baked_img - stack_img).max() <= 2


def test_baked_single_file_checkpoint(engine, base_request, stacked, tmp_path):
    from lora_studio.generation.merge import bake_loras

    stack_img = image_array(engine.generate(base_request.with_(loras=stacked)).paths[0])
    out = bake_loras(base_request.model, stacked, tmp_path / "baked.safetensors", dtype=None)
    baked_img = image_array(engine.generate(base_request.with_(model=str(out))).paths[0])
    assert np.abs(baked_img - stack_img).max() <= 2


def test_grid_over_lora_files_and_weights(engine, base_request, lora_dir, tmp_path):
    from PIL import Image

    from lora_studio.generation.grid import GridAxis, run_grid

    files = (str(lora_dir / "a.safetensors"), str(lora_dir / "b.safetensors"))
    res = run_grid(
        engine,
        base_request.with_(steps=1),
        GridAxis("lora", files),
        GridAxis("weight", (0.0, 0.5, 1.0)),
        out_dir=tmp_path,
    )
    assert res.cells == 6 and len(res.image_paths) == 6 and len(res.grid_paths) == 1
    with Image.open(res.grid_paths[0]) as grid:
        assert grid.width >= 2 * 64 and grid.height >= 3 * 64
    # weight 0 cells are the base image whichever file is in the slot
    assert np.array_equal(image_array(res.image_paths[0]), image_array(res.image_paths[1]))


def test_cli_generate_grid_info_merge(tiny_sd1_dir, lora_dir, tmp_path, capsys):
    from lora_studio.cli.main import main

    common = [
        "--model",
        str(tiny_sd1_dir),
        "--prompt",
        "a cat",
        "--steps",
        "1",
        "--seed",
        "3",
        "--size",
        "64x64",
    ]
    assert (
        main(
            ["generate", *common, "--lora", f"{lora_dir / 'a.safetensors'}:0.5", "--out", str(tmp_path / "g")]
        )
        == 0
    )
    assert len(list((tmp_path / "g").glob("*.png"))) == 1
    assert main(["grid", *common, "--x", "seed", "1", "2", "--out", str(tmp_path / "grid")]) == 0
    assert (tmp_path / "grid" / "grid.png").exists()
    assert main(["lora", "info", str(lora_dir / "a.safetensors")]) == 0
    assert "kohya" in capsys.readouterr().out
    out = tmp_path / "m.safetensors"
    assert (
        main(
            [
                "lora",
                "merge",
                "--lora",
                f"{lora_dir / 'a.safetensors'}:0.5",
                "--lora",
                f"{lora_dir / 'b.safetensors'}:0.5",
                "--rank",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.exists()
    assert main(["generate", *common, "--prompt", "x <lora:nope:1>", "--out", str(tmp_path / "e")]) == 2


def test_cli_prompt_tag_per_part_weights_reach_the_engine(engine, tiny_sd1_dir, lora_dir, tmp_path):
    """``te=``/``unet=`` typed in a prompt tag reach the engine through ``lora-studio generate``."""
    from lora_studio.cli.main import main
    from lora_studio.formats.infotext import read_png_parameters
    from lora_studio.generation.request import GenerationRequest

    def cli(tag: str, out: str) -> np.ndarray:
        args = ["generate", "--model", str(tiny_sd1_dir), "--prompt", f"a cat {tag}", "--steps", "2"]
        args += ["--seed", "5", "--size", "64x64", "--lora-dir", str(lora_dir), "--out", str(tmp_path / out)]
        assert main(args) == 0
        (png,) = (tmp_path / out).glob("*.png")
        assert tag in (read_png_parameters(png) or "")  # written back as typed
        return image_array(png)

    unet_only = cli("<lora:a:0.9:te=0>", "unet-only")
    te_only = cli("<lora:a:0.9:unet=0>", "te-only")
    direct = GenerationRequest(
        model=str(tiny_sd1_dir), prompt="a cat", steps=2, seed=5, width=64, height=64,
        loras=(LoraSpec(str(lora_dir / "a.safetensors"), 0.9, te_weight=0.0),), output_dir=str(tmp_path / "direct"),
    )  # fmt: skip
    assert np.abs(image_array(engine.generate(direct).paths[0]) - unet_only).max() <= 1
    assert np.abs(unet_only - te_only).max() > 1  # the two parts really differ
