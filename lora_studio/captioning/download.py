"""Optional download of a captioning model from the Hugging Face Hub — only when the user asks.

Never called on the normal path: captioners load only from local folders. In offline mode
(``HF_HUB_OFFLINE=1``, which the app sets by default) this fails at once with a plain message that
also says which files to copy by hand. Only the files the family needs are fetched.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from pathlib import Path

from lora_studio.captioning.base import captioner_specs, get_spec, missing_model_message
from lora_studio.core.errors import ModelLoadError
from lora_studio.core.events import Progress, Reporter, StatusChanged, null_reporter

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}


def downloads_disabled() -> bool:
    """True when the environment forbids hub access (the app's default; see core.paths)."""
    return any(
        os.environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _network_errors() -> tuple[type[BaseException], ...]:
    """OSError plus the HTTP client's own error base (huggingface_hub uses httpx or httpx2)."""
    found: list[type[BaseException]] = [OSError]
    for module_name in ("httpx2", "httpx"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        error = getattr(module, "HTTPError", None)
        if isinstance(error, type) and issubclass(error, BaseException):
            found.append(error)
    return tuple(found)


def guess_kind(repo_id: str) -> str:
    """The captioner family a repository name suggests (``SmilingWolf/wd-…`` -> wd14)."""
    name = repo_id.lower()
    if "tagger" in name or name.startswith("smilingwolf/"):
        return "wd14"
    if "blip" in name and "blip2" not in name and "blip-2" not in name:
        return "blip"
    if "florence" in name:
        return "florence2"
    if "qwen" in name and "vl" in name:
        return "qwen_vl"
    if "joycaption" in name:
        return "llava"
    for spec in captioner_specs():
        if spec.kind in name:
            return spec.kind
    raise ModelLoadError(
        f"LoRA Studio does not know which kind of captioner {repo_id} is.",
        hint="Supported: " + ", ".join(f"{s.label} (e.g. {s.example_repo})" for s in captioner_specs()) + ".",
    )


def download_model(
    repo_id: str,
    target_dir: str | os.PathLike[str],
    progress: Reporter = null_reporter,
    *,
    kind: str | None = None,
    revision: str | None = None,
    timeout_s: float = 30.0,
) -> Path:
    """Download the files of ``repo_id`` that its family needs into ``target_dir``; return the folder.

    Raises ModelLoadError with a plain message when offline, when the hub cannot be reached or when
    the repository does not exist.
    """
    kind = kind or guess_kind(repo_id)
    spec = get_spec(kind)
    target = Path(target_dir)
    manual = missing_model_message(kind, target)
    if downloads_disabled():
        raise ModelLoadError(
            "Downloads are switched off: LoRA Studio is in offline mode (HF_HUB_OFFLINE is set).",
            hint=f"Download the files in a web browser instead. {manual}",
        )
    try:
        import huggingface_hub
        from huggingface_hub import errors as hub_errors
    except ImportError as exc:  # pragma: no cover - huggingface_hub comes with transformers
        raise ModelLoadError(
            "The huggingface_hub package is missing, so nothing can be downloaded.", hint=manual
        ) from exc

    progress(StatusChanged(f"Downloading {repo_id}…"))
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", str(int(timeout_s)))
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", str(int(timeout_s)))
    try:
        files = [
            f
            for f in huggingface_hub.list_repo_files(repo_id, revision=revision)
            if "/" not in f and any(fnmatch.fnmatchcase(f, pattern) for pattern in spec.download_patterns)
        ]
        if not files:
            raise ModelLoadError(f"{repo_id} has none of the files a {spec.label} needs.", hint=manual)
        target.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(files):
            progress(Progress(i, len(files), name))
            huggingface_hub.hf_hub_download(repo_id, name, revision=revision, local_dir=target)
        progress(Progress(len(files), len(files), "done"))
    except hub_errors.OfflineModeIsEnabled as exc:
        raise ModelLoadError("Downloads are switched off (offline mode).", hint=manual) from exc
    except hub_errors.RepositoryNotFoundError as exc:
        raise ModelLoadError(
            f"There is no model called {repo_id} on huggingface.co (or it is private).", hint=manual
        ) from exc
    except _network_errors() as exc:
        raise ModelLoadError(
            f"{repo_id} could not be downloaded: huggingface.co cannot be reached or refused the request.",
            hint=f"Check the internet connection, or copy the files by hand. {manual}",
            details=repr(exc),
        ) from exc
    log.info("Downloaded %s into %s", repo_id, target)
    missing = spec.missing_files(target)
    if missing:
        raise ModelLoadError(
            f"The download of {repo_id} is incomplete.", hint=missing_model_message(kind, target)
        )
    return target
