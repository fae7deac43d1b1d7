"""``lora-studio train`` end to end on a tiny model and a kohya-style folder."""

from __future__ import annotations

from pathlib import Path

from lora_studio.cli.main import main
from lora_studio.training.config import save_config

from .conftest import make_images, tiny_config


def test_cli_train_and_failure(tmp_path: Path, tiny_sd1_dir: Path, capsys) -> None:
    img_dir = tmp_path / "img" / "2_sks"
    for p in make_images(img_dir, 2):
        p.with_suffix(".txt").write_text("sks, photo", encoding="utf-8")
    cfg = tiny_config(tiny_sd1_dir, tmp_path, **{"dataset.path": "img", "run.output_dir": "out"})
    save_config(cfg, tmp_path / "train.toml")
    assert main(["train", str(tmp_path / "train.toml"), "--max-steps", "2"]) == 0
    out = capsys.readouterr()
    assert "done:" in out.out and (tmp_path / "out" / "t.safetensors").exists()
    assert "2/2" in out.err
    assert main(["train", str(tmp_path / "train.toml"), "--max-steps", "3", "--resume", "latest"]) == 0
    bad = tiny_config(tmp_path / "missing-model", tmp_path, **{"dataset.path": "img"})
    save_config(bad, tmp_path / "bad.toml")
    assert main(["train", str(tmp_path / "bad.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error:") and "base model" in err
