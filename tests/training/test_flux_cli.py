"""``lora-studio train`` on FLUX: a LoRA Studio settings file and an sd-scripts FLUX config."""

from __future__ import annotations

from pathlib import Path

from safetensors import safe_open

from lora_studio.cli.main import main
from lora_studio.training.config import save_config

from .conftest import make_images, tiny_config


def _kohya_folder(root: Path) -> None:
    for p in make_images(root / "img" / "1_sks", 2):
        p.with_suffix(".txt").write_text("a photo of sks, a red square", encoding="utf-8")


def _modules(path: Path) -> set[str]:
    with safe_open(str(path), "pt") as f:
        return {k.split(".")[0] for k in f.keys()}


def test_cli_trains_a_flux_settings_file(tmp_path: Path, tiny_flux_model: Path, capsys) -> None:
    _kohya_folder(tmp_path)
    cfg = tiny_config(tiny_flux_model, tmp_path, **{"dataset.path": "img", "run.output_dir": "out"})
    save_config(cfg, tmp_path / "train.toml")
    assert main(["train", str(tmp_path / "train.toml"), "--max-steps", "2"]) == 0
    assert "done:" in capsys.readouterr().out
    modules = _modules(tmp_path / "out" / "t.safetensors")
    assert "lora_unet_double_blocks_0_img_attn_qkv" in modules and "lora_unet_single_blocks_1_linear1" in modules


def test_cli_trains_an_sd_scripts_flux_config(tmp_path: Path, tiny_flux_files: dict[str, Path], capsys) -> None:
    _kohya_folder(tmp_path)
    files = {k: str(v).replace("\\", "/") for k, v in tiny_flux_files.items()}
    (tmp_path / "flux.toml").write_text(
        f'''
pretrained_model_name_or_path = "{files["transformer"]}"
clip_l = "{files["clip_l"]}"
t5xxl = "{files["t5xxl"]}"
ae = "{files["ae"]}"
train_data_dir = "{(tmp_path / "img").as_posix()}"
output_dir = "{(tmp_path / "out").as_posix()}"
output_name = "kohya-flux"
resolution = "64,64"
network_module = "networks.lora_flux"
network_dim = 4
network_alpha = 4
network_train_unet_only = true
optimizer_type = "adamw"
learning_rate = 1e-3
mixed_precision = "bf16"
save_precision = "bf16"
fp8_base = true
blocks_to_swap = 2
gradient_checkpointing = true
cache_latents = true
cache_text_encoder_outputs = true
cache_text_encoder_outputs_to_disk = true
timestep_sampling = "shift"
discrete_flow_shift = 3.1582
model_prediction_type = "raw"
guidance_scale = 1.0
t5xxl_max_token_length = 32
apply_t5_attn_mask = true
max_train_epochs = 1
seed = 1
''',
        encoding="utf-8",
    )
    assert main(["train", str(tmp_path / "flux.toml"), "--max-steps", "2"]) == 0
    captured = capsys.readouterr()
    assert "not supported" not in captured.out + captured.err and "unsupported" not in captured.out + captured.err
    path = tmp_path / "out" / "kohya-flux.safetensors"
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        dtype = f.get_tensor("lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight").dtype
    assert meta["ss_base_model_version"] == "flux1" and meta["ss_apply_t5_attn_mask"] == "True"
    assert str(dtype) == "torch.bfloat16"
