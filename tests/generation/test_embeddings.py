"""Textual-inversion embeddings in prompts: SD1 and SDXL files, A1111 and ComfyUI spellings,
infotext ``TI hashes``, refusals for pickled and wrong-family files."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pytest

from lora_studio.core.errors import GenerationError
from lora_studio.formats.infotext import parse_infotext
from lora_studio.generation.embedding_files import list_embeddings, referenced
from tests.generation.conftest import image_array


def write_embedding(path, sdxl: bool = False, vectors: int = 2, seed: int = 0, key: str = "emb_params"):
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(seed)
    if sdxl:
        tensors = {
            "clip_l": torch.randn(vectors, 32, generator=gen) * 5,
            "clip_g": torch.randn(vectors, 32, generator=gen) * 5,
        }
    else:
        tensors = {key: torch.randn(vectors, 32, generator=gen) * 5}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


@pytest.fixture()
def emb_dir(tmp_path):
    folder = tmp_path / "embeddings"
    write_embedding(folder / "EasyNegative.safetensors", seed=1)
    write_embedding(folder / "zorbstyle.safetensors", seed=2, vectors=3, key="string_to_param.*")
    write_embedding(folder / "negXL.safetensors", sdxl=True, seed=3)
    return folder


def _engine(lora_dir, emb_dir):
    from lora_studio.generation.engine import GenerationEngine

    return GenerationEngine(lora_dirs=[lora_dir], embedding_dirs=[emb_dir], max_models=2)


def test_listing_reads_headers_and_tells_families_apart(emb_dir):
    (emb_dir / "old.pt").write_bytes(b"not unpickled")
    items = {e.name: e for e in list_embeddings([emb_dir])}
    assert set(items) == {"EasyNegative", "zorbstyle", "negXL", "old"}
    assert items["negXL"].sdxl and items["negXL"].widths == (32, 32)
    assert items["zorbstyle"].vectors == 3 and not items["zorbstyle"].sdxl
    assert items["old"].pickled
    # whole words only; ComfyUI's prefix and the extension are accepted
    found = referenced("embedding:EasyNegative, zorbstyle.safetensors, easynegatives", list(items.values()))
    assert [e.name for e in found] == ["EasyNegative", "zorbstyle"]
    assert referenced("EasyNegativeX, my-zorbstyle", list(items.values())) == []


def test_sd1_embedding_changes_output_only_when_named(lora_dir, emb_dir, base_request):
    engine = _engine(lora_dir, emb_dir)
    plain = engine.generate(base_request)
    again = engine.generate(base_request)
    named = engine.generate(replace(base_request, negative="blurry, EasyNegative"))
    comfy = engine.generate(replace(base_request, negative="blurry, embedding:EasyNegative"))
    after = engine.generate(base_request)  # the loaded tokens change nothing when not named
    ref = image_array(plain.paths[0])
    assert np.array_equal(ref, image_array(again.paths[0]))
    assert np.abs(image_array(named.paths[0]) - ref).mean() > 1.0
    assert np.array_equal(image_array(named.paths[0]), image_array(comfy.paths[0]))
    assert np.array_equal(ref, image_array(after.paths[0]))
    # A1111's infotext: the prompt as written and TI hashes = sha256[:12] of the file
    info = parse_infotext(named.infotexts[0])
    assert info.negative_prompt == "blurry, EasyNegative"
    digest = hashlib.sha256((emb_dir / "EasyNegative.safetensors").read_bytes()).hexdigest()[:12]
    assert info.extra["TI hashes"] == f"EasyNegative: {digest}"
    assert "TI hashes" not in parse_infotext(plain.infotexts[0]).extra
    # positive prompt, multi-vector string_to_param file
    pos = engine.generate(replace(base_request, prompt="a photo of zorbstyle cat"))
    assert np.abs(image_array(pos.paths[0]) - ref).mean() > 1.0


def test_infotext_round_trip_keeps_the_embedding(lora_dir, emb_dir, base_request):
    from lora_studio.generation.metadata import request_from_infotext

    engine = _engine(lora_dir, emb_dir)
    first = engine.generate(replace(base_request, negative="EasyNegative"))
    rebuilt = request_from_infotext(
        first.infotexts[0], [lora_dir], model=base_request.model, base=base_request
    ).request
    assert rebuilt.negative == "EasyNegative"
    second = engine.generate(rebuilt)
    assert np.array_equal(image_array(first.paths[0]), image_array(second.paths[0]))


def test_sdxl_embedding_on_tiny_sdxl(lora_dir, emb_dir, tiny_sdxl_dir, tmp_path):
    from lora_studio.generation.request import GenerationRequest

    engine = _engine(lora_dir, emb_dir)
    req = GenerationRequest(
        model=str(tiny_sdxl_dir),
        prompt="a cat",
        negative="blurry",
        steps=2,
        seed=3,
        width=64,
        height=64,
        sampler="Euler",
        output_dir=str(tmp_path / "xl"),
    )
    plain = engine.generate(req)
    named = engine.generate(replace(req, negative="blurry, negXL"))
    assert np.abs(image_array(named.paths[0]) - image_array(plain.paths[0])).mean() > 1.0
    assert parse_infotext(named.infotexts[0]).extra["TI hashes"].startswith("negXL: ")
    # an SD1 embedding on SDXL is refused in plain words
    with pytest.raises(GenerationError, match="made for .*the model is SDXL"):
        engine.generate(replace(req, negative="EasyNegative"))


def test_wrong_family_and_pickled_files_are_refused(lora_dir, emb_dir, base_request):
    engine = _engine(lora_dir, emb_dir)
    with pytest.raises(GenerationError, match="made for SDXL"):
        engine.generate(replace(base_request, negative="negXL"))
    marker = emb_dir / "unpickled-marker"
    (emb_dir / "badneg.pt").write_bytes(b"\x80\x04" + f"cos\nsystem\n(Vtouch {marker}\ntR.".encode())
    with pytest.raises(GenerationError, match="pickled"):
        engine.generate(replace(base_request, negative="badneg"))
    assert not marker.exists()


def test_restore_names_missing_embeddings(emb_dir, base_request):
    from lora_studio.generation.model_library import Library
    from lora_studio.generation.restore import _embedding_notes, restore_request

    text = 'a cat\nNegative prompt: EasyNegative, badhands\nSteps: 3, Sampler: Euler, Seed: 1, TI hashes: "EasyNegative: 0123456789ab, badhands: ba5eba11ba5e"'
    assert _embedding_notes(text, [emb_dir]) == [
        f"Embeddings not in {emb_dir}: badhands (hash ba5eba11ba5e). The picture used them; without them it will differ."
    ]
    request, notes = restore_request(text, Library(), [], base_request)
    assert request.negative == "EasyNegative, badhands"
    assert any("EasyNegative (hash 0123456789ab)" in n for n in notes)  # the default folder is empty
    assert _embedding_notes("a cat\nSteps: 3, Sampler: Euler, Seed: 1", [emb_dir]) == []
