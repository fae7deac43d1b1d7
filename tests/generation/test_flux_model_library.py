"""The model library lists FLUX.1 models (family FLUX) and never their component files."""

from __future__ import annotations

from lora_studio.core.families import ModelFamily
from lora_studio.diffusion.tiny_flux import save_tiny_flux
from lora_studio.generation.model_library import scan_library


def test_flux_models_listed_components_not(tmp_path):
    models = tmp_path / "models"
    files = save_tiny_flux(
        models / "checkpoints", 0, "dev", components_dir=models / "text_encoders", vae_dir=models / "vae"
    )
    schnell = save_tiny_flux(tmp_path / "other", 1, "schnell", layouts=("transformer",))
    (models / "loras").mkdir()
    # A user who points the model folder at the whole models/ tree still gets only base models.
    library = scan_library([models, schnell["transformer"].parent], [models / "loras"])
    by_path = {item.path: item for item in library.models}
    expected = {files[k] for k in ("transformer", "transformer_fp8", "all_in_one", "diffusers")}
    assert set(by_path) == expected | {schnell["transformer"]}
    assert all(item.family == ModelFamily.FLUX for item in library.models)
    assert all(item.family_label == "FLUX.1" for item in library.models)
    assert by_path[files["transformer_fp8"]].note == "dev, fp8"
    assert by_path[files["transformer"]].note == "dev"
    assert by_path[schnell["transformer"]].note == "schnell"
    for part in ("clip_l", "t5xxl", "ae"):
        assert files[part] not in by_path
    assert library.loras == ()
