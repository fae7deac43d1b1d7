"""GPU benchmark: LoRA Studio's training presets and generation against plain diffusers + peft.

On a CUDA machine it builds full-size random-weight SD 1.5, SDXL and (``--families flux``) FLUX.1-dev
models from the bundled configs and measures, per training preset (6 / 8 / 12 / 16 / 24 GB; FLUX.1:
``--flux-tiers``, default the 16 GB preset) at the family's native resolution, s/it and peak VRAM of our trainer and of
a plain diffusers+peft loop doing the same work (same LoRA targets, rank, batch, precision,
gradient checkpointing and optimizer, latents and captions encoded once); then generation it/s
with 0 and 3 fused LoRAs against plain diffusers (``load_lora_weights`` + ``fuse_lora``).

Every case runs in its own process with its own timeout, so one hung or out-of-memory case costs
only itself and each peak is that case's alone; the whole run stops starting cases when
``--budget`` (default 540 s, under 9 minutes) is spent. One table is printed at the end.

    python benchmarks/bench_gpu.py                 # CUDA, full size
    python benchmarks/bench_gpu.py --tiny          # CPU, tiny models: what CI runs
    python benchmarks/bench_gpu.py --families flux # FLUX.1-dev at 1024 px, 16 GB preset (36 GB of disk)
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

TIERS = (6, 8, 12, 16, 24)


# -- cases (each runs in a child process) --------------------------------------------------------
def _peak_gb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB -> GB (Linux)


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _config(case: dict[str, Any]):
    from lora_studio.training.config import LatentCache, update
    from lora_studio.training.presets import Purpose, preset

    cfg = preset(Purpose.CHARACTER, case["family"], case["tier"])
    changes: dict[str, Any] = {
        "model.base_model": case["model"],
        "dataset.path": case["data"],
        "dataset.resolution": case["res"],
        "dataset.enable_buckets": False,
        "dataset.latent_cache": LatentCache.MEMORY,
        "network.rank": case["rank"],
        "network.alpha": float(case["rank"]),
        "network.train_text_encoder": False,
        "run.max_steps": case["steps"],
        "run.save_every_n_epochs": 0,
        "run.state_every_minutes": 0.0,
        "run.output_dir": case["out"],
        "run.device": case["device"],
    }
    if case["family"] == "flux":
        changes["flux.cache_text_encoder_outputs_to_disk"] = False  # measured from scratch each time
        if case["tiny"] and cfg.memory.blocks_to_swap:
            changes["memory.blocks_to_swap"] = 2  # the tiny model has 4 blocks
    return update(cfg, **changes)


def case_train_ours(case: dict[str, Any]) -> dict[str, Any]:
    from lora_studio.core.events import StepFinished
    from lora_studio.training.trainer import run_training

    cfg = _config(case)
    times: list[float] = []

    def on_event(e: Any) -> None:
        if isinstance(e, StepFinished):
            _sync(case["device"])
            times.append(time.perf_counter())

    run_training(cfg, on_event)
    warm = times[1:]  # the first step warms kernels and caches up
    s_it = (warm[-1] - warm[0]) / (len(warm) - 1) if len(warm) > 1 else float("nan")
    return {"s_it": s_it, "peak_gb": _peak_gb(case["device"]), "settings": _settings(cfg)}


def _settings(cfg: Any) -> str:
    bits = [f"bs{cfg.run.batch_size}"]
    if cfg.run.gradient_checkpointing:
        bits.append("gc")
    if cfg.optimizer.optimizer != "adamw":
        bits.append(str(cfg.optimizer.optimizer))
    if cfg.memory.unet_weights != "full":
        bits.append(str(cfg.memory.unet_weights))
    if cfg.memory.blocks_to_swap:
        bits.append(f"swap{cfg.memory.blocks_to_swap}")
    return " ".join(bits)


def case_train_plain(case: dict[str, Any]) -> dict[str, Any]:
    """The same work written as a plain diffusers + peft loop (full-precision base weights: plain
    diffusers has no fp8/4-bit training path of its own)."""
    import torch
    from diffusers import DiffusionPipeline
    from peft import LoraConfig

    from lora_studio.training.network import unet_targets

    cfg = _config(case)
    device = case["device"]
    dtype = torch.bfloat16
    if case["family"] == "flux":
        from flux_plain_loop import plain_flux_train

        times = plain_flux_train(
            case["model"],
            device=device,
            dtype=dtype,
            res=case["res"],
            rank=cfg.network.rank,
            steps=case["steps"],
            batch=cfg.run.batch_size,
            gradient_checkpointing=cfg.run.gradient_checkpointing,
            optimizer=str(cfg.optimizer.optimizer),
        )
        return {"s_it": _s_it(times), "peak_gb": _peak_gb(device), "settings": "bf16 base"}
    pipe = DiffusionPipeline.from_pretrained(case["model"], torch_dtype=dtype, local_files_only=True)
    pipe.unet.to(device)
    pipe.vae.to(device)
    unet = pipe.unet
    unet.requires_grad_(False)
    targets = unet_targets(unet, cfg.network.target).all
    unet.add_adapter(LoraConfig(r=cfg.network.rank, lora_alpha=cfg.network.alpha, target_modules=targets))
    params = [p for p in unet.parameters() if p.requires_grad]
    for p in params:
        p.data = p.data.float()
    if cfg.run.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    if str(cfg.optimizer.optimizer) == "adamw8bit":
        import bitsandbytes as bnb

        opt = bnb.optim.AdamW8bit(params, lr=1e-4)
    else:
        opt = torch.optim.AdamW(params, lr=1e-4)
    bs, res = cfg.run.batch_size, case["res"]
    with torch.no_grad():  # encoded once, as our trainer's caches do
        pixels = torch.rand(bs, 3, res, res, device=device, dtype=dtype) * 2 - 1
        latents = pipe.vae.encode(pixels).latent_dist.sample() * pipe.vae.config.scaling_factor
        prompt = ["sks, picture"] * bs
        if hasattr(pipe, "text_encoder_2"):
            pipe.text_encoder.to(device)
            pipe.text_encoder_2.to(device)
            hidden, _, pooled, _ = pipe.encode_prompt(
                prompt, device=device, do_classifier_free_guidance=False
            )
            added = {
                "text_embeds": pooled,
                "time_ids": torch.tensor([[res, res, 0, 0, res, res]] * bs, device=device),
            }
        else:
            pipe.text_encoder.to(device)
            hidden = pipe.encode_prompt(prompt, device, 1, False)[0]
            added = None
        pipe.text_encoder.to("cpu")
        if hasattr(pipe, "text_encoder_2"):
            pipe.text_encoder_2.to("cpu")
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    sched = pipe.scheduler
    times = []
    unet.train()
    for _ in range(case["steps"]):
        noise = torch.randn_like(latents)
        t = torch.randint(0, sched.config.num_train_timesteps, (bs,), device=device)
        noisy = sched.add_noise(latents, noise, t)
        with torch.autocast(device, dtype=dtype):
            pred = unet(noisy, t, encoder_hidden_states=hidden, added_cond_kwargs=added).sample
        loss = torch.nn.functional.mse_loss(pred.float(), noise.float())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        times.append(time.perf_counter())
    return {"s_it": _s_it(times), "peak_gb": _peak_gb(device), "settings": "bf16 base"}


def _s_it(times: list[float]) -> float:
    warm = times[1:]  # the first step warms kernels and caches up
    return (warm[-1] - warm[0]) / (len(warm) - 1) if len(warm) > 1 else float("nan")


def _lora_files(case: dict[str, Any], unet: Any) -> list[str]:
    from random_models import make_lora

    out = Path(case["out"])
    out.mkdir(parents=True, exist_ok=True)
    return [
        str(make_lora(out / f"l{i}.safetensors", unet, case["family"], i, case["rank"]))
        for i in range(case["loras"])
    ]


def case_gen_ours(case: dict[str, Any]) -> dict[str, Any]:
    import torch

    from lora_studio.generation.engine import GenerationEngine
    from lora_studio.generation.request import GenerationRequest, LoraSpec

    device = case["device"]
    engine = GenerationEngine(device=device, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    entry = engine.model(case["model"])
    files = _lora_files(case, entry.pipe.unet)
    request = GenerationRequest(
        model=case["model"],
        prompt="sks, picture",
        loras=tuple(LoraSpec(f, 0.8) for f in files),
        steps=case["gen_steps"],
        seed=1,
        width=case["res"],
        height=case["res"],
        output_dir=str(Path(case["out"]) / "images"),
        fuse_loras=True,
    )
    engine.generate(request.with_(steps=2))  # warm-up (and the fuse)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    start = time.perf_counter()
    engine.generate(request)
    _sync(device)
    return {"it_s": case["gen_steps"] / (time.perf_counter() - start), "peak_gb": _peak_gb(device)}


def case_gen_plain(case: dict[str, Any]) -> dict[str, Any]:
    import torch
    from diffusers import DiffusionPipeline

    device = case["device"]
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    pipe = DiffusionPipeline.from_pretrained(case["model"], torch_dtype=dtype, local_files_only=True).to(
        device
    )
    pipe.set_progress_bar_config(disable=True)
    files = _lora_files(case, pipe.unet)
    for i, f in enumerate(files):
        pipe.load_lora_weights(f, adapter_name=f"l{i}")
    if files:
        pipe.set_adapters([f"l{i}" for i in range(len(files))], [0.8] * len(files))
        pipe.fuse_lora()

    def run(steps: int) -> None:
        g = torch.Generator("cpu").manual_seed(1)
        pipe("sks, picture", num_inference_steps=steps, width=case["res"], height=case["res"], generator=g)

    run(2)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    start = time.perf_counter()
    run(case["gen_steps"])
    _sync(device)
    return {"it_s": case["gen_steps"] / (time.perf_counter() - start), "peak_gb": _peak_gb(device)}


def case_prepare(case: dict[str, Any]) -> dict[str, Any]:
    from random_models import FAMILIES, save_pictures, save_random_model

    model = Path(case["model"])
    if case["tiny"] and case["family"] == "flux":
        from lora_studio.diffusion.tiny_flux import save_tiny_flux

        if not (model / "model_index.json").exists():
            save_tiny_flux(model.parent, layouts=("diffusers",))
    elif case["tiny"]:
        from lora_studio.diffusion.tiny import save_tiny_diffusers

        if not (model / "model_index.json").exists():
            save_tiny_diffusers(case["family"], model)
    else:
        import torch

        save_random_model(case["family"], model, torch.bfloat16)
    save_pictures(
        Path(case["data"]) / "img" / "1_sks", 4, case["res"] if case["tiny"] else FAMILIES[case["family"]][1]
    )
    return {}


CASES = {
    "prepare": case_prepare,
    "train-ours": case_train_ours,
    "train-plain": case_train_plain,
    "gen-ours": case_gen_ours,
    "gen-plain": case_gen_plain,
}


def run_case_here(raw: str) -> None:
    from lora_studio.core.paths import set_offline_environment

    set_offline_environment()
    case = json.loads(raw)
    if case["device"] == "cpu":
        import torch

        torch.set_num_threads(max(1, int(case.get("threads", 1))))
    result = CASES[case["kind"]](case)
    from case_runner import report

    report(result)


# -- the driver --------------------------------------------------------------------------------------
def run_case(case: dict[str, Any], timeout: float, min_start: float = 5.0) -> dict[str, Any]:
    """Run one case in a child process, killed after ``timeout`` s; not started with less than
    ``min_start`` s left."""
    if timeout < min_start:
        return {"error": "skipped (time budget spent)"}
    from case_runner import run_case as run_in_child

    return run_in_child(__file__, case, timeout)


def plan(args: argparse.Namespace, device: str, work: Path) -> list[dict[str, Any]]:
    from random_models import FAMILIES

    cases = []
    for family in args.families.split(","):
        res = 64 if args.tiny else FAMILIES[family][1]
        common = {
            "family": family,
            "device": device,
            "tiny": args.tiny,
            "res": res,
            "rank": args.rank,
            "steps": args.steps,
            "gen_steps": args.gen_steps,
            "threads": args.threads,
            "model": str(work / f"model-{family}"),
            "data": str(work / f"data-{family}"),
        }
        if family == "flux" and args.tiny:
            common["model"] = str(work / "model-flux" / "flux1-dev-tiny-diffusers")
        cases.append({**common, "kind": "prepare"})
        tiers = args.flux_tiers if family == "flux" else args.tiers
        for tier in (int(t) for t in tiers.split(",")):
            for kind in ("train-ours", "train-plain"):
                cases.append(
                    {**common, "kind": kind, "tier": tier, "out": str(work / f"{kind}-{family}-{tier}")}
                )
        for n in () if family == "flux" else (0, 3):  # FLUX generation is measured by its own issue
            for kind in ("gen-ours", "gen-plain"):
                cases.append({**common, "kind": kind, "loras": n, "out": str(work / f"{kind}-{family}-{n}")})
    return cases


def table(rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    def fmt(v: Any, spec: str) -> str:
        return format(v, spec) if isinstance(v, (int, float)) else "-"

    lines = [
        f"{'family':6} {'case':22} {'ours':>9} {'plain':>9} {'ours/plain':>10} {'ours GB':>8} {'plain GB':>8}  ours' settings",
    ]
    paired: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for case, result in rows:
        if case["kind"] == "prepare":
            continue
        what, who = case["kind"].rsplit("-", 1)
        label = f"train {case['tier']} GB (s/it)" if what == "train" else f"gen {case['loras']} LoRAs (it/s)"
        paired.setdefault((case["family"], label), {})[who] = result
    for (family, label), both in paired.items():
        ours, plain = both.get("ours", {}), both.get("plain", {})
        key = "s_it" if label.startswith("train") else "it_s"
        a, b = ours.get(key), plain.get(key)
        ratio = a / b if isinstance(a, float) and isinstance(b, float) and b else None
        note = ours.get("error") or ours.get("settings", "")
        if plain.get("error"):
            note += f" | plain: {plain['error']}"
        lines.append(
            f"{family:6} {label:22} {fmt(a, '9.3f'):>9} {fmt(b, '9.3f'):>9} {fmt(ratio, '10.2f'):>10} "
            f"{fmt(ours.get('peak_gb'), '8.2f'):>8} {fmt(plain.get('peak_gb'), '8.2f'):>8}  {note}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny models on the CPU (CI)")
    parser.add_argument("--families", default="sd1,sdxl")
    parser.add_argument("--tiers", default=",".join(str(t) for t in TIERS))
    parser.add_argument("--flux-tiers", default="16", help="FLUX.1 presets to measure (12, 16, 24)")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--gen-steps", type=int, default=20)
    parser.add_argument("--budget", type=float, default=540.0, help="seconds for the whole run")
    parser.add_argument("--case-timeout", type=float, default=150.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", default="", help="folder for models and outputs (default: a temp folder)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        run_case_here(args.case)
        return 0
    import torch

    device = "cpu" if args.tiny else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("No CUDA device: run with --tiny for the CPU check.", file=sys.stderr)
        return 2
    if args.tiny:
        args.rank, args.steps, args.gen_steps = min(args.rank, 4), min(args.steps, 3), min(args.gen_steps, 3)
    deadline = time.monotonic() + args.budget
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        rows = []
        for case in plan(args, device, work):
            limit = min(
                args.case_timeout * (3 if case["kind"] == "prepare" else 1), deadline - time.monotonic()
            )
            result = run_case(case, limit)
            if case["kind"] == "prepare" and "error" in result:
                print(f"could not build the {case['family']} model: {result['error']}", file=sys.stderr)
            rows.append((case, result))
    print(table(rows))
    failed = [r for c, r in rows if "error" in r and not str(r["error"]).startswith("skipped")]
    return 1 if args.tiny and failed else 0


if __name__ == "__main__":
    sys.exit(main())
