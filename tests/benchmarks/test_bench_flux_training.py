"""benchmarks/bench_flux_training.py keeps working (a very short run on the tiny FLUX model)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_short_run_prints_both_figures_and_the_ratio() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_flux_training.py"), "--steps", "3", "--res", "64", "--tokens", "32"],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    ours = float(next(x for x in lines if x.startswith("LoRA Studio")).split()[-1])
    plain = float(next(x for x in lines if x.startswith("diffusers + peft")).split()[-1])
    ratio = float(lines[-1].split()[-1])
    assert ours > 0 and plain > 0 and abs(ratio - ours / plain) < 0.05 * ratio + 0.01
