"""Which layers get LoRA modules, and adding them with peft (kohya target semantics).

The adapters are injected in place (``add_adapter``), so the pipeline that owns the UNet and text
encoders samples with the current LoRA without copies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from lora_studio.training.config import NetworkConfig, NetworkTarget

ADAPTER = "default"
_ATTN = re.compile(r"\.attn\d\.(to_q|to_k|to_v|to_out\.0)$")
_TE_LEAF = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")


@dataclass
class Targets:
    """Module names of one model with LoRA, split by rank/alpha group."""

    linear: list[str] = field(default_factory=list)  # rank/alpha
    conv: list[str] = field(default_factory=list)  # conv_rank/conv_alpha (3x3 convs, LoCon)

    @property
    def all(self) -> list[str]:
        return self.linear + self.conv


def unet_targets(unet: torch.nn.Module, target: NetworkTarget) -> Targets:
    """kohya: attention = q/k/v/out; attention_ff = every Linear/1x1 conv inside transformer blocks
    (attentions.N.*); attention_ff_conv adds resnet and up/down-sampler layers (3x3 convs at conv rank)."""
    out = Targets()
    for name, module in unet.named_modules():
        if not isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
            continue
        is_1x1 = isinstance(module, torch.nn.Linear) or module.kernel_size == (1, 1)
        in_transformer = ".attentions." in name
        in_resnet = any(k in name for k in (".resnets.", ".downsamplers.", ".upsamplers."))
        if target == NetworkTarget.ATTENTION:
            if _ATTN.search(name):
                out.linear.append(name)
        elif in_transformer and is_1x1:
            out.linear.append(name)
        elif target == NetworkTarget.ATTENTION_FF_CONV and in_resnet:
            (out.linear if is_1x1 else out.conv).append(name)
    return out


def text_encoder_targets(te: torch.nn.Module) -> Targets:
    names = [
        n
        for n, m in te.named_modules()
        if isinstance(m, torch.nn.Linear) and n.rsplit(".", 1)[-1] in _TE_LEAF
    ]
    return Targets(linear=names)


def add_lora(model: torch.nn.Module, targets: Targets, cfg: NetworkConfig) -> None:
    """Inject an adapter named ``default`` (LoRA, LoHa, LoKr or DoRA as ``cfg.algo`` says) into
    ``model``; only its weights require grad."""
    from lora_studio.training.lycoris import TRAINED_PARTS, adapter_config

    config = adapter_config(cfg, targets.linear, targets.conv)
    model.requires_grad_(False)
    model.add_adapter(config, adapter_name=ADAPTER)  # type: ignore[operator]  # diffusers/transformers models are peft adapter hosts
    for name, p in model.named_parameters():
        p.requires_grad_(any(part in name for part in TRAINED_PARTS))


def alpha_lookup(targets: dict[str, Targets], cfg: NetworkConfig):
    """``alpha_for(component, module_path, rank)`` for the LoRA writer: conv alpha for LoCon convs."""
    conv = {comp: set(t.conv) for comp, t in targets.items()}

    def alpha_for(component: str, module_path: str, rank: int) -> float:
        return cfg.conv_alpha if module_path in conv.get(component, ()) else cfg.alpha

    return alpha_for


def load_start_weights(
    path: str,
    models: dict[str, torch.nn.Module],
    targets: dict[str, Targets],
    cfg: NetworkConfig,
    *,
    family: object,
    unet_config: dict | None,
) -> int:
    """Put the weights of a kohya LoRA file (ours or sd-scripts', SDXL in either naming) into the
    freshly added adapters, so training continues from it (sd-scripts' ``--network_weights``).

    Each module keeps the file's strength: B is rescaled when the file's alpha/rank differs from
    this run's. Returns the number of modules loaded; raises ``TrainingError`` when the file does
    not fit the run (another model, other trained parts, another rank).
    """
    from peft.utils import set_peft_model_state_dict

    from lora_studio.core.errors import LoraStudioError, TrainingError
    from lora_studio.formats.lora_keys import load_kohya_lora

    name = Path(path).name
    module_paths = {comp: [n for n, _ in m.named_modules()] for comp, m in models.items()}
    try:
        lora = load_kohya_lora(path, module_paths=module_paths, family=family, unet_config=unet_config)
    except LoraStudioError as exc:
        raise TrainingError(
            f"Cannot continue from “{name}”: {exc.message}", hint=exc.hint, details=exc.details
        ) from exc
    extra = sorted(set(lora.state_dicts) - set(models))
    if extra:
        raise TrainingError(
            f"“{name}” also changes {', '.join(extra)}, which this run does not train.",
            hint="Turn on text-encoder training to continue from it, or pick a UNet-only LoRA.",
        )
    loaded = 0
    for comp, sd in lora.state_dicts.items():
        linear, conv = set(targets[comp].linear), set(targets[comp].conv)
        fitted: dict[str, torch.Tensor] = {}
        for module, file_rank in lora.ranks[comp].items():
            if module not in linear and module not in conv:
                raise TrainingError(
                    f"“{name}” has a layer this run does not train ({comp}: {module}).",
                    hint="Choose the same layers (LoRA / LoCon) and base model the file was trained with.",
                )
            rank, alpha = (cfg.conv_rank, cfg.conv_alpha) if module in conv else (cfg.rank, cfg.alpha)
            if file_rank != rank:
                raise TrainingError(
                    f"“{name}” has rank {file_rank} in {module}, this run uses {rank}.",
                    hint="Set the rank (network dim) to the file's to continue training it.",
                )
            ratio = (lora.alphas[comp][module] / file_rank) / (alpha / rank)
            fitted[f"{module}.lora_A.weight"] = sd[f"{module}.lora_A.weight"].float()
            fitted[f"{module}.lora_B.weight"] = sd[f"{module}.lora_B.weight"].float() * ratio
        result = set_peft_model_state_dict(models[comp], fitted, adapter_name=ADAPTER)
        unexpected = [k for k in getattr(result, "unexpected_keys", []) if ".lora_" in k]
        if unexpected:
            raise TrainingError(f"“{name}” does not fit the model: {unexpected[:3]} …")
        loaded += len(lora.ranks[comp])
    return loaded
