"""Packaging self-check: proves a frozen LoRA Studio folder is complete and portable.

Bundled into every build (it is a few KB) and run with ``LORA_STUDIO_PACKAGING_CHECK=1``:

    LORA_STUDIO_PACKAGING_CHECK=1 QT_QPA_PLATFORM=offscreen ./lora-studio [--expect-portable] [--json FILE]

It checks what only a frozen build can get wrong: the bundled resources and package metadata, the
portable data folder, Qt's platform plugins, lazily imported diffusers/transformers/peft modules,
torch's native libraries, multiprocessing in a frozen process (freeze_support), and a tiny
generation plus one LoRA training step. It prints one line per check and exits 0 only if all pass.
The app's own ``--selftest`` (lora_studio.app.selftest) tests the app; this tests the packaging.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _square(x: int) -> int:  # module level so a spawned child can import it
    return x * x


class Checker:
    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            detail = fn()
            ok = True
        except Exception as exc:  # report every failure, keep checking the rest
            detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            ok = False
        seconds = round(time.perf_counter() - start, 2)
        self.results.append({"check": name, "ok": ok, "seconds": seconds, "detail": detail})
        first = str(detail).splitlines()[0] if detail else ""
        print(f"[{'PASS' if ok else 'FAIL'}] {name} ({seconds}s) {first}", flush=True)
        if not ok:
            print(detail, flush=True)
        return detail if ok else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lora-studio (packaging check)")
    parser.add_argument("--expect-portable", action="store_true", help="fail unless portable mode is on")
    parser.add_argument(
        "--expect-torch-runtime", action="store_true", help="fail unless torch-runtime/ is used"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from lora_studio.core import paths

    paths.set_offline_environment()
    exe_dir = Path(sys.executable).resolve().parent
    c = Checker()

    def frozen() -> str:
        assert paths.is_frozen(), "sys.frozen is not set: this is not a frozen build"
        return f"executable={sys.executable} _MEIPASS={getattr(sys, '_MEIPASS', None)}"

    def layout() -> str:
        root = paths.portable_root()
        data = paths.data_dir()
        models = paths.default_models_root()
        if args.expect_portable:
            assert root == exe_dir, f"portable root {root} != executable folder {exe_dir}"
            assert data == exe_dir / "data", f"data folder {data} is outside the portable folder"
            assert models == exe_dir / "models", f"models root {models} is outside the portable folder"
            for sub in ("checkpoints", "loras", "captioners"):
                assert (models / sub).is_dir(), f"missing {models / sub}"
            # Everything the app writes must land inside the folder.
            for var in ("HF_HOME", "TORCH_HOME"):
                assert Path(os.environ[var]).is_relative_to(exe_dir), f"{var}={os.environ[var]} is outside"
        probe = data / "packaging-check.txt"
        probe.write_text("ünïcødé ✓ 中文\n", encoding="utf-8")
        assert probe.read_text(encoding="utf-8") == "ünïcødé ✓ 中文\n"
        probe.unlink()
        return f"portable_root={root} data_dir={data} models={models}"

    def resources() -> str:
        res = paths.resources_dir()
        assert res.is_dir(), f"resources folder missing: {res}"
        sizes = {n: (res / "clip_tokenizer" / n).stat().st_size for n in ("vocab.json", "merges.txt")}
        sizes["t5 tokenizer.json"] = (res / "t5_tokenizer" / "tokenizer.json").stat().st_size  # FLUX.1
        assert all(sizes.values()), sizes
        return f"{res} {sizes}"

    def metadata() -> str:
        from importlib.metadata import version

        names = [
            "lora-studio",
            "diffusers",
            "transformers",
            "peft",
            "accelerate",
            "safetensors",
            "huggingface-hub",
        ]
        names.append("torch")
        return " ".join(f"{n}={version(n)}" for n in names)

    def torch_check() -> str:
        import torch

        x = torch.randn(64, 64)
        y = (x @ x.T).sum().item()
        assert y == y, "NaN from a matmul"
        where = Path(torch.__file__).resolve()
        if args.expect_torch_runtime:
            assert where.is_relative_to(exe_dir / "torch-runtime"), f"torch came from {where}"
        cuda = torch.cuda.is_available()
        gpu = torch.cuda.get_device_name(0) if cuda else "-"
        return (
            f"torch {torch.__version__} from {where.parent} cuda_build={torch.version.cuda} "
            f"cuda_available={cuda} gpu={gpu} threads={torch.get_num_threads()}"
        )

    def device_report() -> str:
        try:
            from lora_studio.diffusion import devices
        except ModuleNotFoundError as exc:
            if exc.name != "lora_studio.diffusion.devices":
                raise
            return "lora_studio.diffusion.devices not written yet (skipped)"
        report = devices.device_report()
        return str(report).replace("\n", " | ")

    def qt_check() -> str:
        import pyqtgraph as pg
        from PySide6 import QtCore, QtWidgets

        app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
        win = QtWidgets.QMainWindow()
        plot = pg.PlotWidget()
        plot.plot([0, 1, 2, 3], [3, 1, 2, 0])
        win.setCentralWidget(plot)
        win.resize(320, 200)
        win.show()
        app.processEvents()
        shot = paths.data_dir() / "packaging-check.png"
        assert win.grab().save(str(shot)), "could not save a screenshot"
        size = shot.stat().st_size
        shot.unlink()
        win.close()
        return f"Qt {QtCore.qVersion()} platform={app.platformName()} screenshot={size} bytes"

    def multiprocessing_check() -> str:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # what Windows always uses; needs freeze_support in the entry
        with ctx.Pool(1) as pool:
            out = pool.map(_square, [3, 4])
        assert out == [9, 16], out
        return f"spawned child returned {out}"

    def generation_and_training() -> str:
        import torch
        from diffusers import DDPMScheduler
        from peft import LoraConfig
        from safetensors.torch import load_file, save_file

        from lora_studio.diffusion.tiny import build_tiny_pipeline

        torch.manual_seed(0)
        pipe = build_tiny_pipeline("sd1", seed=0)
        image = pipe(
            "a photo of a cat", num_inference_steps=2, height=64, width=64, output_type="pil"
        ).images[0]
        assert image.size == (64, 64)
        # One LoRA training step through PEFT on the UNet.
        unet = pipe.unet
        unet.requires_grad_(False)
        unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
        params = [p for p in unet.parameters() if p.requires_grad]
        assert params, "PEFT added no trainable parameters"
        opt = torch.optim.AdamW(params, lr=1e-3)
        latents = torch.randn(1, 4, 8, 8)
        noise = torch.randn_like(latents)
        t = torch.tensor([500])
        ids = pipe.tokenizer(
            ["a photo of a cat"], padding="max_length", max_length=77, return_tensors="pt"
        ).input_ids
        hidden = pipe.text_encoder(ids)[0]
        noisy = DDPMScheduler.from_config(pipe.scheduler.config).add_noise(latents, noise, t)
        pred = unet(noisy, t, hidden).sample
        loss = torch.nn.functional.mse_loss(pred, noise)
        loss.backward()
        opt.step()
        assert torch.isfinite(loss), loss
        lora = {n: p.detach().contiguous() for n, p in unet.named_parameters() if "lora_" in n}
        out = paths.data_dir() / "packaging-check-lora.safetensors"
        save_file(lora, str(out), metadata={"ss_network_module": "networks.lora"})
        back = load_file(str(out))
        out.unlink()
        assert back.keys() == lora.keys()
        return f"image {image.size}, loss {loss.item():.4f}, {len(lora)} LoRA tensors saved and reloaded"

    def bitsandbytes_check() -> str:
        try:
            import bitsandbytes
        except ImportError as exc:
            return f"not bundled or not importable here ({exc}); optional"
        return f"bitsandbytes {bitsandbytes.__version__}"

    def onnxruntime_check() -> str:
        import onnxruntime

        providers = onnxruntime.get_available_providers()
        assert "CPUExecutionProvider" in providers, providers
        return f"onnxruntime {onnxruntime.__version__} providers={providers}"

    c.run("frozen", frozen)
    c.run("portable layout", layout)
    c.run("resources", resources)
    c.run("package metadata", metadata)
    c.run("torch", torch_check)  # before Qt: torch after Qt fails on Windows (WinError 1114)
    c.run("device report", device_report)
    c.run("qt + pyqtgraph offscreen", qt_check)
    c.run("multiprocessing spawn", multiprocessing_check)
    c.run("tiny generation + LoRA step", generation_and_training)
    c.run("onnxruntime (WD14 captioner)", onnxruntime_check)
    c.run("bitsandbytes (optional)", bitsandbytes_check)

    failed = [r["check"] for r in c.results if not r["ok"]]
    if args.json:
        Path(args.json).write_text(json.dumps(c.results, indent=2, default=str), encoding="utf-8")
    print(f"packaging check: {len(c.results) - len(failed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0
