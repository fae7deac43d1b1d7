"""Generation benchmark: cost of LoRAs per step (unfused / fused), weight changes and set switches.

Runs an SD1.5-architecture UNet (the real SD1.5 config, random weights) at a small size so it fits a
laptop CPU; the figures that matter are the ratios to the no-LoRA step, which carry over to GPUs.

    python benchmarks/bench_generation.py [--size 256] [--rank 16] [--reps 3] [--device cpu]

Targets (shared/research/performance-reliability.md §9): fused ≤ 1.05× no-LoRA; a weight change
≤ 50 ms (+ one fuse when fused: ``weight_change_fused_overhead_s`` = fused change − ``fuse_3_s``);
the cost of switching sets flat after 20 other LoRAs were used. Step times are the fastest of
``--reps`` UNet calls.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch


def build_pipeline(device: str):
    """SD1.5 UNet (real config, random weights) inside a pipeline with the tiny TE/VAE."""
    from diffusers import UNet2DConditionModel

    from lora_studio.diffusion.configs import bundled_configs
    from lora_studio.diffusion.tiny import build_tiny_pipeline

    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(bundled_configs("sd15")["unet"])
    pipe = build_tiny_pipeline("sd1", 0)
    pipe.unet = unet  # the step cost is the UNet's; TE/VAE stay tiny
    pipe.register_modules(unet=unet)
    return pipe.to(device)


def make_lora(path: Path, unet, seed: int, rank: int) -> Path:
    """A random kohya LoRA on every attention projection of the UNet (SD1.5: 128 modules)."""
    from random_models import make_lora as make_random_lora

    return make_random_lora(path, unet, "sd1", seed, rank)


def step_time(pipe, latents, cond, timestep, reps: int) -> float:
    """Seconds per sampling step = one UNet call on the CFG batch (uncond + cond).

    The fastest of ``reps`` calls: on a shared machine the mean mostly measures the neighbours.
    """
    best = float("inf")
    with torch.no_grad():
        pipe.unet(latents, timestep, encoder_hidden_states=cond)  # warm-up
        for _ in range(reps):
            start = time.perf_counter()
            pipe.unet(latents, timestep, encoder_hidden_states=cond)
            if latents.is_cuda:
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
    return best


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--others", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from lora_studio.core.families import ModelFamily
    from lora_studio.core.paths import set_offline_environment
    from lora_studio.generation.loras import LoraStack
    from lora_studio.generation.request import LoraSpec

    set_offline_environment()
    pipe = build_pipeline(args.device)
    stack = LoraStack(pipe, ModelFamily.SD1)
    lat = args.size // 8
    latents = torch.randn(2, 4, lat, lat, device=args.device)
    cond = torch.randn(2, 77, 768, device=args.device)
    t = torch.tensor(500, device=args.device)
    tmp = Path(tempfile.mkdtemp(prefix="bench-gen-"))
    n_files = 3 + args.others + 2
    files = [make_lora(tmp / f"l{i}.safetensors", pipe.unet, i, args.rank) for i in range(n_files)]
    results: dict[str, float] = {}

    results["base_s_per_step"] = step_time(pipe, latents, cond, t, args.reps)
    for n in (1, 3):
        specs = [LoraSpec(str(f), 0.8) for f in files[:n]]
        stack.apply(specs, fuse=False)
        results[f"unfused_{n}_s_per_step"] = step_time(pipe, latents, cond, t, args.reps)
        stack.apply(specs, fuse=True)
        results[f"fused_{n}_s_per_step"] = step_time(pipe, latents, cond, t, args.reps)

    three = [LoraSpec(str(f), 0.8) for f in files[:3]]
    stack.apply(three, fuse=False)
    results["weight_change_unfused_s"] = timed(
        lambda: stack.apply([three[0].__class__(three[0].path, 0.5), *three[1:]])
    )
    results["fuse_3_s"] = timed(lambda: stack.apply(three, fuse=True))  # from unfused (backups exist)
    results["weight_change_fused_s"] = timed(
        lambda: stack.apply([three[0].__class__(three[0].path, 0.5), *three[1:]], fuse=True)
    )
    # Target: a fused weight change costs one fuse (+ ≤ 50 ms).
    results["weight_change_fused_overhead_s"] = results["weight_change_fused_s"] - results["fuse_3_s"]
    stack.clear()
    one = [LoraSpec(str(files[3]), 0.8)]
    stack.apply(one)
    results["switch_first_s"] = timed(lambda: stack.apply([LoraSpec(str(files[4]), 0.8)]))
    for f in files[5 : 3 + args.others]:
        stack.apply([LoraSpec(str(f), 0.8)])
    results["switch_after_others_s"] = timed(lambda: stack.apply([LoraSpec(str(files[-1]), 0.8)]))
    results["adapters_loaded_after_switches"] = float(len(stack.loaded))

    base = results["base_s_per_step"]
    for key in list(results):
        if key.endswith("_s_per_step") and key != "base_s_per_step":
            results[key.replace("_s_per_step", "_ratio")] = results[key] / base
    results["switch_growth_ratio"] = results["switch_after_others_s"] / results["switch_first_s"]
    print(json.dumps({"device": args.device, "size": args.size, "rank": args.rank, **results}, indent=2))


if __name__ == "__main__":
    main()
