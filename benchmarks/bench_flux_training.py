"""FLUX training speed on the tiny FLUX.1-dev model (CPU): LoRA Studio's trainer against a plain
diffusers + peft loop (``flux_plain_loop.py``) doing the same work, in the same run.

Each side runs in its own process (``case_runner``), one thread each, after one warm-up step; the
table gives seconds per optimizer step and the ratio ours / plain (below 1: we are faster).
Ours loads the tiny model from its BFL single file with clip_l / t5xxl / ae beside it (the files
users have); the plain loop loads the same weights from a diffusers folder.

    python benchmarks/bench_flux_training.py [--steps 12] [--res 128] [--rank 8]

The full-size FLUX.1-dev case (1024 px, 16 GB preset) is in ``bench_gpu.py --families flux``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)


def _s_per_step(times: list[float]) -> float:
    warm = times[1:]  # the first step warms caches up
    return (warm[-1] - warm[0]) / (len(warm) - 1) if len(warm) > 1 else float("nan")


def case_prepare(case: dict[str, Any]) -> dict[str, Any]:
    from random_models import save_pictures

    from lora_studio.diffusion.tiny_flux import save_tiny_flux

    files = save_tiny_flux(case["work"], layouts=("transformer", "clip_l", "t5xxl", "ae", "diffusers"))
    save_pictures(Path(case["work"]) / "img" / "1_sks", case["batch"], case["res"])
    return {k: str(v) for k, v in files.items()}


def case_ours(case: dict[str, Any]) -> dict[str, Any]:
    from lora_studio.core.events import StepFinished
    from lora_studio.training.config import LatentCache, Precision, TrainConfig, update
    from lora_studio.training.trainer import run_training

    cfg = update(
        TrainConfig(),
        **{
            "model.base_model": case["files"]["transformer"],
            "dataset.path": str(Path(case["work"]) / "img"),
            "dataset.resolution": case["res"],
            "dataset.enable_buckets": False,
            "dataset.latent_cache": LatentCache.MEMORY,
            "network.rank": case["rank"],
            "network.alpha": float(case["rank"]),
            "optimizer.weight_decay": 0.0,
            "run.precision": Precision.FP32,
            "run.batch_size": case["batch"],
            "run.max_steps": case["steps"],
            "run.save_every_n_epochs": 0,
            "run.state_every_minutes": 0.0,
            "run.output_dir": str(Path(case["work"]) / "out"),
            "run.device": "cpu",
            "flux.t5xxl_max_token_length": case["tokens"],
        },
    )
    times: list[float] = []
    run_training(cfg, lambda e: times.append(time.perf_counter()) if isinstance(e, StepFinished) else None)
    return {"s_step": _s_per_step(times)}


def case_plain(case: dict[str, Any]) -> dict[str, Any]:
    import torch
    from flux_plain_loop import plain_flux_train

    times = plain_flux_train(
        case["files"]["diffusers"],
        device="cpu",
        dtype=torch.float32,
        res=case["res"],
        rank=case["rank"],
        steps=case["steps"],
        batch=case["batch"],
        max_sequence_length=case["tokens"],
    )
    return {"s_step": _s_per_step(times)}


CASES = {"prepare": case_prepare, "ours": case_ours, "plain": case_plain}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--res", type=int, default=128)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=512, help="T5 tokens per caption")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        import torch
        from case_runner import report

        from lora_studio.core.paths import set_offline_environment

        set_offline_environment()
        case = json.loads(args.case)
        torch.set_num_threads(case["threads"])
        report(CASES[case["kind"]](case))
        return 0
    from case_runner import run_case

    with tempfile.TemporaryDirectory(prefix="bench-flux-") as work:
        common = {k: getattr(args, k) for k in ("steps", "res", "rank", "batch", "tokens", "threads")}
        common["work"] = work
        files = run_case(__file__, {**common, "kind": "prepare"}, args.timeout)
        if "error" in files:
            print(f"could not build the tiny FLUX model: {files['error']}", file=sys.stderr)
            return 1
        ours = run_case(__file__, {**common, "kind": "ours", "files": files}, args.timeout)
        plain = run_case(__file__, {**common, "kind": "plain", "files": files}, args.timeout)
    a, b = ours.get("s_step"), plain.get("s_step")
    print(f"tiny FLUX.1-dev, {args.res} px, batch {args.batch}, rank {args.rank}, {args.tokens} T5 tokens, "
          f"{args.threads} CPU thread(s), {args.steps} steps")
    print(f"{'':28} {'s/step':>8}")
    for label, value, result in (("LoRA Studio", a, ours), ("diffusers + peft (plain)", b, plain)):
        print(f"{label:28} {format(value, '8.4f') if isinstance(value, float) else result.get('error', '-'):>8}")
    if isinstance(a, float) and isinstance(b, float) and b:
        print(f"ours / plain: {a / b:.2f}")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
