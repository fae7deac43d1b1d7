"""Every training option changes what the trainer computes (a test that fails when one is ignored)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lora_studio.core.families import Prediction
from lora_studio.training.config import LatentCache, NetworkTarget
from lora_studio.training.trainer import run_training

from .conftest import make_dataset, tiny_config

OPTIONS = {
    "min_snr": {"loss.min_snr_gamma": 0.05},
    "noise_offset": {"loss.noise_offset": 0.5},
    "masked_loss": {"loss.masked_loss": True},
    "prior_loss_weight": {"loss.prior_loss_weight": 0.1},
    "v_prediction": {"model.prediction": Prediction.V},
    "zero_terminal_snr": {"model.zero_terminal_snr": True, "model.prediction": Prediction.V},
    "clip_skip": {"model.clip_skip": 2},
    "max_token_length": {"dataset.max_token_length": 150},
    "flip": {"dataset.flip": True},
    "shuffle_tags": {"dataset.shuffle_tags": True},
    "caption_dropout": {"dataset.caption_dropout": 0.9},
    "trigger_word": {"dataset.trigger_word": "zzz"},
    "resolution": {"dataset.resolution": 80},
    "no_buckets": {"dataset.enable_buckets": False},
    "color_jitter": {"dataset.color_jitter": 1.0, "dataset.latent_cache": LatentCache.NONE},
    "network_target": {"network.target": NetworkTarget.ATTENTION_FF_CONV},
    "rank": {"network.rank": 2},
    "grad_accumulation": {"run.grad_accumulation": 2, "run.max_steps": 2},
    "batch_size": {"run.batch_size": 1},
    "seed": {"run.seed": 2},
    "max_grad_norm": {"optimizer.max_grad_norm": 1e-4},
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_sd1_dir):
    root = tmp_path_factory.mktemp("opts")
    ds = make_dataset(root / "ds", 2, size=(80, 48), reg=1)
    # one mask: learn only the left half of the first picture
    m = np.zeros((48, 80), np.uint8)
    m[:, :40] = 255
    Image.fromarray(m).save(root / "mask.png")
    first = ds.concepts[0]
    items = (replace(first.items[0], mask=root / "mask.png"),) + first.items[1:]
    ds = replace(ds, concepts=(replace(first, items=items),) + ds.concepts[1:])
    base = {"run.max_steps": 3, "optimizer.learning_rate": 5e-2}
    baseline = run_training(tiny_config(tiny_sd1_dir, root / "base", **base), dataset=ds).losses
    return root, ds, base, baseline


@pytest.mark.parametrize("name", list(OPTIONS))
def test_option_changes_training(setup, tiny_sd1_dir: Path, name: str) -> None:
    root, ds, base, baseline = setup
    cfg = tiny_config(tiny_sd1_dir, root / name, **{**base, **OPTIONS[name]})
    losses = run_training(cfg, dataset=ds).losses
    assert losses != baseline, name


@pytest.mark.parametrize(
    "opts",
    [
        {"run.gradient_checkpointing": True},
        {"run.sdpa": False},
        {"dataset.latent_cache": LatentCache.NONE},
        {"dataset.cache_text_encoder_outputs": False},
        {"dataset.latent_cache": LatentCache.NONE, "dataset.num_workers": 1},
        {"dataset.latent_cache": LatentCache.DISK},
    ],
    ids=[
        "gradient_checkpointing",
        "no_sdpa",
        "no_latent_cache",
        "no_te_cache",
        "loader_workers",
        "disk_cache",
    ],
)
def test_speed_options_keep_the_maths(setup, tiny_sd1_dir: Path, opts: dict) -> None:
    """Memory/speed options must not change the result (beyond float noise)."""
    root, ds, base, baseline = setup
    name = "keep-" + "-".join(opts)
    losses = run_training(tiny_config(tiny_sd1_dir, root / name, **{**base, **opts}), dataset=ds).losses
    assert losses == pytest.approx(baseline, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_runs_on_cpu(setup, tiny_sd1_dir: Path, precision: str) -> None:
    from lora_studio.training.config import Precision

    root, ds, base, baseline = setup
    cfg = tiny_config(
        tiny_sd1_dir,
        root / precision,
        **{**base, "run.precision": Precision(precision), "run.save_precision": Precision.BF16},
    )
    result = run_training(cfg, dataset=ds)
    assert all(np.isfinite(result.losses)) and result.losses != baseline
    assert result.losses == pytest.approx(baseline, rel=0.2)
