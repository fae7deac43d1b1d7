"""Output folders that can't take the run's files, full disks, two runs on one folder, temp files
left by kills, file modes, and a closed pipe."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from safetensors.torch import load_file

from lora_studio.cli.main import main
from lora_studio.core import fileio
from lora_studio.core.errors import TrainingError
from lora_studio.core.fileio import atomic_write_bytes, atomic_write_text
from lora_studio.training import checkpoints as C
from lora_studio.training import run_files
from lora_studio.training.trainer import run_training
from tests.training.conftest import make_dataset, tiny_config

from .conftest import assert_one_line_error, cli_env, simple_kohya, write_train_config


# -- (12) file modes ------------------------------------------------------------------------------------
@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writer_applies_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        with open(tmp_path / "b.txt", "w") as fh:  # what a plain open() gives
            fh.write("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == (tmp_path / "b.txt").stat().st_mode & 0o777
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask


# -- (5) stale temp files ---------------------------------------------------------------------------------
def test_sweep_removes_only_our_temps(tmp_path):
    from lora_studio.core.fileio import sweep_stale_temps

    fd, ours = tempfile.mkstemp(prefix=".t.safetensors.", suffix=".tmp", dir=tmp_path)
    os.close(fd)
    keep = [tmp_path / "notes.tmp", tmp_path / "t.safetensors", tmp_path / ".hidden"]
    for p in keep:
        p.write_text("user file")
    removed = sweep_stale_temps(tmp_path)
    assert removed == [Path(ours)] and not Path(ours).exists()
    assert all(p.exists() for p in keep)


def test_run_start_sweeps_temps_left_by_a_kill(tmp_path, tiny_sd1_dir):
    cfg = tiny_config(tiny_sd1_dir, tmp_path, **{"run.max_steps": 1})
    out = Path(cfg.run.output_dir)
    (out / run_files.STATE_DIR).mkdir(parents=True)
    left = []
    for folder, name in ((out, "t.safetensors"), (out / run_files.STATE_DIR, "t-state-s000002.pt")):
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        os.write(fd, b"half a file")
        os.close(fd)
        left.append(Path(tmp))
    run_training(cfg, dataset=make_dataset(tmp_path / "ds", 2))
    assert not any(p.exists() for p in left)
    assert [p for p in out.rglob("*.tmp")] == []


# -- (1) an output folder that can't be written -------------------------------------------------------------
def _no_model(monkeypatch):
    monkeypatch.setattr("lora_studio.training.setup.load_model", lambda *a, **k: pytest.fail("model loaded"))


def test_unwritable_output_folder_refused_before_the_model_loads(tmp_path, tiny_sd1_dir, monkeypatch, capsys):
    _no_model(monkeypatch)
    simple_kohya(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    cfg = write_train_config(tmp_path, tiny_sd1_dir, **{"run.output_dir": str(tmp_path / "a-file" / "out")})
    code = main(["train", str(cfg)])
    assert_one_line_error(code, capsys.readouterr().err, "output folder", "cannot be created")


def test_read_only_output_folder_refused(tmp_path, tiny_sd1_dir, monkeypatch, capsys):
    """A read-only mount where one can be made (root); else a writer that fails with EROFS."""
    _no_model(monkeypatch)
    simple_kohya(tmp_path)
    out = tmp_path / "ro"
    out.mkdir()
    with _read_only(out, monkeypatch):
        cfg = write_train_config(tmp_path, tiny_sd1_dir, **{"run.output_dir": str(out)})
        code = main(["train", str(cfg)])
    assert_one_line_error(code, capsys.readouterr().err, "cannot be written")


@contextlib.contextmanager
def _read_only(folder: Path, monkeypatch):
    if _mount(["-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(folder)]):
        try:
            yield
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    real_open = open

    def failing_open(file, mode="r", *a, **k):
        if any(m in mode for m in "wax+") and Path(file).parent == folder:
            raise OSError(errno.EROFS, "Read-only file system", str(file))
        return real_open(file, mode, *a, **k)

    monkeypatch.setattr("builtins.open", failing_open)
    yield


def _mount(args: list[str]) -> bool:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False
    try:
        return subprocess.run(["mount", *args], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_no_room_for_the_run_refused(tmp_path, tiny_sd1_dir, monkeypatch, capsys):
    import shutil

    _no_model(monkeypatch)
    simple_kohya(tmp_path)
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    cfg = write_train_config(tmp_path, tiny_sd1_dir)
    code = main(["train", str(cfg)])
    assert_one_line_error(code, capsys.readouterr().err, "MB free", "free")


def _fail_writes_in(folder: Path, monkeypatch, err: int, after: int = 0) -> list[int]:
    """From the ``after``-th write on, every atomic write into ``folder`` (or below) fails with ``err``."""
    real = tempfile.mkstemp
    count = [0]

    def mkstemp(*a, **k):
        d = Path(k.get("dir", "."))
        if folder in (d, *d.parents):
            count[0] += 1
            if count[0] > after:
                raise OSError(err, os.strerror(err))
        return real(*a, **k)

    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)
    return count


@pytest.mark.parametrize("err", [errno.EROFS, errno.ENOSPC])
def test_failed_save_mid_run_keeps_the_weights_in_the_data_folder(tmp_path, tiny_sd1_dir, monkeypatch, err, data_home):
    """A save that fails mid-run (the folder went read-only, or the disk filled) keeps the trained
    weights in a state in the data folder, says where, and resume from it finishes the run."""
    ds = make_dataset(tmp_path / "ds", 2)
    cfg = tiny_config(tiny_sd1_dir, tmp_path, **{"run.max_steps": 4, "run.save_every_n_steps": 2})
    out = Path(cfg.run.output_dir)
    _fail_writes_in(out, monkeypatch, err)
    with pytest.raises(TrainingError) as info:
        run_training(cfg, dataset=ds)
    text = str(info.value)
    rescued = Path(text.split("resume from ")[1].split(".pt")[0] + ".pt")
    assert "are kept in" in text
    assert rescued.is_file() and data_home in rescued.parents
    if err == errno.ENOSPC:
        assert "is full; free" in text and " MB" in text
    else:
        assert "Read-only" in text and "Make the output folder writable" in text
    monkeypatch.undo()
    result = run_training(cfg, dataset=ds, resume_from=rescued)
    assert result.steps == 4 and load_file(str(result.final_lora))


def _fill(folder: Path) -> None:
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as fh:
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()


def test_full_disk_mid_run_keeps_previous_files(tmp_path, tiny_sd1_dir, monkeypatch, data_home):
    """A small tmpfs that fills up during the run where mounts work (root on Linux); else writes
    that fail with ENOSPC. The previous files stay, the message says how much room to make."""
    from lora_studio.core.events import StepFinished

    ds = make_dataset(tmp_path / "ds", 2)
    out = tmp_path / "small"
    out.mkdir()
    cfg = tiny_config(tiny_sd1_dir, tmp_path, **{"run.max_steps": 2, "run.output_dir": str(out)})
    first = run_training(cfg, dataset=ds)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    mounted = _mount(["-t", "tmpfs", "-o", "size=24m", "tmpfs", str(out)])
    try:
        if mounted:
            for rel, data in before.items():  # the same files, on a small disk
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                (out / rel).write_bytes(data)
            resume_from = out / first.state_path.relative_to(out)
        else:
            _fail_writes_in(out, monkeypatch, errno.ENOSPC)
            resume_from = first.state_path

        def fill_at_step_3(event):
            if mounted and isinstance(event, StepFinished) and event.step == 3:
                _fill(out)

        cfg4 = tiny_config(tiny_sd1_dir, tmp_path, **{"run.max_steps": 4, "run.output_dir": str(out)})
        with pytest.raises(TrainingError, match=r"The disk holding .* is full; free \d+ MB") as info:
            run_training(cfg4, fill_at_step_3, dataset=ds, resume_from=resume_from)
        assert "are kept in" in str(info.value)  # (the data folder is on another disk)
        for rel, data in before.items():
            assert (out / rel).read_bytes() == data  # previous files untouched
        assert [p for p in out.rglob("*.tmp")] == []
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(out)], check=False)


def test_full_disk_at_start_refused_before_the_model_loads(tmp_path, tiny_sd1_dir, monkeypatch, capsys):
    _no_model(monkeypatch)
    simple_kohya(tmp_path)
    out = tmp_path / "full"
    out.mkdir()
    if _mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs", str(out)]):
        _fill(out)
        cleanup = ["umount", "-l", str(out)]
    else:
        real_open = open

        def full_open(file, mode="r", *a, **k):
            if "w" in mode and Path(file).parent == out:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_open(file, mode, *a, **k)

        monkeypatch.setattr("builtins.open", full_open)
        cleanup = None
    try:
        cfg = write_train_config(tmp_path, tiny_sd1_dir, **{"run.output_dir": str(out)})
        code = main(["train", str(cfg)])
        assert_one_line_error(code, capsys.readouterr().err, "is full; free", "MB")
    finally:
        if cleanup:
            subprocess.run(cleanup, check=False)


def test_disk_full_error_from_torch_iostream(tmp_path, monkeypatch):
    """torch reports a full disk as RuntimeError('basic_ios::clear: iostream error')."""
    import shutil

    from lora_studio.core.fileio import DiskFullError

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=0))
    atomic_write_bytes(tmp_path / "old.bin", b"old")

    def torch_like(tmp: Path) -> None:
        tmp.write_bytes(b"x" * 1000)
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos; basic_ios::clear: iostream error")

    with pytest.raises(DiskFullError, match="is full; free"):
        fileio.atomic_write_with(tmp_path / "old.bin", torch_like)
    assert (tmp_path / "old.bin").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.bin"]


# -- (4) two runs on one output folder ----------------------------------------------------------------------
def test_second_run_on_a_folder_is_refused_naming_the_first(tmp_path, tiny_sd1_dir, monkeypatch, capsys):
    from lora_studio.training.run_guard import LOCK_NAME

    _no_model(monkeypatch)
    simple_kohya(tmp_path)
    cfg = write_train_config(tmp_path, tiny_sd1_dir)
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(  # another process holding the folder's lock, as a running run does
        [sys.executable, "-c", "import sys, time\nfrom lora_studio.training.run_guard import RunLock\n"
         "with RunLock(sys.argv[1], description=\"'other'\"):\n    print('held', flush=True); time.sleep(60)",
         str(out)],
        stdout=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        code = main(["train", str(cfg)])
        line = assert_one_line_error(code, capsys.readouterr().err, "in use by another training run")
        assert f"process {holder.pid}" in line and "'other'" in line
    finally:
        holder.kill()
        holder.wait()
    # Its process is gone: the lock is stale and the next run takes it over (and releases it).
    assert (out / LOCK_NAME).exists()
    monkeypatch.undo()
    assert main(["train", str(cfg), "--max-steps", "1"]) == 0
    assert not (out / LOCK_NAME).exists()


def test_lock_file_contents_and_release(tmp_path):
    from lora_studio.training.run_guard import LOCK_NAME, RunLock

    lock = RunLock(tmp_path, description="'x'")
    with lock:
        info = json.loads((tmp_path / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid() and info["run"] == "'x'"
        with pytest.raises(TrainingError, match="in use"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_NAME).exists()


# -- (14) a closed pipe ---------------------------------------------------------------------------------------
def test_output_into_a_closed_pipe_is_quiet(tmp_path):
    proj = tmp_path / "img" / "1_x"
    proj.mkdir(parents=True)
    for i in range(3000):  # many issues: more output than a pipe buffer holds
        (proj / f"orphan{i:03d}.txt").write_text("caption without a picture")
    cmd = [sys.executable, "-m", "lora_studio.cli.main", "dataset", "check", str(tmp_path / "img")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 141


def test_full_disk_while_writing_a_sample_saves_a_state_and_says_so(tmp_path, tiny_sd1_dir, monkeypatch):
    from lora_studio.training.config import SamplePrompt

    ds = make_dataset(tmp_path / "ds", 2)
    cfg = tiny_config(
        tiny_sd1_dir,
        tmp_path,
        **{"run.max_steps": 2, "sample.every_n_steps": 1, "sample.prompts": (SamplePrompt(prompt="sks", steps=1),)},
    )
    out = Path(cfg.run.output_dir)
    _fail_writes_in(out / "samples", monkeypatch, errno.ENOSPC)
    with pytest.raises(TrainingError, match=r"samples is full; free \d+ MB and press Resume \(a state of step 1"):
        run_training(cfg, dataset=ds)
    assert C.load_state(run_files.latest_state(out, "t")).step == 1
