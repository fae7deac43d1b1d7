"""Worker for the two-process test: ``torchrun --nproc_per_node 2 dist_worker.py MODEL OUT``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lora_studio.core.paths import set_offline_environment  # noqa: E402
from tests.training.conftest import make_dataset, tiny_config  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    set_offline_environment()
    from lora_studio.training.trainer import run_training

    model, out = Path(sys.argv[1]), Path(sys.argv[2])
    ds = make_dataset(out / "ds", 4)
    cfg = tiny_config(model, out, **{"run.epochs": 2, "run.batch_size": 1, "run.save_every_n_epochs": 1})
    result = run_training(cfg, dataset=ds, keep_pipeline=True)
    import torch.distributed as dist

    rank = dist.get_rank() if dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_initialized() else 1
    weights = (
        {
            k: v.sum().item()
            for k, v in sorted(
                __import__("peft").utils.get_peft_model_state_dict(result.pipeline.unet).items()
            )
        }
        if result.pipeline
        else {}
    )
    (out / f"rank{rank}.json").write_text(
        json.dumps({"world": world, "steps": result.steps, "losses": result.losses, "weights": weights})
    )


if __name__ == "__main__":
    main()
