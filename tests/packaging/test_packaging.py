"""Fast checks of the packaging files. The slow end-to-end build is packaging/ci_check.sh."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "lora_studio.spec"
NSI = ROOT / "installer.nsi"
WORKFLOW = ROOT / ".github" / "workflows" / "windows-release.yml"


def _load(name: str, path: Path):
    # packaging/ is not importable as a package (its name would shadow the PyPI "packaging").
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build():
    return _load("lora_studio_build_portable", PACKAGING / "build_portable.py")


# --- PyInstaller spec ------------------------------------------------------------------------------


def test_spec_is_valid_python_with_the_expected_targets():
    tree = ast.parse(SPEC.read_text("utf-8"))
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert {"Analysis", "PYZ", "EXE", "COLLECT"} <= calls
    text = SPEC.read_text("utf-8")
    assert 'APP_NAME = "LoRAStudio"' in text and 'CLI_NAME = "lora-studio"' in text
    assert "_exe(APP_NAME, console=False)" in text and "_exe(CLI_NAME, console=True)" in text
    assert 'contents_directory="_internal"' in text
    assert "upx=False" in text


def test_spec_collects_resources_metadata_and_lazy_packages():
    text = SPEC.read_text("utf-8")
    assert "from build_resources import runtime_files" in text and "lora_studio/resources/{folder}" in text
    assert 'REPO / "resources" / "icons" / "lora-studio.ico"' in text
    for dist in (
        "diffusers",
        "transformers",
        "peft",
        "accelerate",
        "safetensors",
        "torch",
        "huggingface-hub",
    ):
        assert f'"{dist}",' in text, f"copy_metadata list lacks {dist}"
    for pkg in ("diffusers", "peft", "accelerate", "safetensors", "huggingface_hub"):
        assert f'"{pkg}"' in text, f"collect_submodules lacks {pkg}"
    for excluded in ("tkinter", "pytest", "torch.utils.tensorboard"):
        assert f'"{excluded}",' in text
    assert "bitsandbytes" in text and "--no-bitsandbytes" in text
    assert "launcher.py" in text and "pyi_rth_lora_studio.py" in text


def test_runtime_resources_reach_source_checkouts_wheels_and_the_frozen_app(tmp_path):
    """resources/ is the one copy: a checkout reads it, the wheel build and the spec copy its run-time part."""
    from lora_studio.core import paths

    assert paths.resources_dir() == ROOT / "resources"  # a checkout (or editable install) reads it directly
    assert paths.resource("clip_tokenizer", "vocab.json").is_file()
    assert paths.resource("styles", "app.qss").is_file()
    ico = ROOT / "resources" / "icons" / "lora-studio.ico"
    from PIL import Image

    with Image.open(ico) as im:
        assert im.format == "ICO" and (256, 256) in im.info["sizes"] and (16, 16) in im.info["sizes"]
    spec = importlib.util.spec_from_file_location("build_resources", ROOT / "resources" / "build_resources.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    files = {f"{folder}/{path.name}" for path, folder in module.runtime_files()}
    assert {"clip_tokenizer/vocab.json", "clip_tokenizer/merges.txt", "styles/app.qss"} <= files
    assert any(f.startswith("model_configs/sd15/") for f in files)
    assert {"t5_tokenizer/tokenizer.json", "model_configs/flux-dev/transformer/config.json"} <= files  # FLUX.1
    assert not any(f.startswith("sources/") for f in files)  # sources stay out of the package
    # A wheel built from this checkout carries them inside the package.
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-w", str(tmp_path), "-q"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = tmp_path.glob("lora_studio-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"lora_studio/resources/{f}" for f in files} <= names
    assert not any(n.startswith("resources/") for n in names)


def test_launcher_calls_freeze_support_before_the_app_and_gates_the_check():
    text = (PACKAGING / "launcher.py").read_text("utf-8")
    main_block = text[text.index('if __name__ == "__main__":') :]
    assert main_block.index("freeze_support()") < main_block.index("main()")
    assert 'os.environ.get("LORA_STUDIO_PACKAGING_CHECK") == "1"' in text
    assert "from lora_studio.__main__ import gui_main" in text


def test_runtime_hook_puts_torch_runtime_first(tmp_path, monkeypatch):
    (tmp_path / "torch-runtime" / "torch").mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "LoRAStudio"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("LORA_STUDIO_TORCH_RUNTIME", "")
    monkeypatch.setenv("ORT_DISABLE_TELEMETRY", "x")
    monkeypatch.delenv("ORT_DISABLE_TELEMETRY")  # restored (to absent) after the test
    _load("pyi_rth_lora_studio_test", PACKAGING / "rthooks" / "pyi_rth_lora_studio.py")
    assert sys.path[0] == str(tmp_path / "torch-runtime")
    assert os.environ["LORA_STUDIO_TORCH_RUNTIME"] == str(tmp_path / "torch-runtime")
    assert os.environ["ORT_DISABLE_TELEMETRY"] == "1"  # onnxruntime must not write into the user profile


# --- build_portable.py ------------------------------------------------------------------------------


def test_torch_index_and_variant(build):
    assert build.torch_index_args("cu128") == ["--index-url", "https://download.pytorch.org/whl/cu128"]
    assert build.torch_index_args("pypi") == []
    assert build.torch_index_args("https://example.invalid/simple") == [
        "--index-url",
        "https://example.invalid/simple",
    ]
    assert build.variant_of({"torch": "2.13.0+cu128", "cuda": "12.8"}) == "cu128"
    assert build.variant_of({"torch": "2.13.0+cpu", "cuda": None}) == "cpu"
    assert build.variant_of({"torch": "2.13.0", "cuda": "12.6"}) == "cu126"
    url = build._wheel_url("cu128", "torch-2.13.0+cu128-cp311-cp311-win_amd64.whl")
    assert url == "https://download.pytorch.org/whl/cu128/torch-2.13.0%2Bcu128-cp311-cp311-win_amd64.whl"
    assert build._wheel_url("pypi", "x.whl") is None


def test_layout_and_zip_of_a_fake_pyinstaller_folder(build, tmp_path):
    folder = tmp_path / "dist" / "LoRAStudio"
    (folder / "_internal").mkdir(parents=True)
    for exe in (build.APP_NAME + build.EXE, build.CLI_NAME + build.EXE):
        (folder / exe).write_bytes(b"\x7fELF")
    args = type("Args", (), {})()
    args.variant, args.torch_mode, args.windows_scripts = "cu128", "external", True
    facts = {"torch": "2.13.0+cu128", "cuda": "12.8", "python": "3.11.7", "platform": "win32"}
    wheel = {
        "wheel": "torch-2.13.0+cu128-cp311-cp311-win_amd64.whl",
        "sha256": "ab" * 32,
        "url": "https://x/y.whl",
    }
    build.layout(folder, Path(sys.executable), facts, wheel, args)

    assert "portable mode" in (folder / "portable.txt").read_text("utf-8")
    for sub in ("checkpoints", "loras", "captioners"):
        assert (folder / "models" / sub / f"put_{sub}_here.txt").is_file()
    for sub in ("projects", "outputs"):
        assert (folder / sub / "README.txt").is_file()
    readme = (folder / "README.txt").read_text("utf-8")
    assert "{" not in readme and "2.13.0+cu128" in readme and "models/checkpoints" in readme
    bat = (folder / "get_torch.bat").read_bytes()
    assert b"@TORCH" not in bat and bat.count(b"\r\n") == bat.count(b"\n")
    assert b'set "SHA256=' + b"ab" * 32 + b'"' in bat
    assert b"torch-2.13.0+cu128-cp311-cp311-win_amd64.whl" in bat
    launcher = (folder / "LoRAStudio.bat").read_bytes()
    assert launcher.count(b"lora-studio.exe") == 1 and launcher.count(b"\r\n") == launcher.count(b"\n")
    notices = (folder / "THIRD-PARTY-NOTICES.txt").read_text("utf-8")
    assert "diffusers" in notices.lower()
    assert '"torch_mode": "external"' in (folder / "_internal" / "lora_studio_build.json").read_text("utf-8")

    target = tmp_path / "LoRAStudio-0.1.0-cu128-portable.zip"
    build.make_zip(folder, target)
    names = zipfile.ZipFile(target).namelist()
    assert "LoRAStudio/portable.txt" in names
    assert "LoRAStudio/_internal/" in names  # folders are kept, even empty ones
    assert all(n.startswith("LoRAStudio/") for n in names)


# --- installer.nsi ------------------------------------------------------------------------------------


def _nsi() -> str:
    return NSI.read_text("utf-8")


def _section(text: str, title: str) -> str:
    start = text.index(f"Section {title}")
    return text[start : text.index("SectionEnd", start)]


def test_installer_basics():
    text = _nsi()
    for line in (
        "Unicode true",
        "RequestExecutionLevel user",
        'InstallDir "$LOCALAPPDATA\\Programs\\${APP_ID}"',
        '!define APP_ID "LoRAStudio"',
        '!include "MUI2.nsh"',
        "SetCompressor /SOLID lzma",
        'VIProductVersion "${VERSION_QUAD}"',
        'WriteUninstaller "$INSTDIR\\uninstall.exe"',
        '!define UNINST_KEY "Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\${APP_ID}"',
    ):
        assert line in text, line
    # SRCDIR and VERSION come from makensis -D and are required.
    assert re.search(r"!ifndef SRCDIR\s+!error", text) and re.search(r"!ifndef VERSION\s+!error", text)
    # Per-user: every registry write goes to HKCU.
    regs = re.findall(r"^\s*(WriteReg\w+|DeleteRegKey)\s+(\w+)", text, re.M)
    assert regs and {hive for _, hive in regs} == {"HKCU"}
    for value in ("DisplayName", "DisplayVersion", "UninstallString", "InstallLocation", "EstimatedSize"):
        assert f'"{value}"' in text
    assert '"$DESKTOP\\${APP_NAME}.lnk"' in text and 'Section "Desktop shortcut"' in text
    assert "$SMPROGRAMS\\${APP_NAME}" in text


def test_uninstaller_keeps_user_folders_unless_ticked():
    text = _nsi()
    main = _section(text, '"un.${APP_NAME}"')
    for folder in ("models", "projects", "outputs", "data"):
        assert f'RMDir /r "$INSTDIR\\{folder}"' not in main, f"uninstaller always deletes {folder}"
    optional = text[text.index('Section /o "un.Also delete') :]
    optional = optional[: optional.index("SectionEnd")]
    for folder in ("models", "projects", "outputs", "data"):
        assert f'RMDir /r "$INSTDIR\\{folder}"' in optional
    assert "MUI_UNPAGE_COMPONENTS" in text  # the tick box is shown


def test_installer_matches_the_portable_layout(build):
    """What build_portable.py writes is what the installer packs and the uninstaller removes."""
    text = _nsi()
    for top in ("_internal", "models", "projects", "outputs"):
        assert f'File /r "${{SRCDIR}}\\{top}"' in text
    assert 'File "${SRCDIR}\\*.*"' in text
    main = _section(text, '"un.${APP_NAME}"')
    for sub in build.MODEL_DIRS:
        assert f'Delete "$INSTDIR\\models\\{sub}\\put_{sub}_here.txt"' in main
        assert f'RMDir "$INSTDIR\\models\\{sub}"' in main
    for sub in build.USER_DIRS:
        assert f'Delete "$INSTDIR\\{sub}\\README.txt"' in main
    for name in (
        "portable.txt",
        "README.txt",
        "LICENSE.txt",
        "THIRD-PARTY-NOTICES.txt",
        "get_torch.bat",
        "LoRAStudio.bat",
    ):
        assert f'Delete "$INSTDIR\\{name}"' in main, name
    assert 'RMDir /r "$INSTDIR\\torch-runtime"' in main
    # Torch arrives through get_torch.bat unless the payload already has it.
    assert '!if /FileExists "${SRCDIR}\\_internal\\torch\\__init__.py"' in text
    assert 'get_torch.bat" /installer' in text


def test_get_torch_bat_checks_hash_and_uses_builtin_tools():
    bat = (PACKAGING / "templates" / "get_torch.bat").read_text("utf-8")
    for needle in (
        "@TORCH_URL@",
        "@TORCH_SHA256@",
        "@TORCH_WHEEL@",
        "curl.exe --fail",
        "--continue-at -",
        "certutil -hashfile",
        "tar.exe -xf",
        "torch-runtime",
        "INSTALLER_DIR",
        "exit /b 1",
    ):
        assert needle in bat, needle


# --- ci_check.sh and the workflow ----------------------------------------------------------------------


def test_ci_check_script_is_valid_bash_and_installs_its_tools():
    subprocess.run(["bash", "-n", str(PACKAGING / "ci_check.sh")], check=True)
    text = (PACKAGING / "ci_check.sh").read_text("utf-8")
    assert "apt-get install -y -qq nsis 7zip" in text
    assert "Пробный путь 中文/LoRA Studio" in text
    assert "makensis" in text and "7zz l" in text and "--selftest" in text


def test_workflow_builds_cuda_portable_and_installer():
    import yaml  # PyYAML is a dependency of accelerate and transformers

    wf = yaml.safe_load(WORKFLOW.read_text("utf-8"))
    jobs = wf["jobs"]
    assert set(jobs) >= {"windows-build", "linux-package-check"}
    win = jobs["windows-build"]
    assert win["runs-on"].startswith("windows")
    assert "cu128" in win["strategy"]["matrix"]["variant"]
    steps = "\n".join(str(s.get("run", "")) + str(s.get("uses", "")) for s in win["steps"])
    assert "build_portable.py --torch-index ${{ matrix.variant }}" in steps
    assert "makensis" in steps and "upload-artifact" in steps and "--torch-mode external" in steps
    linux = "\n".join(str(s.get("run", "")) for s in jobs["linux-package-check"]["steps"])
    assert "packaging/ci_check.sh" in linux
