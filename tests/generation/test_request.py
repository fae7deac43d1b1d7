"""Requests, sampler names and <lora:…> tags (torch-free)."""

from __future__ import annotations

import sys

import pytest

from lora_studio.core.errors import GenerationError
from lora_studio.generation.request import (
    GenerationRequest,
    LoraSpec,
    extract_lora_tags,
    find_lora_file,
    resolve_prompt_loras,
    split_sampler_name,
)


def test_request_module_is_torch_free():
    import subprocess

    code = "import sys, lora_studio.generation.request; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Euler a", ("Euler a", "Automatic")),
        ("DPM++ 2M Karras", ("DPM++ 2M", "Karras")),
        ("DPM++ SDE Karras", ("DPM++ SDE", "Karras")),
        ("dpm++ 2m sde", ("DPM++ 2M SDE", "Automatic")),
        ("LMS Karras", ("LMS", "Karras")),
        ("euler_a", ("Euler a", "Automatic")),
    ],
)
def test_sampler_names(name, expected):
    assert split_sampler_name(name) == expected


def test_unknown_sampler():
    with pytest.raises(GenerationError, match="Unknown sampler"):
        split_sampler_name("Quantum 9000")


def test_scheduler_table_builds_every_sampler():
    from lora_studio.generation.request import SAMPLERS
    from lora_studio.generation.samplers import make_scheduler

    config = {
        "num_train_timesteps": 1000,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "prediction_type": "epsilon",
    }
    import importlib.util

    has_scipy = importlib.util.find_spec("scipy") is not None
    for sampler in SAMPLERS:
        if sampler == "LMS" and not has_scipy:
            with pytest.raises(GenerationError, match="needs a Python package"):
                make_scheduler(config, sampler, "Automatic")
            continue
        for schedule in ("Automatic", "Karras"):
            sched = make_scheduler(config, sampler, schedule)
            sched.set_timesteps(4)
    assert (
        type(make_scheduler(config, "DPM++ 2M Karras", "Automatic")).__name__ == "DPMSolverMultistepScheduler"
    )
    assert make_scheduler(config, "DPM++ 2M", "Karras").config.use_karras_sigmas


def test_lora_tags_are_stripped():
    clean, tags = extract_lora_tags(
        "a cat, <lora:style_v2:0.7>, sitting <lora:other> <lyco:x:1:unet=0.5:te=0>"
    )
    assert clean == "a cat, sitting"
    assert [(t.name, t.weight) for t in tags] == [("style_v2", 0.7), ("other", 1.0), ("x", 1.0)]
    assert tags[2].unet_weight == 0.5 and tags[2].te_weight == 0.0


def test_missing_lora_names_it_and_the_folders(tmp_path):
    with pytest.raises(GenerationError) as info:
        find_lora_file("nope", [tmp_path])
    assert "nope" in str(info.value) and str(tmp_path) in str(info.value)


def test_resolve_prompt_loras(tmp_path):
    (tmp_path / "sub").mkdir()
    target = tmp_path / "sub" / "MyLora.safetensors"
    target.write_bytes(b"x")
    req = GenerationRequest(model="m", prompt="cat <lora:mylora:0.5>", loras=(LoraSpec(str(target), 1.0),))
    out = resolve_prompt_loras(req, [tmp_path])
    assert out.prompt == "cat"
    assert out.loras == (LoraSpec(str(target), 0.5),)


def test_validate_lists_every_problem():
    req = GenerationRequest(model="", prompt="x", steps=0, width=63, loras=(LoraSpec("a", 3.0),))
    problems = req.validate()
    assert len(problems) == 4


def test_tag_editing_keeps_per_part_weights():
    from lora_studio.generation.request import read_lora_tags, remove_lora_tag, set_lora_tag

    text = "a cat, <lora:Style:0.8:unet=1:te=0.25>, sitting"
    # Changing the overall weight (a slider) keeps the te=/unet= parts the user typed.
    changed = set_lora_tag(text, "style", 0.5)
    assert changed == "a cat, <lora:style:0.5:unet=1:te=0.25>, sitting"
    (tag,) = read_lora_tags(changed)
    assert (tag.weight, tag.unet_weight, tag.te_weight) == (0.5, 1.0, 0.25)
    # and sets them when asked; a new tag is appended with them
    assert set_lora_tag(changed, "style", 0.5, te_weight=0.75).count("te=0.75") == 1
    added = set_lora_tag("a cat", "other", 1.0, unet_weight=0.5)
    assert added == "a cat, <lora:other:1:unet=0.5>"
    assert remove_lora_tag(changed, "STYLE") == "a cat, sitting"
    # half-typed or unreadable tags are skipped by the editor's reader, refused by the request
    assert read_lora_tags("<lora:a:0.5> <lora:b:x> <lora:c:0.") == [read_lora_tags("<lora:a:0.5>")[0]]


def test_per_part_weights_reach_the_request(tmp_path):
    from lora_studio.generation.request import GenerationRequest, resolve_prompt_loras

    (tmp_path / "style.safetensors").write_bytes(b"x")
    req = resolve_prompt_loras(
        GenerationRequest(model="m", prompt="cat <lora:style:0.7:te=0.2:unet=0.9>"), [tmp_path]
    )
    (spec,) = req.loras
    assert (spec.weight, spec.effective_te, spec.effective_unet) == (0.7, 0.2, 0.9)
    assert req.prompt == "cat"
