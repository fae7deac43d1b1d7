"""FLUX configs as people save them: a kohya_ss GUI ``.json`` (every field the GUI writes, values
of a 16 GB FLUX.1-dev character run) and an sd-scripts ``--config_file`` TOML."""

from __future__ import annotations

from typing import Any

GUI_FLUX: dict[str, Any] = {
    "LoRA_type": "Flux1",
    "LyCORIS_preset": "full",
    "adaptive_noise_scale": 0,
    "additional_parameters": "",
    "ae": "C:/models/vae/ae.safetensors",
    "apply_t5_attn_mask": True,
    "async_upload": False,
    "block_alphas": "",
    "block_dims": "",
    "block_lr_zero_threshold": "",
    "bucket_no_upscale": True,
    "bucket_reso_steps": 64,
    "bypass_mode": False,
    "cache_latents": True,
    "cache_latents_to_disk": True,
    "caption_dropout_every_n_epochs": 0,
    "caption_dropout_rate": 0,
    "caption_extension": ".txt",
    "clip_l": "C:/models/text_encoders/clip_l.safetensors",
    "clip_skip": 1,
    "color_aug": False,
    "constrain": 0,
    "conv_alpha": 1,
    "conv_block_alphas": "",
    "conv_block_dims": "",
    "conv_dim": 1,
    "cpu_offload_checkpointing": False,
    "dataset_config": "",
    "debiased_estimation_loss": False,
    "decompose_both": False,
    "dim_from_weights": False,
    "discrete_flow_shift": 3.1582,
    "dora_wd": False,
    "down_lr_weight": "",
    "dynamo_backend": "no",
    "dynamo_mode": "default",
    "dynamo_use_dynamic": False,
    "dynamo_use_fullgraph": False,
    "enable_all_linear": False,
    "enable_bucket": True,
    "epoch": 200,
    "extra_accelerate_launch_args": "",
    "factor": -1,
    "flip_aug": False,
    "flux1_cache_text_encoder_outputs": True,
    "flux1_cache_text_encoder_outputs_to_disk": True,
    "flux1_checkbox": True,
    "fp8_base": True,
    "fp8_base_unet": False,
    "full_bf16": False,
    "full_fp16": False,
    "gpu_ids": "",
    "gradient_accumulation_steps": 1,
    "gradient_checkpointing": True,
    "guidance_scale": 1,
    "highvram": False,
    "huber_c": 0.1,
    "huber_schedule": "snr",
    "img_attn_dim": "",
    "img_mlp_dim": "",
    "img_mod_dim": "",
    "in_dims": "",
    "ip_noise_gamma": 0,
    "ip_noise_gamma_random_strength": False,
    "keep_tokens": 0,
    "learning_rate": 0.0003,
    "logging_dir": "C:/kohya/log",
    "loss_type": "l2",
    "lowvram": False,
    "lr_scheduler": "constant",
    "lr_scheduler_args": "",
    "lr_scheduler_num_cycles": 1,
    "lr_scheduler_power": 1,
    "lr_warmup": 0,
    "lr_warmup_steps": 0,
    "masked_loss": False,
    "max_bucket_reso": 2048,
    "max_data_loader_n_workers": 0,
    "max_grad_norm": 1,
    "max_resolution": "1024,1024",
    "max_timestep": 1000,
    "max_token_length": 75,
    "max_train_epochs": 0,
    "max_train_steps": 0,
    "mem_eff_attn": False,
    "mem_eff_save": False,
    "min_bucket_reso": 256,
    "min_snr_gamma": 0,
    "min_timestep": 0,
    "mixed_precision": "bf16",
    "model_list": "custom",
    "model_prediction_type": "raw",
    "module_dropout": 0,
    "multi_gpu": False,
    "multires_noise_discount": 0.3,
    "multires_noise_iterations": 0,
    "network_alpha": 8,
    "network_dim": 8,
    "network_dropout": 0,
    "network_weights": "",
    "noise_offset": 0,
    "noise_offset_type": "Original",
    "num_cpu_threads_per_process": 2,
    "num_machines": 1,
    "num_processes": 1,
    "optimizer": "Adafactor",
    "optimizer_args": "scale_parameter=False relative_step=False warmup_init=False",
    "output_dir": "C:/kohya/output",
    "output_name": "my_flux_character",
    "persistent_data_loader_workers": False,
    "pretrained_model_name_or_path": "C:/models/checkpoints/flux1-dev.safetensors",
    "prior_loss_weight": 1,
    "random_crop": False,
    "rank_dropout": 0,
    "reg_data_dir": "",
    "sample_every_n_epochs": 0,
    "sample_every_n_steps": 200,
    "sample_prompts": "a photo of sks woman in a park --w 1024 --h 1024 --s 20 --g 3.5 --d 42",
    "sample_sampler": "euler",
    "save_every_n_epochs": 25,
    "save_every_n_steps": 0,
    "save_last_n_epochs": 0,
    "save_model_as": "safetensors",
    "save_precision": "bf16",
    "save_state": False,
    "scale_v_pred_loss_like_noise_pred": False,
    "scale_weight_norms": 0,
    "sdxl": False,
    "sdxl_cache_text_encoder_outputs": True,
    "sdxl_no_half_vae": True,
    "seed": 42,
    "shuffle_caption": False,
    "split_mode": False,
    "split_qkv": False,
    "stop_text_encoder_training": 0,
    "t5xxl": "C:/models/text_encoders/t5xxl_fp16.safetensors",
    "t5xxl_lr": 0,
    "t5xxl_max_token_length": 512,
    "text_encoder_lr": 0,
    "timestep_sampling": "sigmoid",
    "train_batch_size": 1,
    "train_blocks": "all",
    "train_data_dir": "C:/kohya/img",
    "train_double_block_indices": "all",
    "train_norm": False,
    "train_single_block_indices": "all",
    "train_t5xxl": False,
    "unet_lr": 0.0003,
    "v2": False,
    "v_parameterization": False,
    "vae": "",
    "vae_batch_size": 0,
    "weighted_captions": False,
    "xformers": "sdpa",
}

SD_SCRIPTS_FLUX_TOML = """
pretrained_model_name_or_path = "/models/flux1-dev.safetensors"
clip_l = "/models/clip_l.safetensors"
t5xxl = "/models/t5xxl_fp16.safetensors"
ae = "/models/ae.safetensors"
cache_latents_to_disk = true
cache_text_encoder_outputs = true
cache_text_encoder_outputs_to_disk = true
save_model_as = "safetensors"
sdpa = true
persistent_data_loader_workers = true
max_data_loader_n_workers = 2
seed = 42
gradient_checkpointing = true
mixed_precision = "bf16"
save_precision = "bf16"
network_module = "networks.lora_flux"
network_dim = 16
network_alpha = 16
network_train_unet_only = true
optimizer_type = "adamw8bit"
learning_rate = 1e-4
highvram = true
max_train_epochs = 16
save_every_n_epochs = 4
output_dir = "/out"
output_name = "flux-lora"
timestep_sampling = "shift"
discrete_flow_shift = 3.1582
model_prediction_type = "raw"
guidance_scale = 1.0
fp8_base = true
blocks_to_swap = 18
t5xxl_max_token_length = 512
apply_t5_attn_mask = true
loss_type = "l2"
"""
