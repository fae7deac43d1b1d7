"""Component configs for loading single-file checkpoints offline. Torch-free.

diffusers builds a pipeline from a single file only when it is given a local folder in diffusers
layout with every component's config and the tokenizer files (``from_single_file(config=dir)``);
otherwise it goes to the model hub. The JSON configs ship in ``resources/model_configs/<name>``;
this module completes them with tokenizer folders in the cache, once per config version.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lora_studio.core import paths
from lora_studio.core.errors import ModelLoadError
from lora_studio.core.families import ModelFamily, Prediction
from lora_studio.diffusion.t5_tokenizer import write_t5_tokenizer_dir
from lora_studio.diffusion.tokenizer import OPENCLIP_PAD, SD1_PAD, write_tokenizer_dir

# Bump when a bundled JSON file changes, so that stale cache folders are not reused.
CONFIG_VERSION = 1
BUNDLED_CONFIGS = ("sd15", "sd2", "sd2-v", "sdxl-base", "flux-dev", "flux-schnell")
_PARTS = ("unet", "transformer", "vae", "text_encoder", "text_encoder_2", "scheduler")
T5_FOLDER = "tokenizer_2"  # FLUX.1's second tokenizer is T5's, not CLIP's
_CONFIG_FILE = {"scheduler": "scheduler_config.json"}
_DONE = ".complete"


def config_name(
    family: ModelFamily | str, prediction: Prediction | str = Prediction.EPSILON, variant: str = "dev"
) -> str:
    """The bundled config that matches a family (and, for SD 2.x, the prediction type; for FLUX.1,
    the variant: ``"dev"`` or ``"schnell"``)."""
    family = ModelFamily(family)
    if family == ModelFamily.FLUX:
        if variant not in ("dev", "schnell"):
            raise ValueError(f"unknown FLUX.1 variant {variant!r}")
        return f"flux-{variant}"
    if family == ModelFamily.SD2:
        return "sd2-v" if Prediction(prediction) == Prediction.V else "sd2"
    return {ModelFamily.SD1: "sd15", ModelFamily.SDXL: "sdxl-base"}[family]


def tokenizer_pads(family: ModelFamily | str) -> dict[str, str]:
    """Pad token of each tokenizer folder: SD 1.x pads with the end token, OpenCLIP ones with "!"."""
    family = ModelFamily(family)
    if family == ModelFamily.SDXL:
        return {"tokenizer": SD1_PAD, "tokenizer_2": OPENCLIP_PAD}
    if family == ModelFamily.FLUX:
        return {"tokenizer": SD1_PAD}  # CLIP-L; its T5 tokenizer (T5_FOLDER) is written separately
    return {"tokenizer": SD1_PAD if family == ModelFamily.SD1 else OPENCLIP_PAD}


def bundled_configs(name: str) -> dict[str, Any]:
    """The JSON configs of one bundled model: ``{"model_index": ..., "unet": ..., ...}``."""
    if name not in BUNDLED_CONFIGS:
        raise ValueError(f"unknown bundled config {name!r}")
    root = paths.resource("model_configs", name)
    out: dict[str, Any] = {"model_index": json.loads((root / "model_index.json").read_text("utf-8"))}
    for part in _PARTS:
        file = root / part / _CONFIG_FILE.get(part, "config.json")
        if file.exists():
            out[part] = json.loads(file.read_text("utf-8"))
    return out


def _write_dir(target: Path, configs: dict[str, Any], pads: dict[str, str], t5: bool = False) -> Path:
    """Write a complete config folder atomically: build it beside ``target``, then rename."""
    if (target / _DONE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (tmp / "model_index.json").write_text(json.dumps(configs["model_index"], indent=2), "utf-8")
        for part in _PARTS:
            if part in configs:
                (tmp / part).mkdir()
                file = tmp / part / _CONFIG_FILE.get(part, "config.json")
                file.write_text(json.dumps(configs[part], indent=2), "utf-8")
        for folder, pad in pads.items():
            write_tokenizer_dir(tmp / folder, pad)
        if t5:
            write_t5_tokenizer_dir(tmp / T5_FOLDER)
        (tmp / _DONE).write_text(str(CONFIG_VERSION), "utf-8")
        try:
            tmp.rename(target)
        except OSError:
            # Another process (or a broken earlier attempt) got there first.
            if not (target / _DONE).exists():
                shutil.rmtree(target, ignore_errors=True)
                tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def materialize_config(name: str) -> Path:
    """A complete diffusers-layout config folder (JSON + tokenizers) for a bundled model, in the cache."""
    family = _family_of(name)
    target = paths.cache_dir() / "model_configs" / f"{name}-v{CONFIG_VERSION}"
    return _write_dir(target, bundled_configs(name), tokenizer_pads(family), t5=family == ModelFamily.FLUX)


def _family_of(name: str) -> ModelFamily:
    for prefix, family in (("sdxl", ModelFamily.SDXL), ("sd2", ModelFamily.SD2), ("flux", ModelFamily.FLUX)):
        if name.startswith(prefix):
            return family
    return ModelFamily.SD1


def materialize_embedded_config(family: ModelFamily | str, embedded: dict[str, Any]) -> Path:
    """A config folder from the component configs a checkpoint carries in its metadata.

    Only the components' sizes come from the file; which classes get built (``model_index``) always
    comes from the bundled config of the family, so a file can never make us import other code.
    """
    family = ModelFamily(family)
    needed = ["unet", "vae", "text_encoder", "scheduler"] + (["text_encoder_2"] if family == "sdxl" else [])
    bad = [part for part in needed if not isinstance(embedded.get(part), dict)]
    if bad:
        raise ModelLoadError(
            "The model file describes its own layout, but that description is incomplete.",
            hint="Re-save the model, or choose a standard SD 1.5, SD 2.x or SDXL checkpoint.",
            details=f"missing or invalid parts: {bad}",
        )
    template = bundled_configs(config_name(family))
    configs = {"model_index": template["model_index"], **{part: embedded[part] for part in needed}}
    blob = json.dumps(configs, sort_keys=True).encode("utf-8")
    digest = hashlib.sha256(blob).hexdigest()[:16]
    target = paths.cache_dir() / "model_configs" / f"embedded-{family}-{digest}-v{CONFIG_VERSION}"
    return _write_dir(target, configs, tokenizer_pads(family))
