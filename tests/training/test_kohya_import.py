"""Import of kohya_ss GUI JSON presets and sd-scripts TOML / dataset TOML."""

from __future__ import annotations

import json
from pathlib import Path

from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.training.config import LatentCache, NetworkTarget, OptimizerKind, Precision, SchedulerKind
from lora_studio.training.kohya_import import (
    import_kohya_gui_json,
    import_sd_scripts_toml,
    parse_prompt_line,
)

GUI = {
    "LoRA_type": "Kohya LoCon",
    "pretrained_model_name_or_path": "C:/models/sdxl.safetensors",
    "sdxl": True,
    "train_data_dir": "C:/data/img",
    "reg_data_dir": "",
    "output_dir": "C:/out",
    "output_name": "mylora",
    "network_dim": "32",
    "network_alpha": "16",
    "conv_dim": 8,
    "conv_alpha": "4",
    "learning_rate": "0.0001",
    "unet_lr": 0.0001,
    "text_encoder_lr": "5e-05",
    "optimizer": "AdamW8bit",
    "optimizer_args": "weight_decay=0.05 betas=0.9,0.99",
    "lr_scheduler": "cosine_with_restarts",
    "lr_scheduler_num_cycles": "3",
    "lr_warmup": "10",
    "train_batch_size": 2,
    "epoch": "8",
    "max_train_steps": "",
    "max_resolution": "1024,1024",
    "enable_bucket": True,
    "min_bucket_reso": 256,
    "max_bucket_reso": "2048",
    "mixed_precision": "bf16",
    "save_precision": "fp16",
    "seed": "1234",
    "keep_tokens": "1",
    "shuffle_caption": True,
    "caption_extension": ".txt",
    "clip_skip": "2",
    "noise_offset": "0.05",
    "min_snr_gamma": 5,
    "gradient_checkpointing": True,
    "cache_latents": True,
    "cache_latents_to_disk": True,
    "xformers": "xformers",
    "v_parameterization": False,
    "save_every_n_epochs": "2",
    "sample_prompts": "a photo of sks --n blurry --w 1024 --h 768 --d 42 --l 6.5 --s 25",
    "rank_dropout": 0.1,
    "scale_weight_norms": 1.0,
    "file_path": "x.json",
}


def test_gui_json_with_loose_types(tmp_path: Path) -> None:
    p = tmp_path / "preset.json"
    p.write_text(json.dumps(GUI), encoding="utf-8")
    r = import_kohya_gui_json(p)
    c = r.config
    assert c.model.family == ModelFamily.SDXL and c.model.clip_skip == 2
    assert c.model.prediction == Prediction.EPSILON
    assert c.network.rank == 32 and c.network.alpha == 16.0
    assert c.network.target == NetworkTarget.ATTENTION_FF_CONV and c.network.conv_rank == 8
    assert c.network.train_text_encoder and c.optimizer.text_encoder_lr == 5e-5
    assert c.optimizer.optimizer == OptimizerKind.ADAMW8BIT
    assert c.optimizer.args == {"weight_decay": 0.05, "betas": [0.9, 0.99]}
    assert c.scheduler.scheduler == SchedulerKind.COSINE_WITH_RESTARTS and c.scheduler.num_cycles == 3
    assert c.scheduler.warmup_ratio == 0.1
    assert c.run.epochs == 8 and c.run.max_steps == 0 and c.run.seed == 1234 and c.run.batch_size == 2
    assert c.run.precision == Precision.BF16 and c.run.save_precision == Precision.FP16
    assert c.dataset.resolution == 1024 and c.dataset.bucket_max == 2048 and c.dataset.keep_tokens == 1
    assert c.dataset.latent_cache == LatentCache.DISK
    assert c.sample.prompts[0].prompt == "a photo of sks" and c.sample.prompts[0].height == 768
    assert c.sample.prompts[0].cfg == 6.5 and c.sample.prompts[0].seed == 42
    assert "rank_dropout" in r.not_understood and "scale_weight_norms" in r.not_understood
    assert not any(u.startswith("file_path") for u in r.not_understood)


def test_unsupported_lora_type_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "loha.json"
    p.write_text(json.dumps({"LoRA_type": "LyCORIS/iA3", "network_dim": 8}), encoding="utf-8")
    r = import_kohya_gui_json(p)
    assert any(u.startswith("LoRA_type") for u in r.not_understood)


def test_sd_scripts_toml_flattens_tables_and_reads_dataset_config(tmp_path: Path) -> None:
    ds = tmp_path / "dataset.toml"
    ds.write_text(
        """
[general]
shuffle_caption = true
caption_extension = ".caption"
keep_tokens = 1
resolution = 512

[[datasets]]
resolution = [768, 768]
batch_size = 4
enable_bucket = true

  [[datasets.subsets]]
  image_dir = "C:/img/sks"
  num_repeats = 10
  class_tokens = "sks dog"
  keep_tokens = 2

  [[datasets.subsets]]
  image_dir = "C:/img/dog"
  is_reg = true
  num_repeats = 1
  random_crop = true
""",
        encoding="utf-8",
    )
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f"""
[model_arguments]
pretrained_model_name_or_path = "model.safetensors"
v2 = true
v_parameterization = true

[training_arguments]
max_train_steps = 1600
mixed_precision = "fp16"
xformers = true
some_new_flag = 3

[network_arguments]
network_module = "networks.lora"
network_dim = 16
network_alpha = 8
network_train_unet_only = true
network_args = ["conv_dim=4", "conv_alpha=1", "algo=locon"]

[optimizer_arguments]
optimizer_type = "Prodigy"
learning_rate = 1.0
lr_scheduler = "constant"

dataset_config = "{ds.as_posix()}"
""",
        encoding="utf-8",
    )
    r = import_sd_scripts_toml(cfg)
    c = r.config
    assert c.model.family == ModelFamily.SD2 and c.model.prediction == Prediction.V
    assert c.run.max_steps == 1600 and c.run.precision == Precision.FP16
    assert c.network.rank == 16 and not c.network.train_text_encoder
    assert c.network.target == NetworkTarget.ATTENTION_FF_CONV and c.network.conv_rank == 4
    assert c.optimizer.optimizer == OptimizerKind.PRODIGY
    # dataset precedence: subset keep_tokens 2 > general 1; dataset resolution 768 > general 512
    assert c.dataset.keep_tokens == 2 and c.dataset.resolution == 768 and c.run.batch_size == 4
    assert c.dataset.caption_extension == ".caption" and c.dataset.shuffle_tags
    assert "some_new_flag" in r.not_understood and "network_args.algo: not supported" in r.not_understood
    assert "dataset_config.random_crop" not in r.not_understood  # the reg subset is not the effective one
    assert any("x10 (sks dog)" in n for n in r.notes)


def test_prompt_line() -> None:
    p = parse_prompt_line("cat --n dog --s 30")
    assert p.prompt == "cat" and p.negative == "dog" and p.steps == 30
    assert parse_prompt_line("# comment") is None
