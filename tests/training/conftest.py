"""Fixtures for training tests: small picture datasets and a fast fp32 config for the tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lora_studio.dataset.items import Concept, ConceptKind, Dataset, Item
from lora_studio.training.config import LatentCache, Precision, TrainConfig, update


def make_images(
    folder: Path, n: int, *, size: tuple[int, int] = (64, 64), seed: int = 0, prefix: str = "img"
) -> list[Path]:
    """Simple, learnable pictures: coloured gradients with a square."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        w, h = size
        base = rng.integers(0, 255, 3)
        yy, xx = np.mgrid[0:h, 0:w]
        arr = np.zeros((h, w, 3), np.uint8)
        for c in range(3):
            arr[..., c] = (base[c] + xx * (c + 1) + yy) % 255
        arr[h // 4 : h // 2, w // 4 : w // 2] = 255 - base
        p = folder / f"{prefix}{i}.png"
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


def make_dataset(
    root: Path,
    n: int = 4,
    *,
    repeats: int = 1,
    size: tuple[int, int] = (64, 64),
    reg: int = 0,
    captions: list[str] | None = None,
) -> Dataset:
    imgs = make_images(root / "train", n, size=size)
    caps = captions or [f"sks, photo, tag{i}, red" for i in range(n)]
    concepts = [
        Concept(
            name="sks",
            folder=root / "train",
            repeats=repeats,
            items=tuple(Item(image=p, caption=c) for p, c in zip(imgs, caps)),
        )
    ]
    if reg:
        rimgs = make_images(root / "reg", reg, seed=9, prefix="reg")
        concepts.append(
            Concept(
                name="reg",
                folder=root / "reg",
                kind=ConceptKind.REGULARIZATION,
                items=tuple(Item(image=p, caption="photo") for p in rimgs),
            )
        )
    return Dataset(concepts=tuple(concepts), root=root)


def tiny_config(model_dir: Path, out_dir: Path, **changes) -> TrainConfig:
    base = {
        "model.base_model": str(model_dir),
        "dataset.path": str(out_dir),  # the dataset object is passed directly
        "dataset.resolution": 64,
        "dataset.bucket_min": 32,
        "dataset.bucket_max": 128,
        "dataset.bucket_step": 16,
        "dataset.latent_cache": LatentCache.MEMORY,
        "network.rank": 4,
        "network.alpha": 2.0,
        "optimizer.learning_rate": 1e-2,
        "optimizer.weight_decay": 0.0,
        "run.precision": Precision.FP32,
        "run.save_precision": Precision.FP32,
        "run.epochs": 1,
        "run.batch_size": 2,
        "run.seed": 1,
        "run.save_every_n_epochs": 0,
        "run.state_every_minutes": 0.0,
        "run.output_dir": str(out_dir / "out"),
        "run.output_name": "t",
        "run.device": "cpu",
    }
    base.update(changes)
    return update(TrainConfig(), **base)


@pytest.fixture()
def sd1_dataset(tmp_path: Path) -> Dataset:
    return make_dataset(tmp_path / "ds", 4)


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """The CI box is shared: one intra-op thread is faster than oversubscribed threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def flux_pipeline(width: str = "tiny"):  # -> diffusers.FluxPipeline
    """The tiny FLUX.1-dev pipeline; ``width="full"`` swaps in a transformer of FLUX.1's real
    width (3072, MLP 12288, 24 heads) with one double- and one single-stream block: the shapes
    that other tools' FLUX LoRA loaders assume."""
    from lora_studio.diffusion.tiny_flux import build_tiny_flux_pipeline

    pipe = build_tiny_flux_pipeline(0)
    if width == "full":
        from diffusers import FluxTransformer2DModel

        torch_seed(1)
        pipe.transformer = FluxTransformer2DModel(
            in_channels=64,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=128,
            num_attention_heads=24,
            joint_attention_dim=pipe.text_encoder_2.config.d_model,
            pooled_projection_dim=pipe.text_encoder.config.hidden_size,
            guidance_embeds=True,
            axes_dims_rope=(16, 56, 56),
        )
    return pipe


def torch_seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


@pytest.fixture(scope="session")
def tiny_flux_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny FLUX.1-dev model as users have it: flux1-dev-tiny.safetensors (BFL layout) with
    clip_l / t5xxl_fp16 / ae files beside it."""
    from lora_studio.diffusion.tiny_flux import save_tiny_flux

    return save_tiny_flux(tmp_path_factory.mktemp("flux"), layouts=("transformer", "clip_l", "t5xxl", "ae"))


@pytest.fixture()
def tiny_flux_model(
    tiny_flux_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Path:
    """The base model of a FLUX run: the tiny BFL file, loaded by the real loader; with
    ``@pytest.mark.parametrize("tiny_flux_model", ["full"], indirect=True)`` the real-width
    transformer of :func:`flux_pipeline` instead (built in memory)."""
    if getattr(request, "param", "tiny") == "tiny":
        return tiny_flux_files["transformer"]
    import lora_studio.training.setup as setup
    from lora_studio.core.families import ModelFamily, Prediction

    monkeypatch.setattr(
        setup, "load_model", lambda config, reporter: (flux_pipeline("full"), ModelFamily.FLUX, Prediction.FLOW)
    )
    folder = tmp_path / "full-flux"
    folder.mkdir()
    return folder
