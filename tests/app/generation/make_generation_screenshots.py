"""Render the Generation panel to PNGs for docs and visual review (tiny model, real engine).

Usage: .venv/bin/python tests/app/generation/make_generation_screenshots.py [OUT_DIR]
(default docs/screenshots). Not a test; runs offscreen with a throw-away data folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["LORA_STUDIO_HOME"] = tempfile.mkdtemp(prefix="lora-studio-gen-shots-")
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))


def _library(root: Path) -> dict[str, Path]:
    from lora_studio.diffusion.tiny import save_tiny_diffusers
    from lora_studio.formats.lora_keys import save_kohya_lora
    from tests.generation.conftest import add_random_lora, peft_state_dicts

    models = root / "models"
    save_tiny_diffusers("sd1", models / "dreamshaper-8")
    loras = root / "loras"
    loras.mkdir(parents=True)
    from lora_studio.diffusion.tiny import build_tiny_pipeline

    tags = '{"4_miso": {"miso": 24, "cat": 24, "orange fur": 18, "sofa": 7, "window": 5}}'
    specs = [
        ("miso-the-cat-e000002", "sd1", 1, {"ss_epoch": "2", "ss_num_epochs": "6"}),
        ("miso-the-cat-e000004", "sd1", 2, {"ss_epoch": "4", "ss_num_epochs": "6"}),
        ("miso-the-cat", "sd1", 3, {"ss_epoch": "6", "ss_num_epochs": "6"}),
        ("watercolor-style", "sd1", 4, {}),
        ("pixel-art-xl", "sdxl", 5, {}),
        ("film-grain", "sd1", 6, {}),
    ]
    for name, family, seed, extra in specs:
        pipe = build_tiny_pipeline("sd1", 0)
        add_random_lora(pipe, seed, alpha=2.0)
        meta = {
            "ss_network_dim": "4", "ss_network_alpha": "2", "ss_output_name": name,
            "ss_base_model_version": "sdxl_base_v1-0" if family == "sdxl" else "sd_v1",
            "ss_tag_frequency": tags if name.startswith("miso") else "{}",
            "ss_learning_rate": "0.0001", "ss_num_train_images": "96", "ss_resolution": "(512, 512)",
            "ss_sd_model_name": "v1-5-pruned-emaonly.safetensors", **extra,
        }  # fmt: skip
        save_kohya_lora(
            loras / f"{name}.safetensors",
            peft_state_dicts(pipe),
            family="sd1",
            alpha_for=lambda *_: 2.0,
            metadata=meta,
        )
    return {"models": models, "loras": loras}


def main(out: Path) -> None:
    import time

    from PySide6.QtWidgets import QApplication

    from lora_studio.app.launch import create_application
    from lora_studio.app.panels.generation.generation_panel import GenerationPanel
    from lora_studio.app.state import AppContext
    from lora_studio.app.theme import apply_theme
    from lora_studio.core.settings import AppSettings, Theme

    out.mkdir(parents=True, exist_ok=True)
    app = create_application()
    apply_theme(app, Theme.LIGHT)
    home = Path(os.environ["LORA_STUDIO_HOME"])
    lib = _library(home / "library")
    settings = AppSettings(
        checkpoint_dirs=(str(lib["models"]),),
        lora_dirs=(str(lib["loras"]),),
        output_dir=str(home / "outputs"),
        device="cpu",
    )
    context = AppContext(settings, settings_path=home / "settings.toml")
    panel = GenerationPanel(context)
    panel.resize(1280, 800)
    panel.show()

    def wait(cond, timeout: float = 300) -> None:
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)
        for _ in range(5):
            app.processEvents()

    only = set(filter(None, os.environ.get("GEN_SHOTS", "").split(",")))  # e.g. GEN_SHOTS=mixer,info

    def wanted(name: str) -> bool:
        return not only or name in only

    wait(lambda: len(panel.mixer.rows) == 6 and panel.jobs.idle)
    s = panel.settings_widget
    s.size_preset.setCurrentIndex(s.size_preset.findData("custom"))
    s.width_spin.setValue(192)
    s.height_spin.setValue(192)
    s.steps.setValue(8)
    s.seed.setText("1234")
    panel.prompt_editor.prompt.setPlainText(
        "miso, a photo of an orange cat sleeping on a sofa, soft window light"
    )
    panel.prompt_editor.negative.setPlainText("blurry, text, watermark")
    panel.mixer.row("miso-the-cat").check.setChecked(True)
    panel.mixer.row("miso-the-cat").spin.setValue(0.8)
    panel.mixer.row("watercolor-style").check.setChecked(True)
    panel.mixer.row("watercolor-style").spin.setValue(0.35)
    panel.mixer.sort_rows()
    wait(lambda: True)
    panel.grab().save(str(out / "generation-mixer.png"))

    for seed in ("1234", "77") if wanted("result") or wanted("grid") else ():
        s.seed.setText(seed)
        panel.requests.generate()
        wait(lambda: panel.jobs.idle)
    if wanted("result"):
        panel.grab().save(str(out / "generation-result.png"))

    panel.requests.open_grid()
    dialog = panel.requests.grid_dialog
    dialog.y_axis.values.setText("0.4, 0.8, 1.2")
    dialog.resize(1280, 800)
    wait(lambda: True)
    if wanted("grid"):
        dialog.run_button.click()
        wait(lambda: dialog.grid_path is not None and panel.jobs.idle, 600)
    dialog.view.fit()
    wait(lambda: True)
    dialog.grab().save(str(out / "generation-grid.png"))
    dialog.close()

    from lora_studio.app.panels.generation.lora_info_dialog import LoraInfoDialog

    info = LoraInfoDialog(panel.mixer.row("miso-the-cat").item, panel)
    info.resize(620, 520)
    info.show()
    wait(lambda: True)
    info.grab().save(str(out / "generation-lora-info.png"))
    context.jobs.shutdown(20000)
    QApplication.processEvents()
    print("wrote", sorted(p.name for p in out.glob("generation-*.png")))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
