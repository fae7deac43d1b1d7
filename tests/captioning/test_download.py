"""The model download, end to end against a stand-in hub on 127.0.0.1 (tests/captioning/hub_server.py):
progress, a dropped connection that resumes, a paused download that continues from its partial file,
a damaged file rejected by its checksum, the message when the server is down. Nothing goes online."""

from __future__ import annotations

import json
import os

import pytest

from lora_studio.captioning import download as dl
from lora_studio.captioning.base import load_captioner
from lora_studio.captioning.catalog import CatalogModel, FileRule, KnownFile, get_model
from lora_studio.core.control import RunControl
from lora_studio.core.errors import Cancelled
from lora_studio.core.events import DownloadProgress, Event, StatusChanged
from lora_studio.training.process import TrainingProcess
from tests.captioning.hub_server import COMMIT, FakeHub, closed_port_url, serving
from tests.captioning.tiny_models import TAGS, build_wd14

MODEL = get_model("wd-vit-tagger-v3")


@pytest.fixture(scope="module")
def tiny_tagger(tmp_path_factory):
    # 600 more tags make model.onnx about 10 kB: several chunks at the tests' chunk size.
    tags = TAGS + [(f"tag_{i}", 0, 0.01, None) for i in range(600)]
    return build_wd14(tmp_path_factory.mktemp("hub") / "repo", tags=tags)


@pytest.fixture
def hub(tiny_tagger):
    server = FakeHub()
    server.add_repo(MODEL.repo, tiny_tagger, lfs=("model.onnx",))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(dl, "CHUNK", 1024)
    monkeypatch.setattr(dl, "REPORT_EVERY_S", 0.0)


def _run(hub_url, root, events=None, control=None, model=MODEL):
    events = [] if events is None else events
    return dl.download_model(model, root, events.append, control or RunControl(), endpoint=hub_url)


def _progress(events: list[Event]) -> list[DownloadProgress]:
    return [e for e in events if isinstance(e, DownloadProgress)]


def test_download_reports_progress_and_places_a_usable_model(hub, tiny_tagger, tmp_path, small_chunks):
    root = tmp_path / "captioners"
    events: list[Event] = []
    result = _run(hub.url, root, events)

    folder = root / "wd-vit-tagger-v3"
    assert result.folder == folder and result.commit == COMMIT
    assert sorted(result.files) == ["model.onnx", "selected_tags.csv"]
    for name in result.files:
        assert (folder / name).read_bytes() == (tiny_tagger / name).read_bytes()
    assert not (root / dl.STAGING_DIR).exists()  # the staging folder went away with the rename
    assert json.loads((folder / dl.PLAN_FILE).read_text())["commit"] == COMMIT

    progress = _progress(events)
    total = sum((tiny_tagger / n).stat().st_size for n in result.files)
    assert len(progress) >= 4 and {p.bytes_total for p in progress} == {total}
    assert [p.bytes_done for p in progress] == sorted(p.bytes_done for p in progress)
    assert progress[-1] == DownloadProgress(MODEL.name, "", 2, 2, total, total)
    assert any(0 < p.bytes_done < total for p in progress)
    assert isinstance(events[0], StatusChanged) and "127.0.0.1" in events[0].text
    # Files come from the commit the listing named, not from a branch that may move meanwhile.
    assert {name for name, _ in hub.requests} == {"model.onnx", "selected_tags.csv"}

    tagger = load_captioner(folder, "cpu")  # what the captioners read is complete and loads
    assert tagger.loaded


def test_dropped_connection_resumes_from_the_partial_file(hub, tiny_tagger, tmp_path, small_chunks):
    hub.drop_after["model.onnx"] = 3000
    result = _run(hub.url, tmp_path)
    assert (result.folder / "model.onnx").read_bytes() == (tiny_tagger / "model.onnx").read_bytes()
    ranges = [r for name, r in hub.requests if name == "model.onnx"]
    assert ranges == ["", "bytes=3000-"]


def test_paused_download_continues_from_its_part_file(hub, tiny_tagger, tmp_path, small_chunks):
    control = RunControl()
    seen: list[Event] = []

    def pause_midway(event: Event) -> None:
        seen.append(event)
        if isinstance(event, DownloadProgress) and event.file == "model.onnx" and event.bytes_done > 2000:
            control.cancel()  # what Pause does

    with pytest.raises(Cancelled):
        dl.download_model(MODEL, tmp_path, pause_midway, control, endpoint=hub.url)
    part = tmp_path / dl.STAGING_DIR / MODEL.name / "model.onnx.part"
    kept = part.stat().st_size
    assert 2000 < kept < (tiny_tagger / "model.onnx").stat().st_size
    assert not (tmp_path / MODEL.name).exists()
    done, total = dl.partial_progress(MODEL, tmp_path)
    assert done == kept and total > kept

    events: list[Event] = []
    result = _run(hub.url, tmp_path, events)  # "Resume": a new job, possibly after a restart
    assert (result.folder / "model.onnx").read_bytes() == (tiny_tagger / "model.onnx").read_bytes()
    assert [r for name, r in hub.requests if name == "model.onnx"] == ["", f"bytes={kept}-"]
    assert min(p.bytes_done for p in _progress(events)) >= kept  # it starts where it stopped
    assert dl.partial_progress(MODEL, tmp_path) is None


@pytest.mark.parametrize("damaged", ["model.onnx", "selected_tags.csv"])  # sha256 (LFS) and git id
def test_a_damaged_file_is_rejected_by_its_checksum_and_removed(hub, tmp_path, damaged):
    hub.corrupt.add(damaged)
    with pytest.raises(dl.DownloadError) as err:
        _run(hub.url, tmp_path)
    assert "damaged" in err.value.message and "checksum" in err.value.message and damaged in err.value.message
    assert "Download" in err.value.hint
    staging = tmp_path / dl.STAGING_DIR / MODEL.name
    assert not (staging / damaged).exists() and not (staging / (damaged + ".part")).exists()
    assert not (tmp_path / MODEL.name).exists()  # nothing half-checked reaches the captioners

    hub.corrupt.clear()
    assert _run(hub.url, tmp_path).folder == tmp_path / MODEL.name  # the next try fetches it again


def test_offline_gives_a_plain_message_and_keeps_nothing_broken(tmp_path):
    with pytest.raises(dl.DownloadError) as err:
        _run(closed_port_url(), tmp_path)
    assert "offline" in err.value.message and "127.0.0.1" in err.value.message
    assert str(tmp_path / MODEL.name) in err.value.hint and "web browser" in err.value.hint
    assert not (tmp_path / MODEL.name).exists()


def test_server_going_down_midway_keeps_the_part_and_says_so(hub, tiny_tagger, tmp_path, small_chunks):
    hub.drop_after["model.onnx"] = 3000
    url = hub.url

    def stop_server(event: Event) -> None:
        if isinstance(event, DownloadProgress) and event.bytes_done >= 3000 and hub.repos:
            hub.repos.clear()  # from now on the hub knows nothing: 404s
            hub.stop()

    with pytest.raises(dl.DownloadError) as err:
        dl.download_model(MODEL, tmp_path, stop_server, RunControl(), endpoint=url, retries=1)
    assert "offline" in err.value.message or "lost" in err.value.message
    assert "kept" in err.value.hint
    part = tmp_path / dl.STAGING_DIR / MODEL.name / "model.onnx.part"
    assert part.stat().st_size == 3000


def test_unknown_repository_and_pinned_sizes(hub, tmp_path):
    missing = CatalogModel(**{**_fields(MODEL), "repo": "nobody/nothing"})
    with pytest.raises(dl.DownloadError, match="has no nobody/nothing"):
        _run(hub.url, tmp_path, model=missing)
    pinned = CatalogModel(**{**_fields(MODEL), "known_files": (KnownFile("model.onnx", size=123),)})
    with pytest.raises(dl.DownloadError, match="not the file LoRA Studio knows"):
        _run(hub.url, tmp_path, model=pinned)
    assert hub.requests == []  # rejected before a byte was fetched


def test_existing_folder_gets_the_files_moved_in(hub, tmp_path):
    folder = tmp_path / MODEL.name
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "selected_tags.csv").write_text("old")
    _run(hub.url, tmp_path)
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "selected_tags.csv").read_text().startswith("tag_id")
    assert MODEL.installed_in(folder)


def test_discard_partial_removes_only_the_staging(hub, tmp_path, small_chunks):
    control = RunControl()

    def cancel(event: Event) -> None:
        if isinstance(event, DownloadProgress) and event.bytes_done:
            control.cancel()

    with pytest.raises(Cancelled):
        dl.download_model(MODEL, tmp_path, cancel, control, endpoint=hub.url)
    assert dl.partial_progress(MODEL, tmp_path) is not None
    dl.discard_partial(MODEL, tmp_path)
    assert dl.partial_progress(MODEL, tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_the_download_runs_in_a_child_process_and_leaves_the_apps_offline_switch(hub, tiny_tagger, tmp_path):
    before = os.environ.get("HF_HUB_OFFLINE")
    events: list[Event] = []
    process = TrainingProcess(dl.download_job(MODEL.name, tmp_path, hub.url), name="Download", threads=1)
    result = process.run(events.append, RunControl())
    assert process.pid is not None and process.pid != os.getpid()
    assert result.folder == tmp_path / MODEL.name and MODEL.installed_in(result.folder)
    assert _progress(events)[-1].files_done == 2
    assert os.environ.get("HF_HUB_OFFLINE") == before == "1"


def test_endpoint_comes_from_hf_endpoint(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.example/")
    assert dl.hub_endpoint() == "http://mirror.example"
    monkeypatch.delenv("HF_ENDPOINT")
    assert dl.hub_endpoint() == "https://huggingface.co"


def _fields(model: CatalogModel) -> dict:
    return {name: getattr(model, name) for name in CatalogModel.__dataclass_fields__}


def test_a_full_disk_is_refused_before_the_first_byte(hub, tmp_path, monkeypatch):
    real = dl.shutil.disk_usage

    def almost_full(path):
        usage = real(path)
        return usage._replace(free=10_000_000)

    monkeypatch.setattr(dl.shutil, "disk_usage", almost_full)
    with pytest.raises(dl.DownloadError) as err:
        _run(hub.url, tmp_path)
    assert "10.0 MB free" in err.value.message and "Make room" in err.value.hint
    assert hub.requests == []


def test_a_target_that_cannot_be_replaced_keeps_the_checked_files(hub, tmp_path, monkeypatch):
    def locked(staging, target, files):
        raise PermissionError(13, "in use", str(target))

    monkeypatch.setattr(dl, "_place", locked)
    with pytest.raises(dl.DownloadError, match="could not be moved") as err:
        _run(hub.url, tmp_path)
    assert "Resume" in err.value.hint
    monkeypatch.undo()
    asked = len(hub.requests)
    result = _run(hub.url, tmp_path)  # Resume: placement only, nothing fetched again
    assert MODEL.installed_in(result.folder) and len(hub.requests) == asked


def test_empty_files_and_a_stale_staging_folder(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "weights.bin").write_bytes(b"w" * 5000)
    (repo / "empty.txt").write_bytes(b"")
    model = CatalogModel(
        **{
            **_fields(MODEL),
            "repo": "someone/odd",
            "files": (FileRule(("weights.bin",)), FileRule(("empty.txt",))),
        }
    )
    stale = tmp_path / "root" / dl.STAGING_DIR / model.name
    stale.mkdir(parents=True)
    (stale / "weights.bin.part").write_bytes(b"x" * 100)  # left by a plan that no longer exists
    with serving({model.repo: repo}, lfs=("weights.bin",)) as hub:
        result = _run(hub.url, tmp_path / "root", model=model)
    assert (result.folder / "empty.txt").read_bytes() == b""
    assert (result.folder / "weights.bin").read_bytes() == b"w" * 5000
