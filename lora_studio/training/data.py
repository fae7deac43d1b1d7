"""Training data: Dataset -> repeated, bucketed, shuffled batches of pixels (or cached latents).

* ``build_sources`` turns concepts into one :class:`Source` per image (bucket, loss weight) and
  ``epoch_entries`` lists one epoch (repeats, kohya's regularization balancing); both live in the
  torch-free :mod:`lora_studio.training.steps`, which the app uses to count steps the same way.
* ``epoch_plan`` lists the batches of one epoch: those entries grouped by bucket, shuffled by a
  ``random.Random`` seeded with (seed, epoch). The same seed gives the same plan, so resuming
  mid-epoch only needs the epoch number and the batch index.
* ``load_sample`` opens the original image (never modified), applies the stored crop, the bucket
  resize and centre crop, flip and colour jitter, and builds the loss mask at latent size.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from lora_studio.core.errors import DatasetError
from lora_studio.dataset.items import CropBox
from lora_studio.training.buckets import Size, cover_resize
from lora_studio.training.captions import augment_caption
from lora_studio.training.config import AlphaHandling, DatasetConfig
from lora_studio.training.steps import Source, epoch_entries
from lora_studio.training.steps import build_sources as build_sources
from lora_studio.training.steps import split_validation as split_validation

Image.MAX_IMAGE_PIXELS = 180_000_000  # refuse decompression bombs, allow big photos


@dataclass(frozen=True, slots=True)
class Sample:
    """One entry of a batch: which source, whether flipped, and the seed of its caption augmentation."""

    source: int
    flip: bool
    aug_seed: int


Batch = list[Sample]


def open_image(path: Path, alpha: AlphaHandling) -> tuple[Image.Image, Image.Image | None]:
    """Open an image upright as RGB (EXIF, CMYK, 16-bit, palette handled by ``dataset.images``);
    transparent areas are composited on white (or black). Returns (rgb, alpha-or-None)."""
    from lora_studio.dataset.images import load_rgb_and_alpha

    try:
        rgb, a = load_rgb_and_alpha(path)
    except (OSError, ValueError) as exc:
        raise DatasetError(
            f"The image {path.name} cannot be read: {exc}", hint="Remove or replace it."
        ) from exc
    except DatasetError:
        raise
    if a is not None:
        bg = Image.new("RGB", rgb.size, (0, 0, 0) if alpha == AlphaHandling.BLACK else (255, 255, 255))
        bg.paste(rgb, mask=a)
        rgb = bg
    return rgb, a


def epoch_plan(sources: list[Source], *, epoch: int, seed: int, batch_size: int, flip: bool) -> list[Batch]:
    """The batches of ``epoch`` (0-based): same-bucket batches in a seeded random order."""
    rng = random.Random(f"lora-studio-plan-{seed}-{epoch}")
    by_bucket: dict[Size, list[int]] = {}
    for idx in epoch_entries(sources):
        by_bucket.setdefault(sources[idx].bucket, []).append(idx)
    batches: list[Batch] = []
    for bucket in sorted(by_bucket):
        entries = by_bucket[bucket]
        rng.shuffle(entries)
        samples = [Sample(i, flip and rng.random() < 0.5, rng.getrandbits(62)) for i in entries]
        batches.extend(samples[k : k + batch_size] for k in range(0, len(samples), batch_size))
    rng.shuffle(batches)
    return batches


def caption_for(source: Source, sample: Sample, cfg: DatasetConfig) -> str:
    return augment_caption(source.item.caption, cfg, random.Random(sample.aug_seed), source.trigger)


def _crop_resize(
    img: Image.Image, crop: CropBox | None, bucket: Size, flip: bool, resample: int
) -> Image.Image:
    if crop is not None:
        img = img.crop(crop.as_ltrb())
    (rw, rh), box = cover_resize(img.width, img.height, bucket)
    if (rw, rh) != img.size:
        img = img.resize((rw, rh), resample)
    img = img.crop(box)
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else img


def _jitter(arr: np.ndarray, strength: float, rng: random.Random) -> np.ndarray:
    """Brightness, contrast and a hue-ish channel mix, each scaled by ``strength`` (0..1)."""
    b = 1.0 + rng.uniform(-0.3, 0.3) * strength
    c = 1.0 + rng.uniform(-0.3, 0.3) * strength
    mean = arr.mean()
    arr = (arr - mean) * c + mean * b
    shift = np.array([rng.uniform(-0.1, 0.1) * strength for _ in range(3)], dtype=np.float32)
    return np.clip(arr + shift * 255.0, 0, 255)


def load_pixels(
    source: Source, flip: bool, cfg: DatasetConfig, jitter_seed: int | None = None
) -> torch.Tensor:
    """[3, H, W] float32 in [-1, 1] at the source's bucket size."""
    rgb, _ = open_image(source.item.training_image, cfg.alpha)
    img = _crop_resize(rgb, source.item.crop, source.bucket, flip, Image.Resampling.LANCZOS)
    arr = np.asarray(img, dtype=np.float32)
    if cfg.color_jitter > 0 and jitter_seed is not None:
        arr = _jitter(arr, cfg.color_jitter, random.Random(jitter_seed))
    return torch.from_numpy(arr / 127.5 - 1.0).permute(2, 0, 1).contiguous()


def load_mask(
    source: Source, flip: bool, cfg: DatasetConfig, *, latent_scale: int = 8
) -> torch.Tensor | None:
    """[1, h, w] loss weights in [0, 1] at latent size, from the mask PNG or (alpha=mask) the alpha."""
    mask: Image.Image | None
    if source.item.mask is not None:
        with Image.open(source.item.mask) as m:
            mask = ImageOps.exif_transpose(m).convert("L")
    elif cfg.alpha == AlphaHandling.MASK:
        _, mask = open_image(source.item.training_image, cfg.alpha)
        if mask is None:
            return None
    else:
        return None
    mask = _crop_resize(mask, source.item.crop, source.bucket, flip, Image.Resampling.BILINEAR)
    bw, bh = source.bucket
    mask = mask.resize((bw // latent_scale, bh // latent_scale), Image.Resampling.BOX)
    return torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0)[None]


_DIGESTS: dict[tuple[Path, int, int], str] = {}


def image_digest(path: Path) -> str:
    """sha256 of the image file's bytes (the latent cache key ignores names and dates)."""
    st = path.stat()
    key = (path, st.st_mtime_ns, st.st_size)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


class PixelBatches(torch.utils.data.Dataset):
    """Decoded pixels of planned batches, for a DataLoader with worker processes (``num_workers``)."""

    def __init__(self, batches: list[Batch], sources: list[Source], cfg: DatasetConfig) -> None:
        self.batches, self.sources, self.cfg = batches, sources, cfg

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.stack(
            [
                load_pixels(self.sources[s.source], s.flip, self.cfg, jitter_seed=s.aug_seed ^ 0x5EED)
                for s in self.batches[i]
            ]
        )
