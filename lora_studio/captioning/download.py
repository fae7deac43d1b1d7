"""Downloading a catalogue model: the one place LoRA Studio goes online, and only when the user asks.

Plain HTTP against the model hub's public URL scheme, so nothing here depends on (or changes) the
hub library's global offline switch that the app sets (``core.paths.set_offline_environment``):

* ``{endpoint}/api/models/{repo}/revision/{revision}?blobs=true`` — the commit and every file's size,
  with the sha256 of large (LFS) files and the git object id of small ones;
* ``{endpoint}/{repo}/resolve/{commit}/{path}`` — a file's bytes at that commit (HTTP ``Range``
  continues a partial file).

``endpoint`` is ``HF_ENDPOINT`` when set (a mirror, or a test server), else huggingface.co.

How a download goes (:func:`download_model`, normally run in a child process through
:func:`download_job`, so the app never opens a connection itself):

1. The files are fixed to one commit and written into a staging folder beside the target,
   ``<captioners>/.downloads/<name>/``, each as ``<file>.part`` until it is complete. The plan
   (commit, files, sizes, checksums) is saved there, so Pause (or a closed app, or a dropped
   connection) loses nothing: the next start continues each ``.part`` file where it stopped.
2. Every finished file is checked against the hub's checksum before it gets its real name. A file
   whose checksum does not match is deleted and the download stops with a message saying so.
3. When every file is there, the staging folder is renamed to ``<captioners>/<name>`` (or, when that
   folder exists already, each file is moved into it): the captioners never see half a model.

Progress arrives as :class:`DownloadProgress` events; Pause and Cancel are the job's cancel (Cancel
also calls :func:`discard_partial`). Problems raise :class:`DownloadError` with plain words.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import logging
import os
import shutil
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.client import HTTPException
from pathlib import Path
from typing import IO, Any

from lora_studio.captioning.catalog import HUB_URL, CatalogModel, format_size, get_model
from lora_studio.core.control import RunControl
from lora_studio.core.errors import ModelLoadError
from lora_studio.core.events import DownloadProgress, Reporter, StatusChanged
from lora_studio.core.fileio import atomic_write_text

log = logging.getLogger(__name__)

STAGING_DIR = ".downloads"  # under the captioners folder; its models are one level too deep to be found
PLAN_FILE = ".lora-studio-download.json"  # the plan; kept in the finished folder as a record
PART_SUFFIX = ".part"
CHUNK = 1 << 18
REPORT_EVERY_S = 0.2  # progress events at most this often (plus one per finished file)
USER_AGENT = "LoRA-Studio (model download)"


class DownloadError(ModelLoadError):
    """A download could not finish. What was downloaded so far is kept unless the message says not."""


class ConnectionLostError(DownloadError):
    """The hub could not be reached, or the connection dropped: worth trying again from where it stopped."""


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One file to fetch, with what the hub says about it."""

    path: str
    size: int
    sha256: str = ""  # large (LFS) files
    git_oid: str = ""  # small files: the git blob id (sha1 of "blob <size>\0" + content)


@dataclass(frozen=True, slots=True)
class DownloadResult:
    model: str
    folder: Path
    commit: str
    files: tuple[str, ...]
    bytes_total: int


# -- where things are -----------------------------------------------------------------------------------


def hub_endpoint() -> str:
    """The hub the app downloads from: ``HF_ENDPOINT`` when set, else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or HUB_URL).rstrip("/")


def staging_dir(model: CatalogModel, root: Path) -> Path:
    return root / STAGING_DIR / model.name


def partial_progress(model: CatalogModel, root: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(bytes so far, bytes in all)`` of a paused or interrupted download, or None when there is none."""
    staging = staging_dir(model, Path(root))
    plan = _read_plan(staging, model)
    if plan is None:
        return None
    files = plan[1]
    return sum(_bytes_present(staging, f) for f in files), sum(f.size for f in files)


def discard_partial(model: CatalogModel, root: str | os.PathLike[str]) -> None:
    """Delete what a cancelled download left (never the finished model folder)."""
    staging = staging_dir(model, Path(root))
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        staging.parent.rmdir()  # only when empty


# -- the job ----------------------------------------------------------------------------------------------


def download_job(name: str, root: str | os.PathLike[str], endpoint: str | None = None) -> Callable[..., Any]:
    """A picklable ``job(reporter, control)`` for a child process (``app.workers.ProcessWorker``).

    The endpoint is read here, in the app, so the child downloads from the hub the user saw.
    """
    return functools.partial(_run_job, name, str(root), endpoint or hub_endpoint())


def _run_job(name: str, root: str, endpoint: str, reporter: Reporter, control: RunControl) -> DownloadResult:
    return download_model(get_model(name), root, reporter, control, endpoint=endpoint)


def download_model(
    model: CatalogModel,
    root: str | os.PathLike[str],
    reporter: Reporter,
    control: RunControl,
    *,
    endpoint: str | None = None,
    timeout_s: float = 20.0,
    retries: int = 3,
) -> DownloadResult:
    """Download ``model`` into ``root/<model.name>`` (``root``: the captioners folder); see the module
    docstring. Raises :class:`DownloadError`, or ``Cancelled`` on Pause/Cancel (the files stay)."""
    client = _Client(endpoint or hub_endpoint(), model, Path(root), timeout_s)
    staging = staging_dir(model, client.root)
    plan = _read_plan(staging, model)
    if plan is None:
        reporter(StatusChanged(f"Asking {client.host} for the files of {model.label}…"))
        plan = client.plan()
        # Parts of another plan (made by an older catalogue) can't be continued: start clean.
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True, exist_ok=True)
        _write_plan(staging, model, *plan)
    commit, files = plan
    total = sum(f.size for f in files)
    _check_room(staging, total - sum(_bytes_present(staging, f) for f in files))
    done_bytes = 0
    for index, remote in enumerate(files):
        control.raise_if_cancelled()
        final = staging / remote.path
        if not final.is_file():

            def report(
                have: int, remote: RemoteFile = remote, index: int = index, base: int = done_bytes
            ) -> None:
                reporter(DownloadProgress(model.name, remote.path, index, len(files), base + have, total))

            client.fetch(commit, remote, final, report, control, retries, status=reporter)
        done_bytes += remote.size
    reporter(DownloadProgress(model.name, "", len(files), len(files), total, total))
    try:
        folder = _place(staging, client.root / model.name, files)
    except OSError as exc:  # (Windows: a file in the target folder is open in another program)
        raise DownloadError(
            f"{model.label} was downloaded and checked, but could not be moved into "
            f"{client.root / model.name}.",
            hint="Close programs that may use that folder, then press Resume: nothing is downloaded again.",
            details=repr(exc),
        ) from exc
    log.info("Downloaded %s (%s at %s) into %s", model.name, model.repo, commit, folder)
    return DownloadResult(model.name, folder, commit, tuple(f.path for f in files), total)


def _check_room(staging: Path, needed: int) -> None:
    """Refuse to start when the disk can't hold the rest of the download (plus a little room)."""
    try:
        free = shutil.disk_usage(staging).free
    except OSError:
        return
    margin = 64_000_000
    if free < needed + margin:
        raise DownloadError(
            f"The disk holding {staging.parent.parent} has {format_size(free)} free; this download needs "
            f"{format_size(needed + margin)}.",
            hint="Make room (or choose another captioners folder in Edit → Settings), then press "
            "Download again; what was downloaded so far is kept.",
        )


# -- the plan -------------------------------------------------------------------------------------------


def _write_plan(staging: Path, model: CatalogModel, commit: str, files: list[RemoteFile]) -> None:
    data = {
        "repo": model.repo,
        "revision": model.revision,
        "commit": commit,
        "files": [asdict(f) for f in files],
    }
    atomic_write_text(staging / PLAN_FILE, json.dumps(data, indent=1))


def _read_plan(staging: Path, model: CatalogModel) -> tuple[str, list[RemoteFile]] | None:
    try:
        data = json.loads((staging / PLAN_FILE).read_text(encoding="utf-8"))
        if data["repo"] != model.repo or data["revision"] != model.revision:
            return None
        return str(data["commit"]), [RemoteFile(**f) for f in data["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _bytes_present(staging: Path, remote: RemoteFile) -> int:
    for candidate in (staging / remote.path, staging / (remote.path + PART_SUFFIX)):
        with contextlib.suppress(OSError):
            return min(candidate.stat().st_size, remote.size)
    return 0


def _place(staging: Path, target: Path, files: list[RemoteFile]) -> Path:
    """Move the finished files into ``target`` in one rename (or file by file into an existing one)."""
    if not target.exists():
        os.replace(staging, target)
    else:
        for remote in files:
            dest = target / remote.path
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / remote.path, dest)
        os.replace(staging / PLAN_FILE, target / PLAN_FILE)
        shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        staging.parent.rmdir()  # the .downloads folder, when nothing else is downloading
    return target


# -- HTTP -------------------------------------------------------------------------------------------------


def _ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    with contextlib.suppress(ImportError, OSError, ssl.SSLError):
        import certifi  # the system's store may be missing in a frozen build; certifi's always comes along

        context.load_verify_locations(certifi.where())
    return context


class _Client:
    def __init__(self, endpoint: str, model: CatalogModel, root: Path, timeout_s: float) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.model = model
        self.root = root
        self.timeout_s = timeout_s
        self.host = urllib.parse.urlsplit(self.endpoint).netloc or self.endpoint
        self.context = _ssl_context() if self.endpoint.startswith("https:") else None

    def open(self, url: str, start: int = 0) -> Any:
        headers = {"User-Agent": USER_AGENT}
        if start:
            headers["Range"] = f"bytes={start}-"
        request = urllib.request.Request(url, headers=headers)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout_s, context=self.context)
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from exc
        except (urllib.error.URLError, OSError, HTTPException) as exc:
            raise self._offline(exc) from exc

    def plan(self) -> tuple[str, list[RemoteFile]]:
        repo = urllib.parse.quote(self.model.repo, safe="/")
        revision = urllib.parse.quote(self.model.revision, safe="")
        url = f"{self.endpoint}/api/models/{repo}/revision/{revision}?blobs=true"
        try:
            with self.open(url) as response:
                info = json.loads(response.read().decode("utf-8"))
            commit = str(info["sha"])
            siblings = {str(s["rfilename"]): s for s in info["siblings"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise DownloadError(
                f"{self.host} answered with something that is not a model's file list.",
                hint="Try again later. " + self._by_hand(),
                details=repr(exc),
            ) from exc
        except (OSError, HTTPException) as exc:
            raise self._offline(exc) from exc
        files = [self._remote(path, siblings[path]) for path in self.model.select(siblings)]
        return commit, files

    def _remote(self, path: str, sibling: dict[str, Any]) -> RemoteFile:
        lfs = sibling.get("lfs") or {}
        size = int(lfs.get("size", sibling.get("size", -1)))
        sha256 = str(lfs.get("sha256") or lfs.get("oid") or "").lower()
        git_oid = "" if sha256 else str(sibling.get("blobId") or "").lower()
        pinned = self.model.known(path)
        if pinned is not None and (
            (pinned.size is not None and size >= 0 and pinned.size != size)
            or (pinned.sha256 and sha256 and pinned.sha256.lower() != sha256)
        ):
            raise DownloadError(
                f"The hub's copy of {path} ({self.model.repo}) is not the file LoRA Studio knows, "
                "so it was not downloaded.",
                hint="The model may have been changed or replaced. " + self._by_hand(),
            )
        if pinned is not None:
            size = pinned.size if pinned.size is not None else size
            sha256 = (pinned.sha256 or sha256).lower()
        if size < 0:
            raise DownloadError(f"{self.host} did not say how large {path} is.", hint=self._by_hand())
        return RemoteFile(path, size, sha256, git_oid)

    def fetch(
        self,
        commit: str,
        remote: RemoteFile,
        final: Path,
        report: Callable[[int], None],
        control: RunControl,
        retries: int,
        status: Reporter | None = None,
    ) -> None:
        """Download ``remote`` to ``final`` through its ``.part`` file, continuing it; then verify."""
        part = final.with_name(final.name + PART_SUFFIX)
        part.parent.mkdir(parents=True, exist_ok=True)
        if remote.size == 0:
            part.touch()
        url = (
            f"{self.endpoint}/{urllib.parse.quote(self.model.repo, safe='/')}/resolve/"
            f"{urllib.parse.quote(commit, safe='')}/{urllib.parse.quote(remote.path, safe='/')}"
        )
        failures = 0
        while (have := part.stat().st_size if part.exists() else 0) < remote.size:
            control.raise_if_cancelled()
            before = have
            try:
                have = self._receive(url, part, have, remote.size, report, control)
            except ConnectionLostError:
                if part.exists() and part.stat().st_size > before:
                    failures = 0  # it moved on: a flaky line, not a dead one
                else:
                    failures += 1
                if failures > retries:
                    raise
                log.info("Download of %s interrupted at %d bytes; continuing.", remote.path, have)
                control.sleep(min(2.0**failures * 0.25, 5.0))
        if have > remote.size:
            part.unlink()
            raise DownloadError(
                f"{remote.path} came out larger than the hub said ({have} > {remote.size} bytes); it was deleted.",
                hint="Press Download to try again.",
            )
        report(remote.size)
        if status is not None and remote.size > 100_000_000:  # (reading a large file back takes a while)
            status(StatusChanged(f"Checking {remote.path} ({format_size(remote.size)})…"))
        self._verify(part, remote)
        os.replace(part, final)

    def _receive(
        self, url: str, part: Path, have: int, size: int, report: Callable[[int], None], control: RunControl
    ) -> int:
        with self.open(url, have) as response:
            status = getattr(response, "status", 200)
            if have and status != 206:
                have = 0  # the server ignored the range and sends the whole file: start again
            elif not _range_starts_at(response, have):
                raise ConnectionLostError(
                    f"{self.host} sent another part of the file than the one asked for.",
                    details=f"asked from byte {have}; got {response.headers.get('Content-Range')!r}",
                )
            mode = "ab" if have else "wb"
            last_report = 0.0
            try:
                with open(part, mode) as out:
                    # read1: whatever has arrived (up to CHUNK), so progress and Pause keep up on slow lines
                    while chunk := response.read1(CHUNK):
                        _write(out, chunk, part)
                        have += len(chunk)
                        if time.monotonic() - last_report >= REPORT_EVERY_S:
                            last_report = time.monotonic()
                            report(min(have, size))
                        control.raise_if_cancelled()
            except (OSError, HTTPException) as exc:
                if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
                    raise
                raise self._offline(exc, during=True) from exc
        if have < size:
            raise self._offline(ConnectionError("the connection closed early"), during=True)
        return have

    def _verify(self, part: Path, remote: RemoteFile) -> None:
        if remote.sha256:
            digest, expected, name = hashlib.sha256(), remote.sha256, "sha256"
        elif remote.git_oid:
            digest, expected, name = hashlib.sha1(f"blob {remote.size}\0".encode()), remote.git_oid, "git"
        else:
            log.warning("The hub gave no checksum for %s; only its size was checked.", remote.path)
            return
        with open(part, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != expected:
            part.unlink()
            raise DownloadError(
                f"{remote.path} of {self.model.label} arrived damaged: its checksum does not match the "
                "hub's, so the file was deleted.",
                hint="Press Download to fetch it again. If it happens again, the connection or a proxy "
                "is changing the data.",
                details=f"{name}: expected {expected}, got {digest.hexdigest()}",
            )

    # -- messages ---------------------------------------------------------------------------------
    def _by_hand(self) -> str:
        return (
            f"You can also download the files in a web browser from {self.endpoint}/{self.model.repo} "
            f"and put them into {self.root / self.model.name}."
        )

    def _offline(self, exc: BaseException, *, during: bool = False) -> DownloadError:
        if isinstance(exc, DownloadError):
            return exc
        what = "The connection to" if during else "LoRA Studio can't reach"
        message = (
            f"{what} {self.host} was lost."
            if during
            else f"{what} {self.host}: this computer seems to be offline, or the server is down."
        )
        return ConnectionLostError(
            message,
            hint="Check the internet connection and press Download (or Resume) again; what was "
            "downloaded so far is kept. " + self._by_hand(),
            details=repr(exc),
        )

    def _http_error(self, exc: urllib.error.HTTPError) -> DownloadError:
        code = exc.code
        if code in (401, 403):
            message = f"{self.model.repo} on {self.host} needs you to log in and accept its licence first."
        elif code == 404:
            message = f"{self.host} has no {self.model.repo} (or the file asked for is gone)."
        elif code == 429:
            message = f"{self.host} asks to slow down (too many downloads at once)."
        elif code >= 500:
            message = f"{self.host} has a problem at the moment (HTTP {code})."
        else:
            message = f"{self.host} refused the download (HTTP {code})."
        return DownloadError(message, hint="Try again later. " + self._by_hand(), details=f"{exc.url}: {exc}")


def _range_starts_at(response: Any, have: int) -> bool:
    if not have:
        return True
    value = response.headers.get("Content-Range", "")  # "bytes 100-999/1000"
    with contextlib.suppress(ValueError, IndexError):
        return int(value.split()[1].split("-")[0]) == have
    return False


def _write(out: IO[bytes], chunk: bytes, part: Path) -> None:
    try:
        out.write(chunk)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise DownloadError(
                f"The disk holding {part.parent} is full.",
                hint="Make room and press Resume; what was downloaded so far is kept.",
            ) from exc
        raise
