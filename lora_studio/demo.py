"""The demo project: a tiny base model, a small synthetic dataset and a training config.

``lora-studio demo create DIR`` and ``lora-studio --demo`` use it so a newcomer can run the whole
workflow (dataset → training → generation) on a CPU in about a minute, with nothing downloaded.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from lora_studio.core import paths
from lora_studio.core.errors import LoraStudioError
from lora_studio.core.events import Reporter, StatusChanged, null_reporter
from lora_studio.core.serialization import save_toml
from lora_studio.demo_images import TRIGGER, draw_mascot

log = logging.getLogger(__name__)

DEMO_NAME = "Demo - zorb the mascot"
MODEL_DIR = "models"
MODEL_FILE = f"{MODEL_DIR}/tiny-sd1.safetensors"
DEMO_FAMILIES = ("sd1", "sd2", "sdxl", "flux")
# FLUX.1 is laid out as ComfyUI / Forge users have it: the transformer in models/checkpoints, its
# text encoders in models/text_encoders and its autoencoder in models/vae (found by the loader).
FLUX_DIRS = {"transformer": "checkpoints", "text_encoders": "text_encoders", "vae": "vae"}


def model_file(family: str = "sd1") -> str:
    """The tiny base model of a demo project, relative to its folder."""
    if family == "flux":
        return f"{MODEL_DIR}/{FLUX_DIRS['transformer']}/flux1-dev-tiny.safetensors"
    return f"{MODEL_DIR}/tiny-{family}.safetensors"

TRAIN_CONFIG = "training.toml"
CONCEPT = "zorb"
REPEATS = 5
IMAGE_COUNT = 12
_READY_MARK = ".demo-ready"


def demo_train_config(model_file: str = MODEL_FILE, family: str = "sd1"):
    """A quick training config for the tiny model (paths relative to the project folder).

    FLUX.1-dev's sample prompts use its usual distilled guidance (3.5, the "Distilled CFG" field) and
    CFG 1 (FLUX samples take no real CFG)."""
    from lora_studio.training.config import (
        DatasetConfig,
        ModelConfig,
        NetworkConfig,
        OptimizerConfig,
        Precision,
        RunConfig,
        SampleConfig,
        SamplePrompt,
        TrainConfig,
    )

    flux = family == "flux"
    guide = {"cfg": 1.0, "guidance": 3.5} if flux else {"cfg": 5.0}
    return TrainConfig(
        model=ModelConfig(base_model=model_file),
        dataset=DatasetConfig(path=".", resolution=64, bucket_min=64, bucket_max=128, trigger_word=TRIGGER),
        network=NetworkConfig(rank=4, alpha=4.0),
        optimizer=OptimizerConfig(learning_rate=1e-3),
        run=RunConfig(
            epochs=4,
            batch_size=2,
            precision=Precision.FP32,
            save_precision=Precision.FP16,
            save_every_n_epochs=1,
            output_dir="output",
            output_name="zorb",
            state_every_minutes=10,  # bounds what a hard kill can lose (the demo too)
        ),
        sample=SampleConfig(
            prompts=(
                SamplePrompt(prompt=f"{TRIGGER}, orange round mascot, waving, beach", seed=1, steps=8, **guide),
                SamplePrompt(prompt=f"{TRIGGER}, orange round mascot, sleeping, night sky", seed=2, steps=8, **guide),
            ),
            every_n_epochs=2,
        ),
    )


def create_demo_project(
    root: str | Path, *, reporter: Reporter = null_reporter, seed: int = 0, family: str = "sd1"
) -> Path:
    """Write a complete demo project into ``root`` (which must be new or empty). Returns ``root``.

    ``family`` picks the tiny base model: ``sd1`` (the default), ``sd2``, ``sdxl`` or ``flux``
    (a tiny FLUX.1-dev in the ComfyUI layout); each trains and generates on a CPU.
    """
    from lora_studio.dataset import project as proj

    if family not in DEMO_FAMILIES:
        raise LoraStudioError(
            f"There is no demo model for “{family}”.", hint=f"Choose one of: {', '.join(DEMO_FAMILIES)}."
        )
    model = model_file(family)
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise LoraStudioError(
            f"The folder {root} is not empty.", hint="Choose a new folder for the demo project."
        )
    reporter(StatusChanged("Creating the demo project…"))
    name = DEMO_NAME if family == "sd1" else f"{DEMO_NAME} ({'FLUX.1' if family == 'flux' else family.upper()})"
    project = proj.create_project(root, name=name, base_model=model)
    proj.add_concept(project, CONCEPT, repeats=REPEATS, trigger=TRIGGER, class_word="mascot")

    reporter(StatusChanged("Drawing the demo pictures…"))
    with tempfile.TemporaryDirectory(prefix="lora-studio-demo-") as tmp:
        for i in range(IMAGE_COUNT):
            demo = draw_mascot(seed * 1000 + i, size=128)
            image_path = Path(tmp) / f"zorb_{i:02d}.png"
            demo.image.save(image_path)
            image_path.with_suffix(".txt").write_text(demo.caption, encoding="utf-8")
        proj.add_images(project, CONCEPT, [Path(tmp)])

    reporter(StatusChanged("Building the tiny base model…"))
    _write_model(root, family, seed)
    assert (root / model).is_file()

    save_toml(demo_train_config(model, family), root / TRAIN_CONFIG)
    (root / _READY_MARK).write_text("ok\n", encoding="utf-8")
    reporter(StatusChanged("The demo project is ready."))
    return root


def _write_model(root: Path, family: str, seed: int) -> None:
    models = root / MODEL_DIR
    if family == "flux":
        from lora_studio.diffusion.tiny_flux import save_tiny_flux

        save_tiny_flux(
            models / FLUX_DIRS["transformer"],
            seed,
            "dev",
            components_dir=models / FLUX_DIRS["text_encoders"],
            vae_dir=models / FLUX_DIRS["vae"],
            layouts=("transformer", "clip_l", "t5xxl", "ae"),
        )
        return
    from lora_studio.diffusion.tiny import save_tiny_model

    save_tiny_model(family, models, seed=seed)


def demo_project_dir() -> Path:
    return paths.data_dir() / "demo-project"


def ensure_demo_project(reporter: Reporter = null_reporter) -> Path:
    """The demo project in the user data folder, created on first use (or again if half-made)."""
    root = demo_project_dir()
    if (root / _READY_MARK).exists():
        return root
    if root.exists():
        log.warning("Removing an incomplete demo project at %s", root)
        shutil.rmtree(root)
    return create_demo_project(root, reporter=reporter)
