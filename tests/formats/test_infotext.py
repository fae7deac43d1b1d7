from __future__ import annotations

import pytest

from lora_studio.formats.infotext import (
    InfotextParams,
    format_infotext,
    parse_infotext,
    png_info_for,
    read_png_parameters,
    split_sampler,
)

FULL = InfotextParams(
    prompt="a cat, <lora:catstyle:0.8>\nsecond line: with colon",
    negative_prompt="blurry, lowres",
    steps=20,
    sampler="DPM++ 2M",
    schedule_type="Karras",
    cfg_scale=7.5,
    seed=965400086,
    width=512,
    height=768,
    model_hash="45dee52b3f",
    model_name="v1-5, pruned",
    clip_skip=2,
    denoising_strength=0.4,
    lora_hashes={"catstyle": "0123456789ab", "other": "ba9876543210"},
    extra={"Hires upscale": "2", "Note": 'say "hi", ok'},
    version="lora-studio 0.1",
)


def test_format_layout():
    text = format_infotext(FULL)
    lines = text.split("\n")
    assert lines[0] == "a cat, <lora:catstyle:0.8>"
    assert lines[2] == "Negative prompt: blurry, lowres"
    assert lines[3] == (
        "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 965400086, "
        'Size: 512x768, Model hash: 45dee52b3f, Model: "v1-5, pruned", Denoising strength: 0.4, Clip skip: 2, '
        'Lora hashes: "catstyle: 0123456789ab, other: ba9876543210", Hires upscale: 2, '
        'Note: "say \\"hi\\", ok", Version: lora-studio 0.1'
    )


@pytest.mark.parametrize(
    "params",
    [
        FULL,
        InfotextParams(prompt="just a prompt", steps=4, sampler="Euler a", cfg_scale=7.0, seed=1),
        InfotextParams(
            prompt="猫の写真\nфото кота", negative_prompt="плохо, 悪い", steps=2, seed=3, width=64, height=64
        ),
        InfotextParams(prompt="", negative_prompt="neg only", steps=1, cfg_scale=1.0, seed=0),
    ],
)
def test_round_trip(params):
    assert parse_infotext(format_infotext(params)) == params


def test_clip_skip_one_and_automatic_are_not_written():
    text = format_infotext(InfotextParams(prompt="p", steps=1, sampler="Euler", seed=1, clip_skip=1))
    assert "Clip skip" not in text and "Schedule type" not in text


def test_parse_a1111_string():
    text = (
        "masterpiece, 1girl,\nwhite hair\n"
        "Negative prompt: (worst quality:1.4),\nlowres\n"
        "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 123, Size: 512x768, Model hash: abcdef0123, "
        'Model: anything, Denoising strength: 0.5, Clip skip: 2, ENSD: 31337, Lora hashes: "add_detail: 7c6bad76eb54, '
        'more_details: 3b8aa1d351ef", Hires upscaler: "R-ESRGAN 4x+ Anime6B", TI hashes: "easynegative: c74b4e810b03", '
        "Version: v1.10.1"
    )
    p = parse_infotext(text)
    assert p.prompt == "masterpiece, 1girl,\nwhite hair"
    assert p.negative_prompt == "(worst quality:1.4),\nlowres"
    assert (p.steps, p.sampler, p.schedule_type, p.cfg_scale, p.seed) == (28, "DPM++ 2M", "Karras", 7.0, 123)
    assert (p.width, p.height, p.model_hash, p.model_name, p.clip_skip) == (
        512,
        768,
        "abcdef0123",
        "anything",
        2,
    )
    assert p.denoising_strength == 0.5 and p.version == "v1.10.1"
    assert p.lora_hashes == {"add_detail": "7c6bad76eb54", "more_details": "3b8aa1d351ef"}
    assert p.extra == {
        "ENSD": "31337",
        "Hires upscaler": "R-ESRGAN 4x+ Anime6B",
        "TI hashes": "easynegative: c74b4e810b03",
    }


def test_parse_defaults_and_prompt_only():
    p = parse_infotext("a lovely cat, highly detailed\nsecond: line")
    assert p.prompt == "a lovely cat, highly detailed\nsecond: line"
    assert p.steps is None and p.clip_skip == 1 and p.schedule_type == "Automatic" and p.extra == {}
    assert parse_infotext("") == InfotextParams()
    only_params = parse_infotext("Steps: 5, Sampler: Euler, Seed: 9, Schedule type: SGM Uniform")
    assert only_params.prompt == "" and only_params.schedule_type == "SGM Uniform"


def test_explicit_schedule_type_wins_and_bad_numbers_kept():
    p = parse_infotext("x\nSteps: many, Sampler: DPM++ 2M Karras, Schedule type: Exponential, Seed: 1")
    assert p.sampler == "DPM++ 2M Karras" and p.schedule_type == "Exponential"
    assert p.steps is None and p.extra == {"Steps": "many"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("DPM++ 2M Karras", ("DPM++ 2M", "Karras")),
        ("DPM++ 2M SDE Karras", ("DPM++ 2M SDE", "Karras")),
        ("LMS Karras", ("LMS", "Karras")),
        ("DPM++ 2M SGM Uniform", ("DPM++ 2M", "SGM Uniform")),
        ("Euler a", ("Euler a", None)),
        ("DDIM", ("DDIM", None)),
        ("Karras", ("Karras", None)),
    ],
)
def test_split_sampler(name, expected):
    assert split_sampler(name) == expected


@pytest.mark.parametrize("prompt", ["latin-1 café", "猫の写真, фото"])
def test_png_round_trip(tmp_path, prompt):
    from PIL import Image

    text = format_infotext(InfotextParams(prompt=prompt, steps=2, sampler="Euler", seed=5, width=8, height=8))
    path = tmp_path / "img.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=png_info_for(text))
    assert read_png_parameters(path) == text
    assert parse_infotext(read_png_parameters(path)).prompt == prompt


def test_png_without_parameters(tmp_path):
    from PIL import Image

    path = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(path)
    assert read_png_parameters(path) is None
