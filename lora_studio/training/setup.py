"""Building a :class:`TrainingSession` from a config: load the model, the dataset, the network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lora_studio.core.errors import DatasetError
from lora_studio.core.events import Reporter, StatusChanged
from lora_studio.dataset.items import Dataset
from lora_studio.diffusion.families import ModelFamily, Prediction
from lora_studio.training import data as D
from lora_studio.training.config import TrainConfig
from lora_studio.training.session import TrainingSession


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
            AutoencoderKL.from_pretrained(vae_path, local_files_only=True, torch_dtype=vae_dtype)
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
    v = config.validation
    held_out = D.split_validation(ds, split=v.split, size=v.size, seed=v.seed)
    exclude = {i.image for i in held_out}
    sources = D.build_sources(ds, config.dataset, exclude=exclude)
    if not any(not s.is_reg for s in sources):
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


def _only(concept: Any, keep: set[Path]) -> Any:
    from dataclasses import replace

    return replace(concept, items=tuple(i for i in concept.items if i.image in keep))
