"""Hires fix: the target size, latent and image upscalers, A1111 infotext fields, cancel between passes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from lora_studio.core.control import RunControl
from lora_studio.core.errors import Cancelled
from lora_studio.core.events import StatusChanged
from lora_studio.formats.infotext import parse_infotext
from lora_studio.generation.hires import HiresFix, hires_from_infotext
from lora_studio.generation.metadata import request_from_infotext
from tests.generation.conftest import image_array


def test_target_size_and_validation():
    assert HiresFix(scale=2).target_size(64, 48) == (128, 96)
    assert HiresFix(scale=1.5).target_size(64, 64) == (96, 96)
    assert HiresFix(resize_width=100).target_size(64, 32) == (96, 48)  # multiples of 8, aspect kept
    assert HiresFix(resize_width=128, resize_height=64).target_size(64, 64) == (128, 64)
    problems = HiresFix(scale=0.5, denoise=0, upscaler="4x-UltraSharp").validate()
    assert len(problems) == 3 and any("upscaler" in p for p in problems)


@pytest.mark.parametrize("upscaler", ["Latent", "Lanczos"])
def test_output_has_target_size_and_infotext_round_trips(engine, base_request, lora_dir, upscaler):
    hires = HiresFix(scale=1.5, steps=2, denoise=0.6, upscaler=upscaler)
    request = replace(base_request, hires=hires, batch_size=2)
    result = engine.generate(request)
    for path in result.paths:
        with Image.open(path) as im:
            assert im.size == (96, 96)
    info = parse_infotext(result.infotexts[0])
    assert (info.width, info.height) == (64, 64)  # A1111: Size is the first pass's
    assert info.denoising_strength == 0.6
    assert info.extra["Hires upscale"] == "1.5"
    assert info.extra["Hires steps"] == "2"
    assert info.extra["Hires upscaler"] == upscaler
    rebuilt = request_from_infotext(result.infotexts[0], [lora_dir], base=base_request).request
    assert rebuilt.hires == hires
    assert rebuilt.strength == base_request.strength
    again = engine.generate(replace(rebuilt, seed=result.seeds[0], batch_size=2))
    assert np.array_equal(image_array(again.paths[0]), image_array(result.paths[0]))


def test_second_pass_changes_the_upscaled_picture(engine, base_request):
    plain = engine.generate(replace(base_request, hires=HiresFix(scale=2, denoise=0.01, upscaler="Nearest")))
    strong = engine.generate(replace(base_request, hires=HiresFix(scale=2, denoise=0.9, upscaler="Nearest")))
    assert image_array(plain.paths[0]).shape == (128, 128, 3)
    assert np.abs(image_array(plain.paths[0]) - image_array(strong.paths[0])).mean() > 1.0


def test_resize_to_is_written_and_read():
    fields = HiresFix(resize_width=1024, resize_height=768).infotext_fields()
    assert fields == {"Hires resize": "1024x768", "Hires upscaler": "Latent"}
    back = hires_from_infotext(fields, 0.5)
    assert back == HiresFix(resize_width=1024, resize_height=768, denoise=0.5)
    # an A1111 model upscaler we can't run falls back to Lanczos instead of failing
    assert (
        hires_from_infotext({"Hires upscale": "2", "Hires upscaler": "R-ESRGAN 4x+"}, None).upscaler
        == "Lanczos"
    )


def test_cancel_between_passes(engine, base_request, tmp_path):
    control = RunControl()
    seen: list[str] = []

    def reporter(event):
        if isinstance(event, StatusChanged):
            seen.append(event.text)
            if event.text.startswith("Hires fix"):
                control.cancel()

    out = tmp_path / "cancelled"
    request = replace(base_request, hires=HiresFix(scale=2), output_dir=str(out))
    with pytest.raises(Cancelled):
        engine.generate(request, reporter, control)
    assert any(t.startswith("Hires fix") for t in seen)
    assert not out.exists() or not any(out.iterdir())


def test_sdxl_latent_hires(engine, tiny_sdxl_dir, tmp_path):
    from lora_studio.generation.request import GenerationRequest

    req = GenerationRequest(
        model=str(tiny_sdxl_dir),
        prompt="a cat",
        steps=2,
        seed=1,
        width=64,
        height=64,
        sampler="Euler",
        output_dir=str(tmp_path / "xl"),
        hires=HiresFix(scale=2, steps=2),
    )
    result = engine.generate(req)
    with Image.open(result.paths[0]) as im:
        assert im.size == (128, 128)


def test_cli_generate_and_grid_with_hires_and_embedding(tiny_sd1_dir, tmp_path):
    from lora_studio.cli.main import main
    from tests.generation.test_embeddings import write_embedding

    write_embedding(tmp_path / "emb" / "EasyNegative.safetensors")
    common = [
        "--model",
        str(tiny_sd1_dir),
        "--prompt",
        "a cat",
        "--negative",
        "embedding:EasyNegative",
        "--steps",
        "2",
        "--seed",
        "3",
        "--size",
        "64x48",
        "--embedding-dir",
        str(tmp_path / "emb"),
        "--hires-upscale",
        "2",
        "--hires-steps",
        "2",
        "--hires-denoise",
        "0.5",
        "--hires-upscaler",
        "Lanczos",
    ]
    assert main(["generate", *common, "--out", str(tmp_path / "g")]) == 0
    (png,) = (tmp_path / "g").glob("*.png")
    with Image.open(png) as im:
        assert im.size == (128, 96)
        info = parse_infotext(im.text["parameters"])
    assert info.extra["Hires upscaler"] == "Lanczos" and info.denoising_strength == 0.5
    assert info.extra["TI hashes"].startswith("EasyNegative: ")
    assert main(["grid", *common, "--x", "seed", "1", "2", "--out", str(tmp_path / "grid")]) == 0
    with Image.open(tmp_path / "grid" / "grid.png") as grid:
        assert grid.width >= 2 * 128 and grid.height >= 96
    cells = sorted((tmp_path / "grid" / "cells").glob("*.png"))
    assert len(cells) == 2 and all(Image.open(c).size == (128, 96) for c in cells)


def test_img2img_skips_hires_and_says_so(engine, base_request, tmp_path):
    init = tmp_path / "init.png"
    Image.new("RGB", (64, 64), (200, 80, 40)).save(init)
    said: list[str] = []
    request = replace(base_request, init_image=str(init), strength=0.5, hires=HiresFix(scale=2))
    result = engine.generate(request, lambda e: said.append(getattr(e, "text", "")))
    assert any("Hires fix works on text-to-picture only" in t for t in said)
    with Image.open(result.paths[0]) as im:
        assert im.size == (64, 64)
    info = parse_infotext(result.infotexts[0])
    assert info.denoising_strength == 0.5 and "Hires upscale" not in info.extra
