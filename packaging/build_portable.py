"""Build the portable LoRA Studio folder (NMKD / ComfyUI-portable style) and zip it.

    python packaging/build_portable.py                         # release: CUDA 12.8 torch, Windows
    python packaging/build_portable.py --torch-index cu126     # older GPUs / drivers
    python packaging/build_portable.py --torch-mode external   # installer payload (no torch inside)
    python packaging/build_portable.py --torch-index pypi --torch-spec "torch==2.13.0"   # Linux CI, CPU

Steps: (1) make a clean build venv (or use this interpreter with --use-current-env), (2) install
torch from the chosen index, the app and PyInstaller, (3) run PyInstaller on
packaging/lora_studio.spec, (4) lay out dist/LoRAStudio/ (launchers, portable.txt, models/,
projects/, outputs/, README, licences, get_torch.bat), (5) zip it as
``LoRAStudio-<version>-<variant>-portable.zip``. Works on Windows, Linux and macOS; PyInstaller
builds for the platform it runs on only, so the Windows release is built on Windows (see
docs/packaging.md and .github/workflows/windows-release.yml).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

PACKAGING = Path(__file__).resolve().parent
REPO = PACKAGING.parent
WINDOWS = sys.platform == "win32"
EXE = ".exe" if WINDOWS else ""
APP_NAME = "LoRAStudio"
CLI_NAME = "lora-studio"
PYTORCH_INDEX = "https://download.pytorch.org/whl/"
TORCH_INDEXES = ("cu126", "cu128", "cu130", "cpu")
MODEL_DIRS = {
    "checkpoints": "Put Stable Diffusion checkpoints here (.safetensors or .ckpt: SD 1.5, SD 2.x, SDXL).",
    "loras": "LoRA files (.safetensors) you train or download go here.",
    "captioners": "Captioning models (each in its own folder) go here.",
}
USER_DIRS = {
    "projects": "Your LoRA Studio projects (one folder each: pictures, captions, settings, runs).",
    "outputs": "Generated images are saved here.",
}


def app_version() -> str:
    text = (REPO / "lora_studio" / "__init__.py").read_text("utf-8")
    return re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.M).group(1)


def log(msg: str) -> None:
    print(f"[build_portable] {msg}", flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if WINDOWS else "bin/python")


def torch_index_args(index: str) -> list[str]:
    """pip arguments that pick where torch comes from.

    cu126/cu128/cu130/cpu: the official PyTorch index (the only source of CUDA builds for Windows;
    PyPI's Windows wheels are CPU-only). ``pypi``: pip's configured indexes (here: the local CPU
    wheel via find-links). A URL: that index.
    """
    if index == "pypi":
        return []
    url = index if "://" in index else PYTORCH_INDEX + index
    return ["--index-url", url]


def prepare_env(args: argparse.Namespace) -> tuple[Path, dict]:
    """Return the python that builds, and facts about the torch it has (for get_torch.bat)."""
    torch_info: dict = {}
    if args.use_current_env:
        python = Path(sys.executable)
        missing = subprocess.run([python, "-c", "import PyInstaller"], capture_output=True).returncode
        if missing:
            run([python, "-m", "pip", "install", "-r", PACKAGING / "requirements-build.txt"])
        return python, torch_info

    venv = args.venv
    python = venv_python(venv)
    if args.skip_install and python.exists():
        return python, _read_torch_info(args.work)
    if venv.exists():
        shutil.rmtree(venv)
    run([sys.executable, "-m", "venv", venv])
    run([python, "-m", "pip", "install", "--upgrade", "pip"])

    # torch first, alone, from the chosen index; keep the wheel's name and hash for get_torch.bat.
    wheels = args.work / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    index = torch_index_args(args.torch_index)
    run([python, "-m", "pip", "download", "--no-deps", "-d", wheels, *index, args.torch_spec])
    wheel = next(wheels.glob("torch-*.whl"))
    run([python, "-m", "pip", "install", *index, wheel])
    torch_info = {
        "wheel": wheel.name,
        "sha256": sha256(wheel),
        "size": wheel.stat().st_size,
        "index": args.torch_index,
        "url": _wheel_url(args.torch_index, wheel.name),
    }
    (args.work / "torch-wheel.json").write_text(json.dumps(torch_info, indent=2), encoding="utf-8")

    run([python, "-m", "pip", "install", REPO, "-r", PACKAGING / "requirements-build.txt"])
    if args.no_bitsandbytes:
        subprocess.run([python, "-m", "pip", "uninstall", "-y", "bitsandbytes"])
    return python, torch_info


def _read_torch_info(work: Path) -> dict:
    f = work / "torch-wheel.json"
    return json.loads(f.read_text("utf-8")) if f.exists() else {}


def _wheel_url(index: str, name: str) -> str | None:
    if index == "pypi":
        return None
    base = index if "://" in index else PYTORCH_INDEX + index
    return base.rstrip("/") + "/" + name.replace("+", "%2B")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def probe(python: Path) -> dict:
    code = (
        "import json, torch, platform, sys\n"
        "print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda,"
        " 'python': platform.python_version(), 'platform': sys.platform}))"
    )
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def variant_of(facts: dict) -> str:
    local = facts["torch"].partition("+")[2]
    if local:
        return local  # cpu, cu128, ...
    return "cu" + facts["cuda"].replace(".", "") if facts["cuda"] else "cpu"


def run_pyinstaller(python: Path, args: argparse.Namespace) -> Path:
    cmd = [
        python,
        "-m",
        "PyInstaller",
        PACKAGING / "lora_studio.spec",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        args.dist,
        "--workpath",
        args.work / "pyinstaller",  # shared by both modes: the second build reuses the analysis
    ]
    if args.clean:
        cmd.append("--clean")
    cmd += ["--", "--torch", args.torch_mode]
    if args.no_bitsandbytes:
        cmd.append("--no-bitsandbytes")
    env = dict(os.environ, PYTHONHASHSEED="0")  # more reproducible output
    run(cmd, cwd=REPO, env=env)
    return args.dist / APP_NAME


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    newline = "\r\n" if (WINDOWS or path.suffix in (".bat", ".txt")) else "\n"
    with open(path, "w", encoding="utf-8", newline=newline) as f:
        f.write(text)


def third_party_notices(python: Path) -> str:
    code = r"""
import importlib.metadata as md
rows = []
for d in md.distributions():
    m = d.metadata
    name = m.get("Name") or "?"
    if name.lower() in ("pip", "setuptools", "wheel", "pyinstaller", "pyinstaller-hooks-contrib", "altgraph"):
        continue
    lic = m.get("License-Expression") or (m.get("License") or "").splitlines()[0:1]
    lic = lic if isinstance(lic, str) else (lic[0] if lic else "")
    if not lic or len(lic) > 80:
        cls = [c.split("::")[-1].strip() for c in (m.get_all("Classifier") or []) if c.startswith("License ::")]
        lic = ", ".join(cls) or lic[:80] or "see package"
    rows.append(f"{name} {d.version}: {lic}")
print("\n".join(sorted(set(rows), key=str.lower)))
"""
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout
    return (
        "LoRA Studio bundles the following Python packages (name, version, licence). Their licence\n"
        "files are inside _internal/<package>-<version>.dist-info/ where the package ships them.\n"
        "Python itself: PSF License. Qt (PySide6): LGPLv3. PyTorch: BSD-3-Clause; CUDA builds also\n"
        "include NVIDIA CUDA runtime libraries under the NVIDIA CUDA EULA.\n\n" + out
    )


def layout(folder: Path, python: Path, facts: dict, torch_info: dict, args: argparse.Namespace) -> None:
    version = app_version()
    for name in (APP_NAME + EXE, CLI_NAME + EXE, "_internal"):
        assert (folder / name).exists(), f"PyInstaller output lacks {name}"
    write_text(
        folder / "portable.txt",
        "This file switches LoRA Studio to portable mode: settings, caches and logs stay in the\n"
        "data folder beside it, and models in models/. Delete it to keep them in your user profile\n"
        "instead.\n",
    )
    for sub, text in MODEL_DIRS.items():
        write_text(folder / "models" / sub / f"put_{sub}_here.txt", text + "\n")
    for sub, text in USER_DIRS.items():
        (folder / sub).mkdir(exist_ok=True)
        write_text(folder / sub / "README.txt", text + "\n")
    template = (PACKAGING / "templates" / "README.txt").read_text("utf-8")
    write_text(
        folder / "README.txt",
        template.format(
            version=version,
            variant=args.variant,
            torch=facts["torch"],
            exe=APP_NAME + EXE,
            cli=CLI_NAME + EXE,
        ),
    )
    write_text(folder / "LICENSE.txt", (PACKAGING / "templates" / "LICENSE.txt").read_text("utf-8"))
    write_text(folder / "THIRD-PARTY-NOTICES.txt", third_party_notices(python))
    build_info = {
        "version": version,
        "variant": args.variant,
        "torch_mode": args.torch_mode,
        "torch": facts["torch"],
        "cuda": facts["cuda"],
        "python": facts["python"],
        "platform": facts["platform"],
        "torch_wheel": torch_info or None,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_text(folder / "_internal" / "lora_studio_build.json", json.dumps(build_info, indent=2) + "\n")
    if WINDOWS or args.windows_scripts:
        # cmd.exe wants CRLF (goto/labels misbehave with LF-only files): write_text converts.
        write_text(folder / "LoRAStudio.bat", (PACKAGING / "templates" / "LoRAStudio.bat").read_text("utf-8"))
        bat = (PACKAGING / "templates" / "get_torch.bat").read_text("utf-8")
        wheel = (torch_info or {}).get("wheel", "")
        bat = (
            bat.replace("@TORCH_WHEEL@", wheel)
            .replace("@TORCH_URL@", (torch_info or {}).get("url") or "")
            .replace("@TORCH_SHA256@", (torch_info or {}).get("sha256") or "")
            .replace("@VARIANT@", args.variant)
        )
        write_text(folder / "get_torch.bat", bat)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def make_zip(folder: Path, target: Path) -> None:
    """Zip with the folder itself as the top entry, keeping empty folders and executable bits."""
    target.unlink(missing_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6, allowZip64=True) as zf:
        for path in sorted(folder.rglob("*")):
            arc = Path(folder.name) / path.relative_to(folder)
            if path.is_dir():
                zf.write(path, arc.as_posix() + "/")
            else:
                zf.write(path, arc.as_posix())


def make_7z(folder: Path, target: Path, split: str | None) -> None:
    tool = shutil.which("7z") or shutil.which("7zz") or shutil.which("7za")
    if not tool:
        raise SystemExit(
            "7z not found: install 7-Zip (Windows: choco install 7zip; Debian: apt-get install 7zip)"
        )
    for old in target.parent.glob(target.name + "*"):
        old.unlink()
    cmd = [tool, "a", "-t7z", "-m0=lzma2", "-mx=7", "-mmt=on", "-bsp0", "-bso0", target, folder]
    if split:
        cmd.insert(2, f"-v{split}")  # GitHub release assets must each be under 2 GiB
    run(cmd)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--torch-index", default="cu128", help="cu126 | cu128 | cu130 | cpu | pypi | an index URL")
    p.add_argument(
        "--torch-spec", default="torch==2.13.0", help='pip requirement for torch (default "%(default)s")'
    )
    p.add_argument(
        "--torch-mode",
        choices=["bundled", "external"],
        default="bundled",
        help="bundled: torch inside (portable zip); external: no torch, get_torch.bat fetches it (installer)",
    )
    p.add_argument(
        "--use-current-env", action="store_true", help="build with this interpreter's packages as they are"
    )
    p.add_argument("--skip-install", action="store_true", help="reuse the build venv from a previous run")
    p.add_argument("--venv", type=Path, default=REPO / "build" / "portable-venv")
    p.add_argument("--work", type=Path, default=REPO / "build" / "portable")
    p.add_argument("--dist", type=Path, help="output folder (default dist/ or dist/no-torch/)")
    p.add_argument(
        "--variant", help="name part of the archive (default: from the torch build, e.g. cu128, cpu)"
    )
    p.add_argument(
        "--archive",
        action="append",
        choices=["zip", "7z", "none"],
        help="zip (default), 7z (smaller; with --split for GitHub release assets), none; may repeat",
    )
    p.add_argument("--split", metavar="SIZE", help="7z volume size, e.g. 1900m (GitHub assets are < 2 GiB)")
    p.add_argument("--no-bitsandbytes", action="store_true")
    p.add_argument(
        "--windows-scripts", action="store_true", help="also add the .bat files off Windows (tests)"
    )
    p.add_argument("--clean", action="store_true", help="drop PyInstaller's cache first")
    args = p.parse_args(argv)
    args.venv = args.venv.resolve()
    args.work = args.work.resolve()
    args.dist = (
        args.dist or (REPO / "dist" / ("" if args.torch_mode == "bundled" else "no-torch"))
    ).resolve()
    args.work.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    python, torch_info = prepare_env(args)
    facts = probe(python)
    args.variant = args.variant or variant_of(facts)
    if args.torch_mode == "external":
        args.variant += "-notorch" if not args.variant.endswith("-notorch") else ""
    log(
        f"python {facts['python']} torch {facts['torch']} -> variant {args.variant} (prepare {time.perf_counter() - t0:.0f}s)"
    )

    t1 = time.perf_counter()
    folder = run_pyinstaller(python, args)
    log(f"PyInstaller done in {time.perf_counter() - t1:.0f}s")
    layout(folder, python, facts, torch_info, args)
    size = folder_size(folder)
    log(f"folder {folder}: {size / 2**20:.0f} MiB")

    for kind in [k for k in (args.archive or ["zip"]) if k != "none"]:
        t2 = time.perf_counter()
        target = args.dist / f"{APP_NAME}-{app_version()}-{args.variant}-portable.{kind}"
        make_zip(folder, target) if kind == "zip" else make_7z(folder, target, args.split)
        made = sorted(args.dist.glob(target.name + "*"))
        total = sum(m.stat().st_size for m in made)
        log(
            f"archive {', '.join(m.name for m in made)}: {total / 2**20:.0f} MiB in {time.perf_counter() - t2:.0f}s"
        )
    log(f"total {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
