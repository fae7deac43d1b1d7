"""Restoring settings from infotext: missing LoRAs are left out and named, never an error."""

from __future__ import annotations

from lora_studio.generation.model_library import Library
from lora_studio.generation.request import GenerationRequest
from lora_studio.generation.restore import restore_request


def test_missing_loras_are_left_out_and_named_with_their_hash(tmp_path):
    (tmp_path / "alpha.safetensors").write_bytes(b"not read: found by name")
    text = (
        "a cat <lora:alpha:0.8> <lora:gone:0.5> <lora:lost-too:1>\nNegative prompt: blurry\n"
        "Steps: 12, Sampler: Euler, CFG scale: 6, Seed: 99, Size: 64x64, Model: v1-5, "
        'Lora hashes: "gone: abcdef012345"'
    )
    request, notes = restore_request(text, Library(), [tmp_path], GenerationRequest(model="", prompt=""))
    assert [s.name for s in request.loras] == ["alpha"] and request.loras[0].weight == 0.8
    assert request.seed == 99 and request.steps == 12 and request.model == "v1-5"
    assert notes == ["Not found in your LoRA folders: gone (hash abcdef012345), lost-too."]
