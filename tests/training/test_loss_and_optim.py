"""Loss options and every optimizer / scheduler: each test fails if the option is ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lora_studio.core.families import Prediction
from lora_studio.training.config import OptimizerKind, SchedulerKind, TrainConfig, update
from lora_studio.training.losses import draw_noise, make_noise_scheduler, per_sample_loss, step_generator
from lora_studio.training.optimizers import Lion, build_optimizer, build_scheduler

_SCHED = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
}


def _batch():
    g = torch.Generator().manual_seed(0)
    lat = torch.randn(2, 4, 8, 8, generator=g)
    noise = torch.randn(2, 4, 8, 8, generator=g)
    pred = torch.randn(2, 4, 8, 8, generator=g)
    return lat, noise, pred, torch.tensor([10, 900])


def test_min_snr_weights_low_timesteps_down() -> None:
    sch = make_noise_scheduler(_SCHED, Prediction.EPSILON, False)
    lat, noise, pred, t = _batch()
    plain = per_sample_loss(
        pred, latents=lat, noise=noise, timesteps=t, scheduler=sch, prediction=Prediction.EPSILON
    )
    snr = per_sample_loss(
        pred,
        latents=lat,
        noise=noise,
        timesteps=t,
        scheduler=sch,
        prediction=Prediction.EPSILON,
        min_snr_gamma=5,
    )
    assert snr[0] < plain[0] * 0.1  # t=10 has a huge SNR -> strongly down-weighted
    assert torch.isclose(snr[1], plain[1])  # t=900: SNR < 5 -> weight 1


def test_v_prediction_target_and_zero_terminal_snr() -> None:
    lat, noise, pred, t = _batch()
    eps = make_noise_scheduler(_SCHED, Prediction.EPSILON, False)
    v = make_noise_scheduler(_SCHED, Prediction.V, False)
    a = per_sample_loss(
        noise, latents=lat, noise=noise, timesteps=t, scheduler=eps, prediction=Prediction.EPSILON
    )
    b = per_sample_loss(noise, latents=lat, noise=noise, timesteps=t, scheduler=v, prediction=Prediction.V)
    assert a.max() == 0 and b.min() > 0
    z = make_noise_scheduler(_SCHED, Prediction.V, True)
    assert z.alphas_cumprod[-1] < 1e-6 < v.alphas_cumprod[-1]


def test_noise_offset_shifts_channel_means() -> None:
    lat = torch.zeros(64, 4, 8, 8)
    n0, _ = draw_noise(lat, step_generator(1, 0), 1000, 0.0)
    n1, _ = draw_noise(lat, step_generator(1, 0), 1000, 1.0)
    assert n1.mean((2, 3)).std() > 3 * n0.mean((2, 3)).std()


def test_masked_loss_and_prior_weight() -> None:
    sch = make_noise_scheduler(_SCHED, Prediction.EPSILON, False)
    lat, noise, pred, t = _batch()
    pred = noise.clone()
    pred[..., :4] += 1.0  # error only on the left half
    mask = torch.zeros(2, 1, 8, 8)
    mask[..., 4:] = 1.0  # learn only the right half
    kw = dict(latents=lat, noise=noise, timesteps=t, scheduler=sch, prediction=Prediction.EPSILON)
    assert per_sample_loss(pred, **kw).min() > 0.4
    assert per_sample_loss(pred, mask=mask, **kw).max() == 0
    w = per_sample_loss(pred, weights=torch.tensor([1.0, 0.25]), **kw)
    assert torch.isclose(w[1], w[0] * 0.25)


def _quadratic_run(kind: OptimizerKind, lr: float, steps: int = 30) -> float:
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.full((64, 64), 2.0))
    cfg = update(
        TrainConfig(),
        **{"optimizer.optimizer": kind, "optimizer.learning_rate": lr, "optimizer.weight_decay": 0.0},
    )
    opt = build_optimizer(cfg, [{"params": [p], "lr": lr}])
    for _ in range(steps):
        loss = (p**2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
    return float((p**2).mean())


@pytest.mark.parametrize(
    "kind,lr",
    [
        (OptimizerKind.ADAMW, 0.05),
        (OptimizerKind.ADAMW8BIT, 0.05),
        (OptimizerKind.LION, 0.02),
        (OptimizerKind.ADAFACTOR, 0.05),
        (OptimizerKind.PRODIGY, 1.0),
        (OptimizerKind.DADAPT_ADAM, 1.0),
    ],
)
def test_each_optimizer_is_used_and_optimizes(kind: OptimizerKind, lr: float) -> None:
    cfg = update(TrainConfig(), **{"optimizer.optimizer": kind})
    opt = build_optimizer(cfg, [{"params": [torch.nn.Parameter(torch.ones(2))], "lr": lr}])
    expected = {
        "adamw": "AdamW",
        "adamw8bit": "AdamW8bit",
        "lion": "Lion",
        "adafactor": "Adafactor",
        "prodigy": "Prodigy",
        "dadapt_adam": "DAdaptAdam",
    }[kind.value]
    assert type(opt).__name__ == expected
    assert _quadratic_run(kind, lr) < 4.0 * 0.9


def test_optimizer_args_are_passed() -> None:
    cfg = update(TrainConfig(), **{"optimizer.args": {"betas": [0.5, 0.6], "eps": 1e-3}})
    opt = build_optimizer(cfg, [{"params": [torch.nn.Parameter(torch.ones(2))], "lr": 1e-3}])
    assert opt.param_groups[0]["betas"] == (0.5, 0.6) and opt.param_groups[0]["eps"] == 1e-3


def test_lion_matches_its_definition() -> None:
    p = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    opt = Lion([p], lr=0.1, betas=(0.9, 0.99))
    p.grad = torch.tensor([0.5, -2.0])
    opt.step()
    assert torch.allclose(p.detach(), torch.tensor([0.9, -0.9]))


@pytest.mark.parametrize("kind", list(SchedulerKind))
def test_scheduler_shapes(kind: SchedulerKind) -> None:
    lr = 1e-3
    cfg = update(
        TrainConfig(),
        **{
            "scheduler.scheduler": kind,
            "scheduler.warmup_steps": 10,
            "scheduler.num_cycles": 2,
            "scheduler.power": 2.0,
        },
    )
    opt = build_optimizer(cfg, [{"params": [torch.nn.Parameter(torch.ones(1))], "lr": lr}])
    sched = build_scheduler(opt, cfg, 100)
    lrs = []
    for _ in range(100):
        lrs.append(sched.get_last_lr()[0] / lr)
        opt.step()
        sched.step()
    if kind == SchedulerKind.CONSTANT:
        assert set(lrs) == {1.0}  # kohya's "constant" has no warm-up
        return
    assert lrs[0] == 0.0 and lrs[5] == pytest.approx(0.5) and lrs[10] == pytest.approx(1.0)  # warm-up
    tail = {
        SchedulerKind.CONSTANT_WITH_WARMUP: 1.0,
        SchedulerKind.LINEAR: 1 / 90,
        SchedulerKind.COSINE: 0.5 * (1 + __import__("math").cos(__import__("math").pi * 89 / 90)),
        # decays to kohya's (transformers') end value 1e-7, not to 0
        SchedulerKind.POLYNOMIAL: ((lr - 1e-7) * (1 / 90) ** 2 + 1e-7) / lr,
    }
    if kind in tail:
        assert lrs[99] == pytest.approx(tail[kind], abs=1e-6)
    if kind == SchedulerKind.COSINE_WITH_RESTARTS:
        assert lrs[54] < 0.01 and lrs[56] > 0.95  # restarts half-way


def test_warmup_ratio_and_param_group_lrs() -> None:
    cfg = update(
        TrainConfig(), **{"scheduler.scheduler": SchedulerKind.LINEAR, "scheduler.warmup_ratio": 0.1}
    )
    a, b = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    opt = build_optimizer(cfg, [{"params": [a], "lr": 1e-3}, {"params": [b], "lr": 1e-4}])
    sched = build_scheduler(opt, cfg, 50)
    for _ in range(5):
        opt.step()
        sched.step()
    assert sched.get_last_lr() == pytest.approx([1e-3, 1e-4])  # warm-up of 5 steps done


def test_text_encoder_lr_reaches_the_run(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    from lora_studio.core.events import StepFinished
    from lora_studio.training.trainer import run_training

    from .conftest import make_dataset, tiny_config

    ds = make_dataset(tmp_path / "ds", 2)
    cfg = tiny_config(
        tiny_sd1_dir,
        tmp_path,
        **{
            "run.max_steps": 1,
            "network.train_text_encoder": True,
            "optimizer.unet_lr": 1e-3,
            "optimizer.text_encoder_lr": 5e-5,
        },
    )
    events = []
    run_training(cfg, events.append, dataset=ds)
    step = next(e for e in events if isinstance(e, StepFinished))
    assert step.lrs == pytest.approx((1e-3, 5e-5))
