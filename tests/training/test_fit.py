"""The measured fit: probe logic with a fake device, the Windows spill check, and the engine's memory
report adding up to the tensors it holds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lora_studio.core.errors import TrainingError
from lora_studio.core.events import StepFinished
from lora_studio.training import fit as F
from lora_studio.training.config import BaseWeights, OptimizerKind, update

from .conftest import make_dataset, tiny_config

GB = 1024**3


class FakeDevice:
    """A card of ``total_gb`` whose peak is whatever the fake training run allocated."""

    def __init__(self, total_gb: float) -> None:
        self.total = int(total_gb * GB)
        self.peak = 0
        self.reserved = 0
        self.resets = 0

    def total_bytes(self) -> int:
        return self.total

    def reset_peak(self) -> None:
        self.peak = 0
        self.resets += 1

    def peak_bytes(self) -> int:
        return self.peak

    def reserved_bytes(self) -> int:
        return self.reserved


def _cost_gb(cfg) -> float:
    """A made-up but monotone memory model of the settings."""
    gb = 14.0
    if cfg.run.gradient_checkpointing:
        gb -= 4.0
    if cfg.optimizer.optimizer == OptimizerKind.ADAMW8BIT:
        gb -= 0.5
    gb -= {BaseWeights.FULL: 0, BaseWeights.FP8: 2.5, BaseWeights.INT8: 2.5, BaseWeights.NF4: 3.7}[
        cfg.memory.unet_weights
    ]
    return gb - 0.1 * cfg.memory.blocks_to_swap


def _fake_measure(device: FakeDevice, seen: list):
    def measure(cfg) -> F.Measurement:
        seen.append(cfg)
        device.peak = int(_cost_gb(cfg) * GB)
        return F.Measurement(device.peak, 1.0 + 0.1 * len(seen))

    return measure


@pytest.mark.parametrize(
    "card_gb,expected",
    [
        (24, "as set"),
        (12, "gradient checkpointing"),
        (10.5, "8-bit AdamW"),
        (8, "fp8 base weights"),
        (7.5, "fp8 + 4 blocks in system memory"),
        (7, "fp8 + 8 blocks in system memory"),
        (6.5, "4-bit NF4 base weights"),
    ],
)
def test_picks_the_cheapest_rung_that_fits_with_margin(card_gb: float, expected: str, tmp_path: Path) -> None:
    device, seen = FakeDevice(card_gb), []
    base = tiny_config(tmp_path, tmp_path)
    choice = F.choose_fit(base, device, _fake_measure(device, seen))
    assert choice.fits and choice.step_name == expected
    m = choice.measurement
    assert m.peak_bytes * (1 + F.DEFAULT_MARGIN) <= device.total
    # every cheaper rung was measured and did not fit
    assert len(choice.tried) == len(seen) == device.resets
    assert all(not t.fits(device.total) for _, t in choice.tried[:-1])
    assert choice.config == seen[-1]
    assert (
        choice.summary()
        == f"fits: {m.peak_bytes / GB:.1f} of {card_gb:.0f} GB, {m.seconds_per_step:.1f} s/step"
    )


def test_nothing_fits_says_so(tmp_path: Path) -> None:
    device, seen = FakeDevice(2), []
    base = tiny_config(tmp_path, tmp_path)
    choice = F.choose_fit(base, device, _fake_measure(device, seen))
    assert not choice.fits and choice.config == base
    assert "Does not fit in 2 GB" in choice.summary()
    assert seen[-1].memory.unet_weights == BaseWeights.NF4 and seen[-1].memory.blocks_to_swap == 0


def test_margin_is_respected(tmp_path: Path) -> None:
    device, seen = FakeDevice(14.5), []  # "as set" needs 14 GB: fits without margin, not with 10 %
    choice = F.choose_fit(tiny_config(tmp_path, tmp_path), device, _fake_measure(device, seen))
    assert choice.step_name == "gradient checkpointing"
    choice = F.choose_fit(tiny_config(tmp_path, tmp_path), device, _fake_measure(device, []), margin=0.0)
    assert choice.step_name == "as set"


def test_probe_runs_real_steps_and_measures_speed_and_peak(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = tiny_config(tiny_sd1_dir, tmp_path, **{"run.save_every_n_epochs": 1, "run.epochs": 50})
    device = FakeDevice(16)
    ticks = iter([10.0, 11.5, 13.0, 14.5])
    steps_seen: list[int] = []
    from lora_studio.training.trainer import run_training

    def train(config, reporter, dataset=None):
        def both(e):
            if isinstance(e, StepFinished):
                steps_seen.append(e.step)
                device.peak = max(device.peak, int(e.memory_mb * 2**20))
            reporter(e)

        return run_training(config, both, dataset=dataset)

    m = F.run_probe(cfg, device, dataset=ds, steps=4, train=train, clock=lambda: next(ticks))
    assert steps_seen == [1, 2, 3, 4]
    assert m.seconds_per_step == pytest.approx(1.5)
    assert m.peak_bytes > 0 and not m.out_of_memory
    assert not (tmp_path / "out").exists()  # a probe writes nothing into the run's folder


def test_probe_turns_out_of_memory_into_a_measurement(tmp_path: Path) -> None:
    device = FakeDevice(8)
    device.peak = 9 * GB

    def train(config, reporter, dataset=None):
        raise TrainingError("Training ran out of GPU memory.") from torch.OutOfMemoryError(
            "CUDA out of memory"
        )

    m = F.run_probe(tiny_config(tmp_path, tmp_path), device, train=train)
    assert m.out_of_memory and not m.fits(device.total)

    def broken(config, reporter, dataset=None):
        raise TrainingError("The loss became nan at step 1.")

    with pytest.raises(TrainingError, match="nan"):
        F.run_probe(tiny_config(tmp_path, tmp_path), device, train=broken)


def test_windows_spill_is_spotted_only_on_windows() -> None:
    device = FakeDevice(8)
    device.reserved = int(9.5 * GB)
    msg = F.spill_message(device, platform="win32")
    assert msg and "9.5 GB" in msg and "8.0 GB" in msg and "shared system memory" in msg
    assert F.spill_message(device, platform="linux") is None
    device.reserved = 7 * GB
    assert F.spill_message(device, platform="win32") is None
    m = F.Measurement(7 * GB, 1.0, spilled=True)
    assert not m.fits(8 * GB)


def test_calibration_scales_the_formula(tmp_path: Path) -> None:
    from lora_studio.core.families import ModelFamily
    from lora_studio.training.presets import Purpose, preset
    from lora_studio.training.vram_estimate import estimate_vram

    cfg = preset(Purpose.CHARACTER, ModelFamily.SDXL, 12)
    raw = estimate_vram(cfg, ModelFamily.SDXL)
    factor = F.calibration(int(raw.total_gb * 1.25 * GB), raw.total_gb)
    assert factor == pytest.approx(1.25)
    calibrated = estimate_vram(cfg, ModelFamily.SDXL, calibration=factor)
    assert calibrated.total_gb == pytest.approx(raw.total_gb * 1.25)
    assert F.calibration(100 * GB, 1.0) == 2.0  # one odd probe never makes the formula absurd
    fp8 = estimate_vram(preset(Purpose.CHARACTER, ModelFamily.SDXL, 8), ModelFamily.SDXL)
    full = estimate_vram(
        update(preset(Purpose.CHARACTER, ModelFamily.SDXL, 8), **{"memory.unet_weights": BaseWeights.FULL}),
        ModelFamily.SDXL,
    )
    assert fp8.total_gb < full.total_gb - 2  # fp8 halves the 5.1 GB UNet


def test_engine_memory_report_equals_the_tensors_it_holds(
    tmp_path: Path, tiny_sd1_dir: Path, monkeypatch
) -> None:
    """On the CPU the StepFinished memory figure is the bytes of every tensor the run holds."""
    from lora_studio.training import trainer as T

    captured: dict = {}
    real_session, real_opt = T.build_session, T.build_optimizer

    def spy_session(*a, **k):
        captured["s"] = real_session(*a, **k)
        return captured["s"]

    def spy_opt(*a, **k):
        captured["opt"] = real_opt(*a, **k)
        return captured["opt"]

    monkeypatch.setattr(T, "build_session", spy_session)
    monkeypatch.setattr(T, "build_optimizer", spy_opt)
    ds = make_dataset(tmp_path / "ds", 2)
    events: list = []
    T.run_training(tiny_config(tiny_sd1_dir, tmp_path, **{"run.max_steps": 2}), events.append, dataset=ds)
    reported = [e.memory_mb for e in events if isinstance(e, StepFinished)][-1]

    s, opt = captured["s"], captured["opt"]
    storages: dict[int, int] = {}

    def add(t):
        if isinstance(t, torch.Tensor) and t.numel():
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()

    for name in ("unet", "vae", "text_encoder"):
        for t in getattr(s.pipeline, name).state_dict(keep_vars=True).values():
            add(t)
    for state in opt.state_dict()["state"].values():
        for t in state.values():
            add(t)
    for t in s.latents._memory.values():
        add(t)
    for hidden, pooled in s.text_cache._memo.values():
        add(hidden)
        add(pooled)
    assert s.text_encoders_released  # their weights no longer count
    assert reported * 2**20 == pytest.approx(sum(storages.values()), abs=0.5)


def test_out_of_memory_advice_names_the_memory_settings(tmp_path: Path) -> None:
    from lora_studio.training.run_support import oom_error

    cfg = tiny_config(tmp_path, tmp_path, **{"run.gradient_checkpointing": True})
    assert "fp8" in oom_error(RuntimeError("oom"), cfg).hint
    fp8 = update(cfg, **{"memory.unet_weights": BaseWeights.FP8})
    assert "block swapping" in oom_error(RuntimeError("oom"), fp8).hint
    nf4 = update(cfg, **{"memory.unet_weights": BaseWeights.NF4})
    hint = oom_error(RuntimeError("oom"), nf4).hint
    assert "fp8" not in hint and "block swapping" not in hint


def test_measure_fit_probes_real_steps_on_the_given_device(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    class Roomy(FakeDevice):
        def peak_bytes(self) -> int:  # the probe's tensors (CPU run) stand in for the card's peak
            return int(3.5 * GB)

    ds = make_dataset(tmp_path / "ds", 2)
    texts: list[str] = []
    choice = F.measure_fit(
        tiny_config(tiny_sd1_dir, tmp_path), dataset=ds, device=Roomy(16), report=texts.append
    )
    assert choice.fits and choice.step_name == "as set" and texts == ["Measuring memory: as set"]
    assert choice.summary().startswith("fits: 3.5 of 16 GB, ")


def test_cli_fit_without_a_card_says_so(tmp_path: Path, tiny_sd1_dir: Path, capsys) -> None:
    from lora_studio.cli.main import main
    from lora_studio.training.config import save_config

    save_config(tiny_config(tiny_sd1_dir, tmp_path), tmp_path / "t.toml")
    assert main(["train", str(tmp_path / "t.toml"), "--fit"]) == 2
    err = capsys.readouterr().err
    assert "NVIDIA graphics card" in err
