"""Data options: buckets, repeats, regularization balancing, crops, captions, masks, caches, tokens."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lora_studio.dataset.items import Concept, CropBox, Dataset, Item
from lora_studio.training import data as D
from lora_studio.training.buckets import make_buckets, nearest_bucket, no_upscale_bucket
from lora_studio.training.captions import augment_caption
from lora_studio.training.config import AlphaHandling, DatasetConfig, LatentCache

from .conftest import make_dataset, make_images


def test_buckets_follow_aspect_ratio(tmp_path: Path) -> None:
    buckets = make_buckets(512, 256, 1024, 64)
    assert all(w % 64 == 0 and h % 64 == 0 and w * h <= 512 * 512 for w, h in buckets)
    assert nearest_bucket(1000, 500, buckets) == (704, 320) or nearest_bucket(1000, 500, buckets)[0] > 512
    assert nearest_bucket(500, 1000, buckets)[1] > 512
    assert no_upscale_bucket(200, 100, 512, 64) == (192, 64)
    ds = make_dataset(tmp_path, 1, size=(128, 64))
    on = D.build_sources(ds, DatasetConfig(resolution=64, bucket_min=32, bucket_max=128, bucket_step=16))
    off = D.build_sources(ds, DatasetConfig(resolution=64, enable_buckets=False))
    assert on[0].bucket[0] > on[0].bucket[1] and off[0].bucket == (64, 64)
    px = D.load_pixels(on[0], False, DatasetConfig())
    assert px.shape[1:] == (on[0].bucket[1], on[0].bucket[0])


def test_repeats_and_regularization_balance(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path, 2, repeats=3, reg=4)
    sources = D.build_sources(ds, DatasetConfig(resolution=64))
    entries = D.epoch_entries(sources)
    counts = Counter(sources[i].is_reg for i in entries)
    assert counts[False] == 6 and counts[True] == 6  # reg images fill up to the training count
    plan = D.epoch_plan(sources, epoch=0, seed=1, batch_size=2, flip=False)
    assert sum(len(b) for b in plan) == 12
    again = D.epoch_plan(sources, epoch=0, seed=1, batch_size=2, flip=False)
    other = D.epoch_plan(sources, epoch=1, seed=1, batch_size=2, flip=False)
    assert plan == again and plan != other


def test_batches_never_mix_buckets(tmp_path: Path) -> None:
    a = make_dataset(tmp_path / "a", 3, size=(128, 64))
    b = make_dataset(tmp_path / "b", 3, size=(64, 128))
    ds = Dataset(concepts=a.concepts + b.concepts)
    sources = D.build_sources(ds, DatasetConfig(resolution=64, bucket_min=32, bucket_max=128, bucket_step=16))
    for batch in D.epoch_plan(sources, epoch=0, seed=0, batch_size=2, flip=True):
        assert len({sources[s.source].bucket for s in batch}) == 1


def test_stored_crop_is_applied_and_original_untouched(tmp_path: Path) -> None:
    img = tmp_path / "a.png"
    arr = np.zeros((64, 128, 3), np.uint8)
    arr[:, 64:] = 255  # right half white
    Image.fromarray(arr).save(img)
    before = img.read_bytes()
    ds = Dataset(
        concepts=(Concept(name="c", folder=tmp_path, items=(Item(image=img, crop=CropBox(64, 0, 64, 64)),)),)
    )
    src = D.build_sources(ds, DatasetConfig(resolution=64))[0]
    assert src.size == (64, 64)
    px = D.load_pixels(src, False, DatasetConfig(resolution=64))
    assert px.min() > 0.9  # only the white half
    assert img.read_bytes() == before


def test_flip_mirrors_pixels(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path, 1)
    src = D.build_sources(ds, DatasetConfig(resolution=64))[0]
    a, b = D.load_pixels(src, False, DatasetConfig()), D.load_pixels(src, True, DatasetConfig())
    assert torch.equal(a.flip(-1), b)


def test_color_jitter_changes_pixels(tmp_path: Path) -> None:
    src = D.build_sources(make_dataset(tmp_path, 1), DatasetConfig(resolution=64))[0]
    plain = D.load_pixels(src, False, DatasetConfig(), jitter_seed=3)
    jit = D.load_pixels(src, False, DatasetConfig(color_jitter=1.0), jitter_seed=3)
    assert not torch.allclose(plain, jit)


def test_caption_options() -> None:
    cap = "a, b, c, d, e, f"
    rng = lambda: random.Random(0)  # noqa: E731
    assert augment_caption(cap, DatasetConfig(), rng()) == cap
    shuffled = augment_caption(cap, DatasetConfig(shuffle_tags=True, keep_tokens=2), rng())
    assert (
        shuffled.startswith("a, b, ") and shuffled != cap and sorted(shuffled.split(", ")) == list("abcdef")
    )
    assert augment_caption(cap, DatasetConfig(caption_dropout=1.0), rng()) == ""
    dropped = augment_caption(cap, DatasetConfig(tag_dropout=0.5, keep_tokens=1), rng())
    assert dropped.startswith("a") and len(dropped.split(", ")) < 6
    assert augment_caption(cap, DatasetConfig(trigger_word="sks"), rng()).startswith("sks, a")
    assert augment_caption("sks, x", DatasetConfig(trigger_word="sks"), rng()) == "sks, x"
    # the trigger is kept in front even when tags are shuffled
    for s in range(5):
        out = augment_caption(cap, DatasetConfig(trigger_word="sks", shuffle_tags=True), random.Random(s))
        assert out.startswith("sks, ")


def test_masks_from_png_and_alpha(tmp_path: Path) -> None:
    img = make_images(tmp_path, 1)[0]
    mask = tmp_path / "m.png"
    m = np.zeros((64, 64), np.uint8)
    m[:, :32] = 255
    Image.fromarray(m).save(mask)
    ds = Dataset(concepts=(Concept(name="c", folder=tmp_path, items=(Item(image=img, mask=mask),)),))
    src = D.build_sources(ds, DatasetConfig(resolution=64))[0]
    lm = D.load_mask(src, False, DatasetConfig())
    assert lm.shape == (1, 8, 8) and lm[0, :, :4].min() == 1 and lm[0, :, 4:].max() == 0
    assert D.load_mask(src, True, DatasetConfig())[0, :, 4:].min() == 1  # flipped with the image
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 3] = 0
    rgba[:32, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    ds2 = Dataset(concepts=(Concept(name="c", folder=tmp_path, items=(Item(image=tmp_path / "t.png"),)),))
    s2 = D.build_sources(ds2, DatasetConfig(resolution=64))[0]
    assert D.load_mask(s2, False, DatasetConfig(alpha=AlphaHandling.WHITE)) is None
    am = D.load_mask(s2, False, DatasetConfig(alpha=AlphaHandling.MASK))
    assert am[0, :4].min() == 1 and am[0, 4:].max() == 0
    px = D.load_pixels(s2, False, DatasetConfig(alpha=AlphaHandling.WHITE))
    assert px[:, 40:].min() == 1.0  # transparent -> white, not black


def test_validation_split_is_seeded(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path, 6)
    a = D.split_validation(ds, split=0.34, size=0, seed=1)
    assert len(a) == 2 and a == D.split_validation(ds, split=0.34, size=0, seed=1)
    assert len(D.split_validation(ds, split=0.0, size=1, seed=1)) == 1


def test_latent_disk_cache_reused_and_invalidated(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    from lora_studio.training.encoding import LatentStore

    store = LatentStore(LatentCache.DISK, tmp_path / "cache", "vae1")
    img = make_images(tmp_path / "i", 1)[0]
    k1 = store.key(D.image_digest(img), None, (64, 64), False)
    store.put(k1, torch.ones(4, 8, 8))
    again = LatentStore(LatentCache.DISK, tmp_path / "cache", "vae1")
    assert torch.equal(again.get(k1), torch.ones(4, 8, 8)) and again.disk_hits == 1
    assert again.key(D.image_digest(img), None, (64, 64), True) != k1  # flip
    assert again.key(D.image_digest(img), CropBox(0, 0, 8, 8), (64, 64), False) != k1  # crop
    assert again.key(D.image_digest(img), None, (64, 48), False) != k1  # size
    assert (
        LatentStore(LatentCache.DISK, tmp_path / "cache", "vae2").key(
            D.image_digest(img), None, (64, 64), False
        )
        != k1
    )
    Image.fromarray(np.full((64, 64, 3), 7, np.uint8)).save(img)  # same name, new pixels
    assert again.key(D.image_digest(img), None, (64, 64), False) != k1


def test_text_encoder_long_prompts_and_clip_skip(tiny_sd1_dir: Path) -> None:
    from lora_studio.diffusion.tiny import build_tiny_pipeline
    from lora_studio.training.encoding import TextCache, TextEncoder

    pipe = build_tiny_pipeline("sd1", 0)
    long = ", ".join(f"tag{i}" for i in range(60))  # > 75 tokens
    enc75 = TextEncoder("sd1", [pipe.tokenizer], [pipe.text_encoder], max_token_length=75)
    enc150 = TextEncoder("sd1", [pipe.tokenizer], [pipe.text_encoder], max_token_length=150)
    with torch.no_grad():
        h75, _ = enc75.encode([long])
        h150, _ = enc150.encode([long])
        skip2, _ = TextEncoder("sd1", [pipe.tokenizer], [pipe.text_encoder], clip_skip=2).encode([long])
        ref = pipe.encode_prompt(long, "cpu", 1, False)[0]
        ids = pipe.tokenizer(long, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
        hs = pipe.text_encoder(ids.input_ids, output_hidden_states=True).hidden_states
        ref2 = pipe.text_encoder.final_layer_norm(hs[-2])  # A1111/kohya clip skip 2
    assert h75.shape[1] == 77 and h150.shape[1] == 152
    assert torch.allclose(h75, ref, atol=1e-5)  # same as the pipeline at sampling time
    assert torch.allclose(skip2, ref2, atol=1e-5) and not torch.allclose(skip2, h75)
    cache = TextCache(enc75)
    a, _ = cache.encode(["x", "y", "x"])
    assert cache.hits == 1 and torch.allclose(a[0], a[2])


def test_an_erased_copy_is_trained_instead_of_the_original(tmp_path: Path) -> None:
    img, copy = tmp_path / "marked.png", tmp_path / "erased" / "marked.png"
    copy.parent.mkdir()
    Image.new("RGB", (128, 96), (0, 0, 0)).save(img)  # the "watermarked" original: black
    Image.new("RGB", (128, 96), (255, 255, 255)).save(copy)  # its cleaned copy: white
    item = Item(image=img, crop=CropBox(0, 0, 64, 64), erased=copy)
    ds = Dataset(concepts=(Concept(name="c", folder=tmp_path, items=(item,)),))
    src = D.build_sources(ds, DatasetConfig(resolution=64))[0]
    assert src.size == (64, 64)  # the crop still applies, in the same coordinates
    assert D.load_pixels(src, False, DatasetConfig(resolution=64)).min() > 0.9
    assert D.image_digest(src.item.training_image) != D.image_digest(img)  # latent cache follows the copy
