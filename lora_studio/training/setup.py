"""Building a :class:`TrainingSession` from a config: load the model, the dataset, the network."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from lora_studio.core.errors import DatasetError
from lora_studio.core.events import LogLine, Progress, Reporter, StatusChanged
from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.dataset.items import Dataset
from lora_studio.training import data as D
from lora_studio.training.config import TrainConfig
from lora_studio.training.session import TrainingSession

log = logging.getLogger(__name__)


def load_model(config: TrainConfig, reporter: Reporter) -> tuple[Any, ModelFamily, Prediction]:
    """The base pipeline (on CPU, already in the run's weight dtype: no fp32 copy is ever made
    of a bf16/fp16 run's model), its family and prediction type."""
    from lora_studio.diffusion.loading import load_pipeline
    from lora_studio.training.session import torch_dtype

    m = config.model
    dtype = torch_dtype(config.run.precision)
    reporter(StatusChanged(f"Loading {Path(m.base_model).name}"))
    loaded = load_pipeline(
        m.base_model,
        family=m.family,
        prediction=m.prediction,
        device="cpu",
        dtype=dtype,
        reporter=reporter,
    )
    pipe = loaded.pipeline
    if m.vae:
        from diffusers import AutoencoderKL

        vae_path = Path(m.vae)
        vae_dtype = torch.float32 if dtype == torch.float16 else dtype  # fp16 VAEs overflow
        vae = (
            AutoencoderKL.from_pretrained(
                vae_path, local_files_only=True, use_safetensors=True, torch_dtype=vae_dtype
            )
            if vae_path.is_dir()
            else AutoencoderKL.from_single_file(vae_path, local_files_only=True, torch_dtype=vae_dtype)
        )
        pipe.vae = vae
    return pipe, ModelFamily(loaded.family), Prediction(m.prediction or loaded.prediction)


def load_training_dataset(config: TrainConfig, dataset: Dataset | None) -> Dataset:
    if dataset is not None:
        return dataset
    from lora_studio.dataset.io import load_dataset

    return load_dataset(config.dataset.path, caption_extension=config.dataset.caption_extension)


def build_session(
    config: TrainConfig, dataset: Dataset | None, device: torch.device, reporter: Reporter
) -> TrainingSession:
    ds = load_training_dataset(config, dataset)
    # Every picture is opened before the model loads (20-60 s): an unreadable one (damaged, cut
    # off, not a picture, a "decompression bomb") is left out with a warning, not found later.
    skipped = unreadable_pictures(ds, reporter)
    if skipped:
        report_skipped(skipped, reporter)
        ds = _without(ds, {p for p, _ in skipped})
    v = config.validation
    held_out = D.split_validation(ds, split=v.split, size=v.size, seed=v.seed)
    exclude = {i.image for i in held_out}
    sources = D.build_sources(ds, config.dataset, exclude=exclude)
    if not any(not s.is_reg for s in sources):
        if skipped and not any(c.items for c in ds.training_concepts()):
            raise DatasetError(
                f"None of the training pictures can be read ({len(skipped)} skipped).",
                hint="Run the dataset check, replace the damaged pictures and start again.",
            )
        raise DatasetError("There are no training images left (all were held out for validation).")
    val_sources = []
    if held_out:
        val_ds = Dataset(concepts=tuple(_only(c, exclude) for c in ds.training_concepts()))
        val_sources = D.build_sources(val_ds, config.dataset)
    pipe, family, prediction = load_model(config, reporter)
    session = TrainingSession(
        config=config,
        pipeline=pipe,
        family=family,
        prediction=prediction,
        device=torch.device(device),
        sources=sources,
        val_sources=val_sources,
    )
    session.setup_network()
    session.setup_encoders()
    return session


def unreadable_pictures(ds: Dataset, reporter: Reporter) -> list[tuple[Path, str]]:
    """(picture, reason) for each picture of ``ds`` that cannot be decoded. A small draft decode
    (JPEG decodes at 1/8 scale) still reads the whole file, so cut-off files are found too."""
    from lora_studio.dataset.images import ImageReadError, load_rgb

    items = [i for c in ds.concepts for i in c.items]
    bad: list[tuple[Path, str]] = []
    for n, item in enumerate(items):
        if n % 16 == 0:
            reporter(Progress(n, len(items), "Opening the pictures"))
        path = item.training_image
        try:
            load_rgb(path, draft=(64, 64)).close()
        except ImageReadError as exc:
            bad.append((item.image, exc.message))
        except Exception as exc:  # PIL raises many kinds; none may end the run with a traceback
            bad.append((item.image, f"The image {path.name} cannot be read: {exc}"))
    reporter(Progress(len(items), len(items), "Opening the pictures"))
    return bad


def _without(ds: Dataset, drop: set[Path]) -> Dataset:
    from dataclasses import replace

    return replace(
        ds, concepts=tuple(replace(c, items=tuple(i for i in c.items if i.image not in drop)) for c in ds.concepts)
    )


def report_skipped(skipped: list[tuple[Path, str]], reporter: Reporter) -> None:
    """Say which pictures the run leaves out, and why, before the model loads."""
    lines = [f"Skipped {len(skipped)} picture(s) that cannot be read:"]
    for path, reason in skipped:
        log.warning("Skipped %s: %s", path, reason)
        lines.append(f"  {path}: {reason}")
    reporter(StatusChanged("\n".join(lines)))
    reporter(LogLine("WARNING", " ".join(lines[:1] + [p.name for p, _ in skipped])))


def _only(concept: Any, keep: set[Path]) -> Any:
    from dataclasses import replace

    return replace(concept, items=tuple(i for i in concept.items if i.image in keep))
