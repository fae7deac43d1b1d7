"""Two CPU processes (``accelerate launch``, gloo) train one LoRA and write ONE set of files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_two_processes_write_one_file(tmp_path: Path, tiny_sd1_dir: Path) -> None:
    worker = Path(__file__).with_name("dist_worker.py")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    # `accelerate launch --multi_gpu` runs torchrun; without CUDA the processes use gloo on the CPU.
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533",
        str(worker), str(tiny_sd1_dir), str(tmp_path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["world"] == 2 and r1["world"] == 2
    # 4 images, batch 1, 2 processes -> 2 steps per epoch, 2 epochs
    assert r0["steps"] == r1["steps"] == 4
    assert r0["losses"] != r1["losses"]  # each process saw its own share of the data
    assert r0["weights"] == pytest.approx(r1["weights"], abs=1e-5)  # DDP kept the replicas equal
    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("*.safetensors")) == [
        "t-e0001-s000002.safetensors",
        "t.safetensors",
    ]
    assert len(list((out / "state").glob("*.pt"))) == 1
    assert not list(out.rglob("*.tmp"))
