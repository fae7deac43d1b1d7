"""Running one benchmark case in a child process of its own (so each case's peak memory is its own,
and a case that runs out of memory or time can't take the table down). Torch-free.

The child is the same script with ``--case JSON``; it prints its figures as one ``RESULT {json}`` line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

RESULT = "RESULT "
ROOT = Path(__file__).resolve().parent.parent


def report(result: dict[str, Any]) -> None:
    """In the child: hand the case's figures to the parent."""
    print(RESULT + json.dumps(result), flush=True)


def run_case(script: str | Path, case: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``script --case JSON`` and return its result, or ``{"error": …}`` in plain words."""
    cmd = [sys.executable, str(Path(script).resolve()), "--case", json.dumps(case)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT) :])
    stderr = proc.stderr or ""
    if "out of memory" in stderr.lower():
        return {"error": "out of memory"}
    tail = (stderr or proc.stdout).strip().splitlines()[-5:] or ["no output"]
    return {"error": f"exit {proc.returncode}: " + " | ".join(line.strip() for line in tail)[:300]}
