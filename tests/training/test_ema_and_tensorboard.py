"""EMA of the trained weights (closed form, main file or beside, exact resume) and TensorBoard
event files read back with TensorBoard's own reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lora_studio.core.control import RunControl
from lora_studio.core.errors import Cancelled
from lora_studio.core.events import StepFinished
from lora_studio.training import checkpoints as C
from lora_studio.training import run_files
from lora_studio.training.config import EmaTarget, SamplePrompt
from lora_studio.training.ema import ema_path
from lora_studio.training.trainer import run_training

from .conftest import make_dataset, tiny_config

DECAY = 0.8


def _ema_cfg(model: Path, out: Path, save: EmaTarget = EmaTarget.BESIDE, **kw):
    return tiny_config(
        model,
        out,
        **{
            "run.max_steps": 7,
            "run.batch_size": 1,
            "run.save_every_n_steps": 1,  # every step's live weights land in a file
            "ema.save": save,
            "ema.decay": DECAY,
            "ema.start_step": 2,
            "ema.every_n_steps": 2,
            **kw,
        },
    )


def _closed_form(weights: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """decay^n · w_0 + Σ (1 − decay) · decay^(n−i) · w_i over the weights at the update steps."""
    n = len(weights) - 1
    out = {}
    for key in weights[0]:
        total = DECAY**n * weights[0][key].double()
        for i in range(1, n + 1):
            total = total + (1 - DECAY) * DECAY ** (n - i) * weights[i][key].double()
        out[key] = total
    return out


def _assert_close(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key in got:
        if key.endswith(".alpha"):
            continue  # the same constant in every file
        assert torch.allclose(got[key].double(), want[key], atol=1e-6, rtol=1e-5), key


def test_ema_equals_the_closed_form_average_of_the_trained_weights(
    tmp_path: Path, tiny_sd1_dir: Path
) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = _ema_cfg(tiny_sd1_dir, tmp_path / "a")
    result = run_training(cfg, dataset=ds)
    out = Path(cfg.run.output_dir)
    per_step = {run_files.step_of(p): load_file(str(p)) for p in run_files.intermediate_loras(out, "t")}
    per_step[7] = load_file(str(result.final_lora))
    assert sorted(per_step) == list(range(1, 8))
    assert not torch.equal(per_step[2]["lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight"],
                           per_step[6]["lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight"])  # fmt: skip
    # updates after steps 2, 4, 6 (start 2, every 2); step 7 leaves the average as it was
    final_ema = load_file(str(ema_path(result.final_lora)))
    from lora_studio.formats.safetensors_meta import read_header

    marker = json.loads(read_header(ema_path(result.final_lora)).metadata["lora_studio.ema"])
    assert marker == {"decay": DECAY, "start_step": 2, "every_n_steps": 2, "updates": 3}
    assert "lora_studio.ema" not in read_header(result.final_lora).metadata
    _assert_close(final_ema, _closed_form([per_step[2], per_step[4], per_step[6]]))
    step4 = next(p for p in run_files.intermediate_loras(out, "t") if run_files.step_of(p) == 4)
    _assert_close(load_file(str(ema_path(step4))), _closed_form([per_step[2], per_step[4]]))
    # before the first update the "average" is the live weights
    step1 = next(p for p in run_files.intermediate_loras(out, "t") if run_files.step_of(p) == 1)
    _assert_close(load_file(str(ema_path(step1))), {k: v.double() for k, v in per_step[1].items()})

    # the same run with the EMA as the main file: the main file holds the average
    main = run_training(_ema_cfg(tiny_sd1_dir, tmp_path / "b", EmaTarget.MAIN), dataset=ds)
    assert not ema_path(main.final_lora).exists()
    _assert_close(load_file(str(main.final_lora)), {k: v.double() for k, v in final_ema.items()})
    assert main.losses == result.losses  # the average never feeds back into training

    # resume from step 3: the average goes on exactly
    cfg_c = _ema_cfg(tiny_sd1_dir, tmp_path / "c")
    control = RunControl()

    def stop(event) -> None:
        if isinstance(event, StepFinished) and event.step == 3:
            control.cancel()

    with pytest.raises(Cancelled):
        run_training(cfg_c, stop, control, dataset=ds)
    state = run_files.latest_state(cfg_c.run.output_dir, "t")
    assert state is not None and C.load_state(state).ema["updates"] == 1
    resumed = run_training(cfg_c, dataset=ds, resume_from=state)
    assert resumed.losses == result.losses
    again = load_file(str(ema_path(resumed.final_lora)))
    for key in final_ema:
        assert torch.equal(again[key], final_ema[key]), key


def test_keep_last_removes_the_ema_files_of_pruned_saves(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = _ema_cfg(tiny_sd1_dir, tmp_path, **{"run.keep_last": 2, "run.max_steps": 4})
    run_training(cfg, dataset=ds)
    out = Path(cfg.run.output_dir)
    kept = run_files.intermediate_loras(out, "t")
    assert [run_files.step_of(p) for p in kept] == [2, 3]
    assert sorted(p.name for p in out.glob("*-ema.safetensors")) == sorted(
        [ema_path(p).name for p in kept] + ["t-ema.safetensors"]
    )


def test_tensorboard_event_files_open_in_tensorboards_reader(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from lora_studio.training.tb_log import tensorboard_dir

    ds = make_dataset(tmp_path / "ds", 4)
    prompt = SamplePrompt(prompt="sks, photo", seed=1, steps=2, cfg=4.0)
    cfg = tiny_config(
        tiny_sd1_dir,
        tmp_path,
        **{
            "log.tensorboard": True,
            "run.epochs": 2,
            "validation.split": 0.25,
            "sample.prompts": (prompt,),
            "sample.every_n_epochs": 1,
        },
    )
    result = run_training(cfg, dataset=ds)
    folder = tensorboard_dir(cfg.run.output_dir, "t")
    assert folder.is_dir() and list(folder.glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"loss/step", "lr/unet", "loss/validation", "loss/epoch_average"} <= set(tags["scalars"])
    losses = acc.Scalars("loss/step")
    assert [e.step for e in losses] == list(range(1, len(result.losses) + 1))
    assert [e.value for e in losses] == pytest.approx(result.losses, rel=1e-6)  # stored as float32
    assert [e.value for e in acc.Scalars("lr/unet")] == pytest.approx(result.lrs, rel=1e-6)
    assert [(e.step, e.value) for e in acc.Scalars("loss/validation")] == [
        (s, pytest.approx(v, rel=1e-6)) for s, v in result.validation
    ]
    images = acc.Images("samples/prompt0")
    assert len(images) == len(result.samples) == 2
    assert images[-1].encoded_image_string == result.samples[-1].read_bytes()
    assert (images[-1].width, images[-1].height) == (64, 64)


def test_tensorboard_is_off_by_default(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = tiny_config(tiny_sd1_dir, tmp_path, **{"run.max_steps": 1})
    run_training(cfg, dataset=ds)
    assert not (Path(cfg.run.output_dir) / "tensorboard").exists()


def test_the_event_writer_needs_no_tensorboard_package(tmp_path: Path) -> None:
    """The packaged app excludes ``tensorboard`` (packaging/lora_studio.spec): writing must not import it."""
    import subprocess
    import sys

    spec = (Path(__file__).resolve().parents[2] / "packaging" / "lora_studio.spec").read_text("utf-8")
    assert '"tensorboard",' in spec
    code = (
        "import sys\n"
        "from lora_studio.training.tb_log import EventFileWriter\n"
        f"w = EventFileWriter({str(tmp_path)!r}); w.scalar('loss/step', 0.5, 1); w.close()\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorboard', 'tensorflow') or m == 'torch.utils.tensorboard']\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1
