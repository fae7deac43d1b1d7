"""Training speed and memory: LoRA Studio's trainer vs a minimal diffusers + peft loop.

The model is SD1.5's architecture (UNet block layout, CLIP ViT-L text encoder, SD VAE) with random
weights; ``--size small`` (default) narrows the UNet channels so a CPU finishes in minutes,
``--size full`` uses the real SD1.5 UNet config. Same model, data, rank, batch, precision and
optimizer for both. Each variant runs in a fresh subprocess so peak RSS is its own.

    python benchmarks/bench_training.py [--size small|full] [--res 128] [--steps 6] [--threads 1]

Prints s/step, peak memory (CUDA peak allocated when on a GPU, else peak RSS) and the ratios
ours / plain, without caching and with latent + text-encoder caching.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SD15_UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=[320, 640, 1280, 1280],
    down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
    up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
    cross_attention_dim=768,
    attention_head_dim=8,
)
SD15_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[128, 256, 512, 512],
    layers_per_block=2,
    latent_channels=4,
    sample_size=512,
    scaling_factor=0.18215,
)
CLIP_L = dict(
    vocab_size=49408,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
    projection_dim=768,
    bos_token_id=49406,
    eos_token_id=49407,
    pad_token_id=49407,
)
TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2"]


def build_model(out: Path, size: str) -> Path:
    import torch
    from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from lora_studio.diffusion.tokenizer import SD1_PAD, load_clip_tokenizer

    torch.manual_seed(0)
    unet_cfg = dict(SD15_UNET)
    vae_cfg = dict(SD15_VAE)
    if size == "small":
        unet_cfg.update(block_out_channels=[64, 128, 256, 256], layers_per_block=1)
        vae_cfg.update(block_out_channels=[32, 64, 128, 128], layers_per_block=1)
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL(**vae_cfg),
        text_encoder=CLIPTextModel(CLIPTextConfig(**CLIP_L)),
        tokenizer=load_clip_tokenizer(SD1_PAD),
        unet=UNet2DConditionModel(**unet_cfg),
        scheduler=DDPMScheduler(
            beta_schedule="scaled_linear",
            beta_start=0.00085,
            beta_end=0.012,
            clip_sample=False,
            steps_offset=1,
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)
    return out


def make_data(folder: Path, n: int, res: int) -> list[Path]:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = folder / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (res, res, 3), dtype=np.uint8)).save(p)
        p.with_suffix(".txt").write_text(f"sks, photo number {i}, a test picture", encoding="utf-8")
        paths.append(p)
    return paths


def peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    # VmHWM (peak resident set) restarts at exec, unlike ru_maxrss, which a child inherits.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(model: Path, data: Path, args: argparse.Namespace, cached: bool) -> dict:
    from lora_studio.core.events import StepFinished
    from lora_studio.training.config import LatentCache, NetworkTarget, Precision, TrainConfig, update
    from lora_studio.training.trainer import run_training

    cfg = update(
        TrainConfig(),
        **{
            "model.base_model": str(model),
            "dataset.path": str(data),
            "dataset.resolution": args.res,
            "dataset.enable_buckets": False,
            "dataset.latent_cache": LatentCache.MEMORY if cached else LatentCache.NONE,
            "dataset.cache_text_encoder_outputs": cached,
            "network.rank": args.rank,
            "network.alpha": float(args.rank),
            "network.target": NetworkTarget.ATTENTION_FF,
            "optimizer.max_grad_norm": 0.0,
            "run.precision": Precision.FP32,
            "run.batch_size": args.batch,
            "run.max_steps": args.steps + args.warmup,
            "run.save_every_n_epochs": 0,
            "run.state_every_minutes": 0.0,
            "run.output_dir": str(data.parent / "out"),
            "run.device": "cpu" if args.cpu else "auto",
        },
    )
    times: list[float] = []

    def reporter(e):
        if isinstance(e, StepFinished):
            times.append(time.perf_counter())

    t0 = time.perf_counter()
    run_training(cfg, reporter)
    timed = times[args.warmup :]
    s_per_step = (
        (timed[-1] - times[args.warmup - 1]) / len(timed) if args.warmup else (timed[-1] - t0) / len(timed)
    )
    return {"s_per_step": s_per_step, "total_s": time.perf_counter() - t0}


def run_plain(model: Path, data: Path, args: argparse.Namespace, cached: bool) -> dict:
    """The minimal loop people write from the diffusers docs (no extras)."""
    import numpy as np
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from PIL import Image

    t0 = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    pipe = StableDiffusionPipeline.from_pretrained(model, local_files_only=True)
    unet, vae, te, tok, sched = pipe.unet, pipe.vae, pipe.text_encoder, pipe.tokenizer, pipe.scheduler
    for m in (unet, vae, te):
        m.requires_grad_(False)
        m.to(device)
    unet.add_adapter(
        LoraConfig(r=args.rank, lora_alpha=args.rank, target_modules=TARGETS, init_lora_weights=True)
    )
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    images = sorted(data.rglob("*.png"))
    captions = [p.with_suffix(".txt").read_text(encoding="utf-8") for p in images]
    pixels = [
        torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), np.float32) / 127.5 - 1).permute(2, 0, 1)
        for p in images
    ]

    def encode_image(px):
        with torch.no_grad():
            return vae.encode(px.to(device)).latent_dist.sample() * vae.config.scaling_factor

    def encode_text(caps):
        ids = tok(caps, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        with torch.no_grad():
            return te(ids.to(device))[0]

    lat_cache = [encode_image(p[None]) for p in pixels] if cached else None
    te_cache = [encode_text([c]) for c in captions] if cached else None
    times = []
    n = len(images)
    for step in range(args.steps + args.warmup):
        idx = [(step * args.batch + k) % n for k in range(args.batch)]
        if cached:
            latents = torch.cat([lat_cache[i] for i in idx])
            hidden = torch.cat([te_cache[i] for i in idx])
        else:
            latents = encode_image(torch.stack([pixels[i] for i in idx]))
            hidden = encode_text([captions[i] for i in idx])
        noise = torch.randn_like(latents)
        t = torch.randint(0, sched.config.num_train_timesteps, (latents.shape[0],), device=device)
        noisy = sched.add_noise(latents, noise, t)
        pred = unet(noisy, t, encoder_hidden_states=hidden).sample
        loss = torch.nn.functional.mse_loss(pred.float(), noise.float())
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter())
    timed = times[args.warmup :]
    return {
        "s_per_step": (timed[-1] - times[args.warmup - 1]) / len(timed),
        "total_s": time.perf_counter() - t0,
    }


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    model, data = Path(args.model), Path(args.data)
    fn = run_ours if args.variant.startswith("ours") else run_plain
    result = fn(model, data, args, args.variant.endswith("cached"))
    result["peak_mb"] = peak_memory_mb()
    print("RESULT " + json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["small", "full"], default="small")
    ap.add_argument("--res", type=int, default=128)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cpu", action="store_true")
    ap.add_argument(
        "--repeat", type=int, default=2, help="runs per variant (interleaved); the fastest counts"
    )
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    from lora_studio.core.paths import set_offline_environment

    set_offline_environment()
    if args.variant:
        child(args)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    model = build_model(work / "model", args.size)
    data = work / "data" / "1_sks"
    make_data(data, args.images, args.res)
    results: dict[str, dict] = {}
    passthrough = [
        f"--{k}={getattr(args, k)}" for k in ("res", "steps", "warmup", "batch", "rank", "threads")
    ]
    for variant in ("plain", "ours", "plain_cached", "ours_cached") * args.repeat:
        cmd = [
            sys.executable,
            __file__,
            f"--variant={variant}",
            f"--model={model}",
            f"--data={data.parent}",
            *passthrough,
        ] + (["--cpu"] if args.cpu else [])
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not line:
            print(proc.stderr[-3000:])
            raise SystemExit(f"{variant} failed")
        r = json.loads(line[0][7:])
        best = results.get(variant)
        results[variant] = {
            "s_per_step": min(r["s_per_step"], best["s_per_step"]) if best else r["s_per_step"],
            "peak_mb": max(r["peak_mb"], best["peak_mb"]) if best else r["peak_mb"],
            "total_s": r["total_s"],
        }
        print(
            f"{variant:13s} {r['s_per_step']:.3f} s/step  peak {r['peak_mb']:.0f} MB  (total {r['total_s']:.1f} s)"
        )
    p, o, pc, oc = (results[k] for k in ("plain", "ours", "plain_cached", "ours_cached"))
    print(f"\nbest of {args.repeat} interleaved runs each:")
    for k, r in results.items():
        print(f"{k:13s} {r['s_per_step']:.3f} s/step  peak {r['peak_mb']:.0f} MB")
    print(
        f"\nSD1.5-architecture UNet ({args.size}), {args.res}px, batch {args.batch}, rank {args.rank}, fp32"
    )
    print(
        f"ratio ours/plain, no caching : time {o['s_per_step'] / p['s_per_step']:.2f}  "
        f"memory {o['peak_mb'] / p['peak_mb']:.2f}"
    )
    print(f"ratio ours cached / plain (no cache): time {oc['s_per_step'] / p['s_per_step']:.2f}")
    print(
        f"ratio ours cached / plain cached    : time {oc['s_per_step'] / pc['s_per_step']:.2f}  "
        f"memory {oc['peak_mb'] / pc['peak_mb']:.2f}"
    )


if __name__ == "__main__":
    main()
