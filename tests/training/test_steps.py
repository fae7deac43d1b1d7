"""The step count the app shows (``training.steps``) is the one the trainer makes."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from lora_studio.core.events import StepFinished
from lora_studio.dataset.items import Dataset
from lora_studio.training import data as D
from lora_studio.training.config import TrainConfig, update
from lora_studio.training.steps import batch_count, count_steps
from lora_studio.training.trainer import run_training

from .conftest import make_dataset, tiny_config

BUCKETS = {"dataset.resolution": 64, "dataset.bucket_min": 32, "dataset.bucket_max": 128, "dataset.bucket_step": 16}


def mixed_dataset(root: Path, *, repeats: int = 3, reg: int = 2) -> Dataset:
    """Wide and tall training pictures (two shape buckets) and square regularization pictures."""
    wide = make_dataset(root / "wide", 3, size=(128, 64), repeats=repeats)
    tall = make_dataset(root / "tall", 2, size=(64, 128), reg=reg)
    named = (replace(wide.concepts[0], name="wide"), replace(tall.concepts[0], name="tall"))
    return Dataset(concepts=named + tall.concepts[1:], root=root)


def trainer_steps(dataset: Dataset, config: TrainConfig) -> int:
    """What the trainer does, written out from the data functions: hold out, sources, the epoch's batches."""
    v, run = config.validation, config.run
    held = {i.image for i in D.split_validation(dataset, split=v.split, size=v.size, seed=v.seed)}
    sources = D.build_sources(dataset, config.dataset, exclude=held)
    batches = len(D.epoch_plan(sources, epoch=0, seed=run.seed, batch_size=run.batch_size, flip=False))
    per_epoch = max(1, math.ceil(batches / run.grad_accumulation))
    return run.max_steps if run.max_steps > 0 else run.epochs * per_epoch


def test_batch_count_is_the_length_of_the_epoch_plan(tmp_path: Path) -> None:
    sources = D.build_sources(mixed_dataset(tmp_path), update(TrainConfig(), **BUCKETS).dataset)
    assert len({s.bucket for s in sources}) == 3
    for batch_size in (1, 2, 3, 4, 7):
        plan = D.epoch_plan(sources, epoch=0, seed=5, batch_size=batch_size, flip=False)
        assert batch_count(sources, batch_size) == len(plan), batch_size


def test_count_matches_the_trainer_with_regularization_buckets_and_hold_out(tmp_path: Path) -> None:
    ds = mixed_dataset(tmp_path)
    config = update(
        TrainConfig(),
        **BUCKETS,
        **{"run.batch_size": 4, "run.grad_accumulation": 2, "run.epochs": 3, "validation.size": 1},
    )
    count = count_steps(ds, config)
    # One training picture is held out for validation; regularization pictures match the rest one to one.
    assert sum(c.held_out for c in count.concepts) == 1
    assert count.regularization_samples == count.training_samples
    assert count.training_samples in (3 * 3 + 2 - 1, 3 * 3 + 2 - 3)  # a tall (×1) or a wide (×3) one held out
    assert count.batches > count.plain_batches  # shape buckets add part-filled batches
    assert count.total_steps == trainer_steps(ds, config)
    for changes in ({"run.batch_size": 1}, {"run.batch_size": 3, "run.grad_accumulation": 1},
                    {"validation.size": 0}, {"run.max_steps": 7}, {"dataset.enable_buckets": False}):
        changed = update(config, **changes)
        assert count_steps(ds, changed).total_steps == trainer_steps(ds, changed), changes


def test_regularization_doubles_an_epoch(tmp_path: Path) -> None:
    config = update(TrainConfig(), **BUCKETS, **{"run.batch_size": 1, "run.epochs": 2})
    without = count_steps(mixed_dataset(tmp_path / "a", reg=0), config)
    with_reg = count_steps(mixed_dataset(tmp_path / "b", reg=1), config)  # one picture is enough: it is cycled
    assert without.samples_per_epoch == 3 * 3 + 2
    assert with_reg.samples_per_epoch == 2 * without.samples_per_epoch
    assert with_reg.total_steps == 2 * without.total_steps == 44


def test_a_real_run_makes_the_counted_steps(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    ds = mixed_dataset(tmp_path / "ds", repeats=1, reg=1)
    cfg = tiny_config(tiny_sd1_dir, tmp_path, **{"run.batch_size": 2, "run.epochs": 2})
    expected = count_steps(ds, cfg).total_steps
    # 3 wide + 2 tall pictures and the reg picture 5 times: batches of 2 per shape = 2 + 1 + 3 per epoch.
    assert expected == 2 * 6
    events: list = []
    run_training(cfg, events.append, dataset=ds)
    steps = [e for e in events if isinstance(e, StepFinished)]
    assert len(steps) == expected and steps[-1].total_steps == expected
