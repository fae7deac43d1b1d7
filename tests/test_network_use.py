"""The app goes online in one place only: the model download (lora_studio/captioning/download.py),
started by the user's click in the Models dialog. Everything else stays offline (the hub libraries'
offline switch is set at start, core/paths.set_offline_environment; model loads pass local_files_only)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "lora_studio"

NETWORK_MODULES = {
    "urllib.request", "http.client", "http.server", "requests", "httpx", "httpx2", "urllib3", "aiohttp",
    "ftplib", "smtplib", "websocket", "websockets", "huggingface_hub", "socket",
}  # fmt: skip
DOWNLOADER = "captioning/download.py"
# Modules that import a network module for something that is not a connection.
ALLOWED = {"training/run_guard.py": {"socket"}}  # socket.gethostname(): whose run holds a folder


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if any(name == m or name.startswith(m + ".") for m in NETWORK_MODULES)}


def test_only_the_downloader_imports_network_clients():
    offenders = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == DOWNLOADER:
            continue
        used = _imports(path) - ALLOWED.get(rel, set())
        if used:
            offenders[rel] = sorted(used)
    assert not offenders, f"only {DOWNLOADER} may go online: {offenders}"
    assert "urllib.request" in _imports(ROOT / DOWNLOADER)  # (the check sees imports at all)
