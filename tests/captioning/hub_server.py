"""A tiny stand-in for the model hub on 127.0.0.1, for the download tests (nothing leaves the machine).

It answers the two requests a download makes, as the hub does:

* ``GET /api/models/{repo}/revision/{rev}?blobs=true`` — ``{"sha": commit, "siblings": [...]}`` with
  each file's size, git blob id, and for large files an ``lfs`` entry with the sha256;
* ``GET /{repo}/resolve/{rev}/{path}`` — the bytes, with ``ETag``, ``X-Repo-Commit``,
  ``Content-Length`` and ``Accept-Ranges`` headers, and ``206 Partial Content`` for a ``Range``.

Faults to test with: ``drop_after[path] = n`` sends n bytes and then closes the connection (once);
``corrupt`` holds paths whose bytes are served changed (the listing keeps the true checksums).
``hold_after[path] = n`` sends n bytes, then waits for ``release`` and sends the rest slowly (a
download that is surely still running while a test presses Pause). ``requests`` records
``(path, Range header)`` of every file request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class _Repo:
    files: dict[str, bytes]
    lfs: set[str]
    commit: str = COMMIT


@dataclass
class FakeHub:
    repos: dict[str, _Repo] = field(default_factory=dict)
    drop_after: dict[str, int] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)
    hold_after: dict[str, int] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    trickle_s: float = 0.25  # after a hold: a pause between 512-byte pieces (7 kB take about 4 s)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def add_repo(self, repo: str, folder: Path, *, lfs: tuple[str, ...] = (), commit: str = COMMIT) -> None:
        files = {
            p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
        }
        self.repos[repo] = _Repo(files, set(lfs), commit)

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep the test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                hub._answer(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- answers ------------------------------------------------------------------------------------
    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(h.path)
        path = urllib.parse.unquote(url.path)
        if path.startswith("/api/models/"):
            repo, _, _rev = path.removeprefix("/api/models/").partition("/revision/")
            return self._listing(h, repo)
        repo, sep, rest = path.lstrip("/").partition("/resolve/")
        if not sep or repo not in self.repos:
            return self._send(h, 404, b'{"error":"Repository not found"}')
        rev, _, name = rest.partition("/")
        return self._file(h, self.repos[repo], rev, name)

    def _listing(self, h: BaseHTTPRequestHandler, repo_id: str) -> None:
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._send(h, 404, b'{"error":"Repository not found"}')
        siblings = []
        for name, data in repo.files.items():
            entry: dict[str, object] = {"rfilename": name, "size": len(data), "blobId": git_oid(data)}
            if name in repo.lfs:
                entry["lfs"] = {
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "pointerSize": 134,
                }
            siblings.append(entry)
        body = json.dumps({"id": repo_id, "sha": repo.commit, "siblings": siblings}).encode()
        self._send(h, 200, body, {"Content-Type": "application/json"})

    def _file(self, h: BaseHTTPRequestHandler, repo: _Repo, rev: str, name: str) -> None:
        if rev not in (repo.commit, "main") or name not in repo.files:
            return self._send(h, 404, b"Entry not found")
        self.requests.append((name, h.headers.get("Range", "")))
        data = repo.files[name]
        etag = hashlib.sha256(data).hexdigest() if name in repo.lfs else git_oid(data)
        if name in self.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes"}
        start, status = 0, 200
        wanted = h.headers.get("Range", "")
        if wanted.startswith("bytes=") and wanted.endswith("-"):
            start, status = int(wanted[6:-1]), 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        drop = self.drop_after.pop(name, None)
        hold = self.hold_after.pop(name, None)
        self._send(
            h,
            status,
            body,
            headers,
            drop_after=drop,
            hold=None if hold is None else (hold, self.release, self.trickle_s),
        )

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        drop_after: int | None = None,
        hold: tuple[int, threading.Event, float] | None = None,
    ) -> None:
        h.send_response(status)
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Connection", "close")
        h.end_headers()
        try:  # (a client that paused or gave up closes its end: not the server's problem)
            if hold is not None:
                at, release, pause_s = hold
                h.wfile.write(body[:at])
                h.wfile.flush()
                release.wait(30)
                for start in range(at, len(body), 512):
                    time.sleep(pause_s)
                    h.wfile.write(body[start : start + 512])
                    h.wfile.flush()
            else:
                h.wfile.write(body if drop_after is None else body[:drop_after])
            h.wfile.flush()
        except OSError:
            pass
        h.close_connection = True


def git_oid(data: bytes) -> str:
    """The id git gives a file's content (what the hub lists as ``blobId``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def closed_port_url() -> str:
    """An address where nothing listens: what a download sees with the server down."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def serving(repos: dict[str, Path], lfs: tuple[str, ...] = ("model.onnx",)) -> Iterator[FakeHub]:
    """A started :class:`FakeHub` serving each ``repo id -> folder`` (``lfs`` files as large files)."""
    hub = FakeHub()
    for repo, folder in repos.items():
        hub.add_repo(repo, folder, lfs=lfs)
    hub.start()
    try:
        yield hub
    finally:
        hub.release.set()
        hub.stop()
