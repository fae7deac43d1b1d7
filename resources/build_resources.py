"""The build step that puts what the package needs at run time into it.

The project keeps its assets and their sources in this top-level folder. When setuptools builds a
wheel, this ``build_py`` copies the run-time part (:data:`RUNTIME`) into ``lora_studio/resources``
inside the build (pyproject.toml names it in ``[tool.setuptools.cmdclass]``); the PyInstaller spec
copies the same list into the frozen app. A source checkout and an editable install read this
folder directly (``lora_studio.core.paths.resources_dir``), so nothing is duplicated in git.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RUNTIME = ("clip_tokenizer", "t5_tokenizer", "model_configs", "styles", "icons")  # what the app reads at run time


def runtime_files() -> list[tuple[Path, str]]:
    """(file, its folder relative to ``resources/``) for every run-time file."""
    return [
        (path, path.parent.relative_to(HERE).as_posix())
        for name in RUNTIME
        for path in sorted((HERE / name).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    ]


def _build_py_class() -> type:
    from setuptools.command.build_py import build_py

    class BuildPy(build_py):
        """setuptools' build_py, then the run-time resources into ``lora_studio/resources``."""

        def run(self) -> None:
            super().run()
            if getattr(self, "editable_mode", False):
                return  # an editable install reads the top-level folder
            target = Path(self.build_lib) / "lora_studio" / "resources"
            for path, folder in runtime_files():
                (target / folder).mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / folder / path.name)

    return BuildPy


def __getattr__(name: str) -> Any:
    # setuptools only: made on first use, so the PyInstaller spec can read runtime_files() without it.
    if name == "BuildPy":
        return _build_py_class()
    raise AttributeError(name)
