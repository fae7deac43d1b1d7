"""System memory of a full-size SDXL on the CPU: one training step and one generation with a fused LoRA.

Builds a random-weight SDXL (the real architecture, from the bundled configs) as a diffusers folder,
then, each in a fresh process so each peak is its own, reports the peak resident memory (RSS) of:

* one training step at ``--res`` px (default 256) in bf16 (model loaded straight into bf16, latents
  and captions cached, text encoders freed before the step);
* one generation at ``--res`` px with one LoRA fused at weight 1 (``--gen-dtype``, default bf16).

Target (issue 14): under 12 GB each. Needs about 16 GB of free memory and a few minutes.

    python benchmarks/bench_memory_cpu.py [--res 256] [--gen-dtype bf16|fp32] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)



def _peak_rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB -> GB (Linux)


def case_prepare(args: dict) -> dict:
    import torch
    from random_models import save_pictures, save_random_model

    save_random_model(args["family"], Path(args["model"]), torch.bfloat16)
    save_pictures(Path(args["data"]) / "img" / "1_sks", 1, args["res"])
    return {"peak_rss_gb": _peak_rss_gb()}


def case_train(args: dict) -> dict:
    from lora_studio.training.config import LatentCache, Precision, TrainConfig, update
    from lora_studio.training.trainer import run_training

    cfg = update(
        TrainConfig(),
        **{
            "model.base_model": args["model"],
            "dataset.path": args["data"],
            "dataset.resolution": args["res"],
            "dataset.enable_buckets": False,
            "dataset.latent_cache": LatentCache.MEMORY,
            "network.rank": 16,
            "run.precision": Precision.BF16,
            "run.max_steps": 1,
            "run.save_every_n_epochs": 0,
            "run.state_every_minutes": 0.0,
            "run.output_dir": str(Path(args["work"]) / "train-out"),
            "run.device": "cpu",
        },
    )
    start = time.perf_counter()
    result = run_training(cfg)
    return {"peak_rss_gb": _peak_rss_gb(), "seconds": time.perf_counter() - start, "loss": result.losses[-1]}


def case_generate(args: dict) -> dict:
    import torch
    from random_models import make_lora

    from lora_studio.generation.engine import GenerationEngine
    from lora_studio.generation.request import GenerationRequest, LoraSpec

    dtype = torch.bfloat16 if args["gen_dtype"] == "bf16" else torch.float32
    engine = GenerationEngine(device="cpu", dtype=dtype)
    entry = engine.model(args["model"])
    lora = make_lora(Path(args["work"]) / "lora.safetensors", entry.pipe.unet, args["family"], 0, 16)
    request = GenerationRequest(
        model=args["model"],
        prompt="sks, picture",
        loras=(LoraSpec(str(lora), 1.0),),
        steps=2,
        seed=1,
        width=args["res"],
        height=args["res"],
        output_dir=str(Path(args["work"]) / "images"),
        fuse_loras=True,
    )
    start = time.perf_counter()
    engine.generate(request)
    return {
        "peak_rss_gb": _peak_rss_gb(),
        "seconds": time.perf_counter() - start,
        "fuse_bookkeeping_gb": entry.stack.bookkeeping_bytes() / 2**30,
    }


CASES = {"prepare": case_prepare, "train": case_train, "generate": case_generate}


def run(kind: str, args: dict, timeout: float) -> dict:
    from case_runner import run_case

    return run_case(__file__, {**args, "kind": kind}, timeout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="sdxl")
    parser.add_argument("--res", type=int, default=256)
    parser.add_argument("--gen-dtype", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--work", default="", help="keeps the built model between runs")
    parser.add_argument("--cases", default="train,generate")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.case:
        import torch

        from lora_studio.core.paths import set_offline_environment

        set_offline_environment()
        case = json.loads(parsed.case)
        torch.set_num_threads(case["threads"])
        from case_runner import report

        report(CASES[case["kind"]](case))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp:
        work = Path(parsed.work or tmp)
        args = {
            "family": parsed.family,
            "res": parsed.res,
            "gen_dtype": parsed.gen_dtype,
            "threads": parsed.threads,
            "work": str(work),
            "model": str(work / f"model-{parsed.family}"),
            "data": str(work / "data"),
        }
        kinds = ["prepare", *parsed.cases.split(",")]
        results = {kind: run(kind, args, parsed.timeout) for kind in kinds}
    print(json.dumps(results, indent=2))
    ok = all("error" not in r for r in results.values())
    for kind in kinds[1:]:
        r = results[kind]
        if "peak_rss_gb" in r:
            verdict = "OK" if r["peak_rss_gb"] < 12 else "over the 12 GB target"
            print(f"{kind:9} peak RSS {r['peak_rss_gb']:.1f} GB  ({verdict})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
