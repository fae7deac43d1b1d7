"""benchmarks/bench_gpu.py keeps working: ``--tiny`` runs every kind of case on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench_gpu.py"


def test_tiny_run_prints_one_table_with_every_case(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--tiny", "--families", "sdxl", "--tiers", "8", "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["family", "case", "ours", "plain"]
    rows = {" ".join(line.split()[1:5]): line.split() for line in lines[1:]}
    assert set(rows) == {"train 8 GB (s/it)", "gen 0 LoRAs (it/s)", "gen 3 LoRAs (it/s)"}
    for cells in rows.values():
        ours, plain = float(cells[5]), float(cells[6])  # measured numbers, not "-"
        assert ours > 0 and plain > 0
    assert "fp8" in rows["train 8 GB (s/it)"][-1]  # the 8 GB SDXL preset keeps its UNet in fp8


def _load_bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_gpu", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_case_that_runs_too_long_is_cut_off_and_reported(tmp_path: Path) -> None:
    bench = _load_bench()
    case = {
        "kind": "prepare",
        "device": "cpu",
        "tiny": True,
        "family": "sd1",
        "model": str(tmp_path / "m"),
        "data": str(tmp_path / "d"),
        "res": 64,
    }
    assert bench.run_case(case, timeout=0.5, min_start=0) == {"error": "timed out after 0 s"}
    assert bench.run_case(case, timeout=2) == {"error": "skipped (time budget spent)"}


@pytest.mark.parametrize("missing", ["ours", "plain"])
def test_table_shows_failures_in_words(missing: str) -> None:
    bench = _load_bench()
    case = {"family": "sd1", "tier": 6}
    ok = {"s_it": 0.5, "peak_gb": 3.9, "settings": "bs1 gc"}
    rows = [
        ({**case, "kind": "train-ours"}, ok if missing != "ours" else {"error": "out of memory"}),
        ({**case, "kind": "train-plain"}, ok if missing != "plain" else {"error": "timed out after 150 s"}),
    ]
    text = bench.table(rows)
    assert "train 6 GB (s/it)" in text
    assert ("out of memory" if missing == "ours" else "plain: timed out after 150 s") in text


def test_tiny_flux_cases_run(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--tiny", "--families", "flux", "--flux-tiers", "12,16", "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {" ".join(line.split()[1:5]): line.split() for line in proc.stdout.strip().splitlines()[1:]}
    assert set(rows) == {"train 12 GB (s/it)", "train 16 GB (s/it)"}
    assert all(float(cells[5]) > 0 and float(cells[6]) > 0 for cells in rows.values())
    assert "fp8" in rows["train 16 GB (s/it)"] and "swap2" in rows["train 12 GB (s/it)"]  # settings cells
