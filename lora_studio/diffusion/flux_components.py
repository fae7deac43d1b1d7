"""Finding the separate files a FLUX.1 transformer needs: CLIP-L, T5-XXL and the autoencoder. Torch-free.

People keep ``flux1-dev.safetensors`` in a checkpoints (or ComfyUI ``diffusion_models`` / ``unet``)
folder and ``clip_l.safetensors``, ``t5xxl_fp16.safetensors`` and ``ae.safetensors`` in the
``text_encoders`` (or ``clip``) and ``vae`` folders beside it, as ComfyUI and Forge lay them out, or
simply all in one folder. We look beside the model, in those sibling folders and in the app's own
models folder, and pick a file by its header (never by its name alone) that fits the transformer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from lora_studio.core import paths
from lora_studio.core.errors import ModelLoadError
from lora_studio.diffusion.flux_detect import (
    PART_FILES,
    PART_LABELS,
    ComponentFacts,
    FluxFacts,
    component_facts,
)
from lora_studio.formats.safetensors_meta import read_header

log = logging.getLogger(__name__)

COMPONENTS = ("clip_l", "t5xxl", "ae")
# Sibling folders of the model's folder that hold each part (ComfyUI, Forge, NMKD layouts).
PART_FOLDERS = {
    "clip_l": ("text_encoders", "clip", "text_encoder", "CLIP"),
    "t5xxl": ("text_encoders", "clip", "text_encoder", "CLIP"),
    "ae": ("vae", "VAE"),
}
DEFAULT_FOLDER = {"clip_l": "text_encoders", "t5xxl": "text_encoders", "ae": "vae"}
_NAME_HINTS = {"clip_l": ("clip_l", "clip-l", "clipl"), "t5xxl": ("t5",), "ae": ("ae", "vae", "flux")}
_MAX_FILES = 300  # per folder: headers are cheap, but a huge folder is not worth reading whole


def search_folders(model_path: Path, part: str) -> list[Path]:
    """Where to look for ``part``, nearest first."""
    model_path = Path(model_path)
    here = model_path.parent
    out = [here]
    out += [here.parent / name for name in PART_FOLDERS[part]]
    root = paths.default_models_root()
    out += [root / name for name in PART_FOLDERS[part]]
    seen: dict[Path, None] = {}
    for folder in out:
        if folder.is_dir():
            seen.setdefault(folder.resolve(), None)
    return list(seen)


def fits(part: str, facts: ComponentFacts, flux: FluxFacts) -> bool:
    """Whether a component fits the transformer (T5 width = txt_in's input, CLIP width = vector_in's,
    16 latent channels x 2 x 2 = img_in's input)."""
    if facts.part != part:
        return False
    if part == "t5xxl":
        return facts.width == flux.joint_dim
    if part == "clip_l":
        return facts.width == flux.pooled_dim
    return facts.width * 4 == flux.in_channels


def _rank(part: str, path: Path, facts: ComponentFacts) -> tuple[int, int, str]:
    name = path.name.lower()
    named = 0 if any(h in name for h in _NAME_HINTS[part]) else 1
    # Two T5 files side by side: the full-precision one is the better choice.
    low = 1 if facts.weight_dtype.startswith("fp8") else 0
    return (named, low, name)


def find_component(model_path: Path, part: str, flux: FluxFacts) -> Path | None:
    """The best file for ``part`` near ``model_path`` that fits the transformer, or None."""
    for folder in search_folders(model_path, part):
        found: list[tuple[tuple[int, int, str], Path]] = []
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".safetensors" and p.is_file())
        for path in files[:_MAX_FILES]:
            if path.resolve() == Path(model_path).resolve():
                continue
            try:
                facts = component_facts(read_header(path))
            except (ModelLoadError, OSError) as exc:
                log.debug("skipped %s: %s", path, exc)
                continue
            if facts is not None and fits(part, facts, flux):
                found.append((_rank(part, path, facts), path))
        if found:
            return min(found)[1]
    return None


def check_component(path: Path, part: str, flux: FluxFacts) -> Path:
    """A file the user named for ``part``: it must be that part, and fit the transformer."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(
            f'The {PART_LABELS[part]} file "{path}" does not exist.', hint="Check the path and try again."
        )
    facts = component_facts(read_header(path))
    if facts is None or facts.part != part:
        what = PART_LABELS[facts.part] if facts is not None else "not a FLUX component file"
        raise ModelLoadError(
            f'"{path.name}" was chosen as the {PART_LABELS[part]}, but it is {what}.',
            hint=f"Choose the {PART_LABELS[part]} ({PART_FILES[part]}).",
        )
    if not fits(part, facts, flux):
        raise ModelLoadError(
            f'"{path.name}" does not fit this FLUX.1 model (its width is {facts.width}).',
            hint=f"Choose the {PART_LABELS[part]} made for FLUX.1 ({PART_FILES[part]}).",
        )
    return path


def resolve_components(
    model_path: Path, flux: FluxFacts, overrides: Mapping[str, str | Path | None] | None = None
) -> dict[str, Path | None]:
    """Each component's file (None: inside the model file). Raises one ModelLoadError naming every
    part that is missing and where to put it."""
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    out: dict[str, Path | None] = {}
    missing: list[str] = []
    for part in COMPONENTS:
        if part in overrides:
            out[part] = check_component(Path(overrides[part]), part, flux)  # type: ignore[arg-type]
        elif part in flux.parts:
            out[part] = None
        else:
            found = find_component(model_path, part, flux)
            if found is None:
                missing.append(part)
            out[part] = found
    if missing:
        raise missing_components_error(model_path, missing)
    return out


def missing_components_error(model_path: Path, missing: Sequence[str]) -> ModelLoadError:
    model_path = Path(model_path)
    names = " and ".join(f"the {PART_LABELS[p]} ({PART_FILES[p]})" for p in missing)
    folders = sorted({DEFAULT_FOLDER[p] for p in missing})
    where = " and ".join(f'"{model_path.parent.parent / f}"' for f in folders)
    options = ", ".join(f"--{p}" for p in missing)
    return ModelLoadError(
        f'"{model_path.name}" holds only part of FLUX.1: it also needs {names}, and no such file was '
        "found beside it or in the model folders.",
        hint=f"Put the missing file(s) in {where} or beside the model file, or choose them directly "
        f"({options} on the command line).",
        details="Looked in:\n" + "\n".join(str(f) for p in missing for f in search_folders(model_path, p)),
    )


def find_flux_components(
    model_path: str | Path, overrides: Mapping[str, str | Path | None] | None = None
) -> dict[str, Path | None]:
    """For a FLUX.1 single file: the file of each component (None: inside the model file), from
    headers only, so the app and the CLI can check a choice before any loading. Raises the same
    ModelLoadError the loader would (a missing part named with where to put it)."""
    from lora_studio.diffusion.flux_detect import flux_facts

    model_path = Path(model_path)
    facts = flux_facts(read_header(model_path))
    if facts is None:
        raise ModelLoadError(f'"{model_path.name}" is not a FLUX.1 model file.', hint="Choose a FLUX.1 model.")
    return resolve_components(model_path, facts, overrides)
