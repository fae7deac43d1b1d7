from __future__ import annotations

import subprocess
import sys

MODULES = [
    "lora_studio.formats.safetensors_meta",
    "lora_studio.formats.hashes",
    "lora_studio.formats.lora_keys",
    "lora_studio.formats.flux_lora_keys",
    "lora_studio.formats.lora_classify",
    "lora_studio.formats.lora_metadata",
    "lora_studio.formats.lora_info",
    "lora_studio.formats.infotext",
]


def test_formats_modules_do_not_import_torch():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in MODULES)
        + "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'peft', 'safetensors.torch', 'PIL') "
        "if m in sys.modules]\nprint(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
