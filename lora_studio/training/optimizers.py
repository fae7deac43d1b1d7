"""Optimizers and learning-rate schedules by name (kohya names and meanings).

AdamW (torch), AdamW8bit (bitsandbytes), Prodigy (prodigyopt), D-Adaptation Adam (dadaptation),
Lion (our own implementation below), Adafactor (transformers). Optional packages are imported only
when chosen, with a message saying what to install.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from lora_studio.core.errors import ConfigError
from lora_studio.training.config import OptimizerKind, SchedulerKind, TrainConfig


class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms").

    update = sign(beta1 * m + (1 - beta1) * g); p -= lr * (update + wd * p); m = beta2 * m + (1 - beta2) * g.
    Typical lr is 3-10x smaller than AdamW's.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
    ) -> None:
        if lr <= 0:
            raise ValueError("Lion needs a positive learning rate")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                m = state["exp_avg"]
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                update = (m * beta1).add_(p.grad, alpha=1 - beta1).sign_()
                p.add_(update, alpha=-group["lr"])
                m.mul_(beta2).add_(p.grad, alpha=1 - beta2)
        return loss


def _need(module: str, kind: OptimizerKind) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"The {kind.value} optimizer needs the '{module}' package, which is not installed.",
            hint=f"Install it (pip install {module}) or choose AdamW.",
        ) from exc


def build_optimizer(config: TrainConfig, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    """The optimizer of ``config`` over parameter ``groups`` (each with its own ``lr``)."""
    try:
        return _build_optimizer(config, groups)
    except (TypeError, ValueError) as exc:  # an argument the optimizer refuses (validate() lists most)
        raise ConfigError(
            f"The {config.optimizer.optimizer} optimizer refused its settings: {exc}.",
            hint="Check optimizer.args and the learning rates.",
        ) from exc


def _build_optimizer(config: TrainConfig, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    o = config.optimizer
    kind = OptimizerKind(o.optimizer)
    args = dict(o.args)
    if "betas" in args:
        args["betas"] = tuple(args["betas"])
    wd = args.pop("weight_decay", o.weight_decay)
    if kind == OptimizerKind.ADAMW:
        return torch.optim.AdamW(groups, lr=groups[0]["lr"], weight_decay=wd, **args)
    if kind == OptimizerKind.ADAMW8BIT:
        bnb = _need("bitsandbytes", kind)
        return bnb.optim.AdamW8bit(groups, lr=groups[0]["lr"], weight_decay=wd, **args)
    if kind == OptimizerKind.LION:
        return Lion(groups, lr=groups[0]["lr"], weight_decay=wd, **args)
    if kind == OptimizerKind.PRODIGY:
        prodigyopt = _need("prodigyopt", kind)
        return prodigyopt.Prodigy(groups, lr=groups[0]["lr"], weight_decay=wd, **args)
    if kind == OptimizerKind.DADAPT_ADAM:
        dadaptation = _need("dadaptation", kind)
        return dadaptation.DAdaptAdam(groups, lr=groups[0]["lr"], weight_decay=wd, **args)
    if kind == OptimizerKind.ADAFACTOR:
        from transformers.optimization import Adafactor

        args.setdefault("relative_step", False)
        args.setdefault("scale_parameter", False)
        args.setdefault("warmup_init", False)
        return Adafactor(groups, lr=groups[0]["lr"], weight_decay=wd, **args)
    raise ConfigError(f"Unknown optimizer {o.optimizer!r}.")


def warmup_steps(config: TrainConfig, total_steps: int) -> int:
    s = config.scheduler
    if s.warmup_steps > 0:
        return s.warmup_steps
    return int(round(s.warmup_ratio * total_steps))


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """diffusers' learning-rate schedule named by ``config.scheduler`` over ``total_steps`` steps.

    These are the shapes kohya's sd-scripts uses (through transformers' identical functions):
    ``constant`` ignores warm-up; the others rise linearly over the warm-up steps, then
    ``cosine`` is half a cosine wave, ``cosine_with_restarts`` starts over ``num_cycles`` times, and
    ``polynomial`` decays with ``power`` to 1e-7 (kohya's end value, not 0). Every schedule is a
    ``LambdaLR``, so its state (the step) is saved with a training state and resumes exactly.
    """
    from diffusers.optimization import get_scheduler

    s = config.scheduler
    return get_scheduler(
        SchedulerKind(s.scheduler).value,
        optimizer,
        num_warmup_steps=warmup_steps(config, total_steps),
        num_training_steps=total_steps,
        num_cycles=s.num_cycles,
        power=s.power,
    )
