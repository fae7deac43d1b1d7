"""TrainConfig: defaults, TOML round trip, unknown keys, validate() returning every issue, presets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lora_studio.core.families import ModelFamily
from lora_studio.dataset.items import Concept, ConceptKind, Dataset, Item
from lora_studio.training.config import (
    OptimizerKind,
    SamplePrompt,
    TrainConfig,
    load_config,
    resolve_paths,
    save_config,
    update,
    validate,
)
from lora_studio.training.presets import FLUX_VRAM_TIERS, VRAM_TIERS, Purpose, preset, preset_names


def test_defaults_are_valid_apart_from_paths(tmp_path: Path) -> None:
    issues = validate(TrainConfig())
    assert {i.field for i in issues if i.is_error} == {"model.base_model", "dataset.path"}


def test_toml_round_trip_and_unknown_keys(tmp_path: Path) -> None:
    cfg = update(
        TrainConfig(),
        **{
            "run.seed": 7,
            "network.rank": 4,
            "optimizer.args": {"betas": [0.9, 0.99], "decouple": True},
            "sample.prompts": (
                SamplePrompt(prompt="a cat", negative="blurry", width=512, height=768, seed=3),
            ),
        },
    )
    path = tmp_path / "c.toml"
    save_config(cfg, path)
    back, unknown = load_config(path)
    assert back == cfg and unknown == []
    path.write_text("foo = 1\n" + path.read_text() + "\n[run2]\nx = 1\n", encoding="utf-8")
    _, unknown = load_config(path)
    assert set(unknown) == {"foo", "run2"}


def test_validate_reports_everything_at_once(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    cfg = update(
        TrainConfig(),
        **{
            "model.base_model": str(tiny_sd1_dir),
            "model.family": ModelFamily.SDXL,  # wrong family
            "network.rank": 4,
            "network.alpha": 8.0,  # alpha > rank: warning
            "dataset.max_token_length": 100,
            "run.batch_size": 0,
            "scheduler.warmup_ratio": 1.5,
        },
    )
    empty = Dataset(concepts=(Concept(name="a", folder=tmp_path),))
    issues = validate(cfg, empty)
    fields = {i.field: i for i in issues}
    assert fields["model.family"].is_error
    assert not fields["network.alpha"].is_error
    for f in ("dataset.max_token_length", "run.batch_size", "scheduler.warmup_steps", "dataset.path"):
        assert fields[f].is_error, f


def test_missing_optimizer_package_is_reported(monkeypatch) -> None:
    import importlib.util

    from lora_studio.training import validation

    real = importlib.util.find_spec
    monkeypatch.setattr(
        validation.importlib.util, "find_spec", lambda n: None if n == "bitsandbytes" else real(n)
    )
    cfg = update(TrainConfig(), **{"optimizer.optimizer": OptimizerKind.ADAMW8BIT})
    assert any(i.field == "optimizer.optimizer" for i in validate(cfg))


def test_regularization_only_dataset_is_an_error(tmp_path: Path) -> None:
    ds = Dataset(
        concepts=(
            Concept(
                name="r", folder=tmp_path, kind=ConceptKind.REGULARIZATION, items=(Item(image=tmp_path),)
            ),
        )
    )
    assert any("no training concept" in i.message for i in validate(TrainConfig(), ds))


def test_resolve_paths(tmp_path: Path) -> None:
    cfg = resolve_paths(update(TrainConfig(), **{"dataset.path": "data", "run.output_dir": "out"}), tmp_path)
    assert cfg.dataset.path == str((tmp_path / "data").resolve())
    assert cfg.model.base_model == ""


def test_presets_cover_tiers_and_differ() -> None:
    assert len(preset_names()) == 3 * 2 * len(VRAM_TIERS) + 3 * len(FLUX_VRAM_TIERS)
    low, high = preset(Purpose.CHARACTER, "sdxl", 6), preset(Purpose.CHARACTER, "sdxl", 24)
    assert low.run.gradient_checkpointing and low.optimizer.optimizer == "adamw8bit"
    assert high.run.batch_size > low.run.batch_size
    assert preset("style", "sd1").dataset.resolution == 512
    assert preset("style", "sdxl").dataset.resolution == 1024
    for p, f, v in preset_names():
        errors = [i for i in validate(preset(p, f, v)) if i.is_error]
        assert {i.field for i in errors} <= {"model.base_model", "dataset.path", "optimizer.optimizer"}


def test_config_module_is_torch_free() -> None:
    code = (
        "import sys; import lora_studio.training.config, lora_studio.training.presets, "
        "lora_studio.training.validation; "
        "bad=[m for m in ('torch','diffusers','transformers','peft') if m in sys.modules]; print(bad); "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
