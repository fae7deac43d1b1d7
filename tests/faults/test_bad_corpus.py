"""The bad-input corpus (see conftest.make_bad_corpus) through ``dataset check``, the kohya import
and a two-step training: every odd file is named with a reason, nothing ends in a traceback."""

from __future__ import annotations

import json

import pytest

from lora_studio.cli.main import main

from .conftest import make_bad_corpus, write_train_config


@pytest.fixture()
def corpus(tmp_path):
    return make_bad_corpus(tmp_path)


def test_check_names_every_bad_file(corpus, capsys):
    code = main(["dataset", "check", str(corpus.root), "--resolution", "64", "--json"])
    rows = json.loads(capsys.readouterr().out)
    by_file: dict[str, set[str]] = {}
    for r in rows:
        if r["path"]:
            by_file.setdefault(r["path"].rsplit("/", 1)[-1], set()).add(r["code"])
    assert code == 1  # the unreadable pictures are errors
    for name, expected in {**corpus.unreadable, **corpus.odd}.items():
        assert expected in by_file.get(name, set()), (name, expected, by_file.get(name))
    for good in corpus.good:  # the good pictures raise no read errors
        codes = by_file.get(good.name, set())
        assert not codes & {"unreadable", "not-an-image", "too-large", "empty-file"}, (good.name, codes)


def test_import_reports_what_it_skipped(corpus, tmp_path, capsys):
    code = main(["dataset", "import", str(corpus.root), str(tmp_path / "project")])
    out = capsys.readouterr().out
    assert code == 0
    skipped = {line.split(": ", 1)[0].rsplit("/", 1)[-1]: line for line in out.splitlines() if line.startswith("skipped ")}
    assert "GIF" in skipped["anim.gif"] and "PNG" in skipped["anim.gif"]
    assert "TIFF" in skipped["scan.tiff"]
    assert "without a picture" in skipped["lonely.txt"]
    assert "does not exist" in skipped["link.png"]
    assert any(line.startswith("note:") and "twin.jpg and twin.png share" in line for line in out.splitlines())
    # The damaged pictures are imported (the check reports them); originals are untouched.
    assert (corpus.concept / "cut.jpg").exists() and (corpus.concept / "lonely.txt").exists()


@pytest.mark.slow
def test_two_step_training_skips_the_unreadable_pictures(corpus, tmp_path, tiny_sd1_dir, capsys):
    cfg = write_train_config(tmp_path, tiny_sd1_dir, **{"run.max_steps": 2, "dataset.bucket_max": 256})
    code = main(["train", str(cfg)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err
    assert f"Skipped {len(corpus.unreadable)} picture(s) that cannot be read" in captured.err
    for name in corpus.unreadable:
        assert name in captured.err
    assert "done:" in captured.out and (tmp_path / "out" / "t.safetensors").exists()
    # --quiet hides progress, never the pictures a run leaves out.
    assert main(["train", str(cfg), "--quiet", "--max-steps", "1"]) == 0
    quiet = capsys.readouterr().err
    assert "warning: Skipped" in quiet and "bomb.png" in quiet


def test_training_with_only_unreadable_pictures_refuses_before_the_model(tmp_path, tiny_sd1_dir, capsys, monkeypatch):
    from .conftest import png_bomb

    folder = tmp_path / "img" / "1_x"
    folder.mkdir(parents=True)
    png_bomb(folder / "bomb.png")
    monkeypatch.setattr("lora_studio.training.setup.load_model", lambda *a, **k: pytest.fail("model loaded"))
    cfg = write_train_config(tmp_path, tiny_sd1_dir)
    code = main(["train", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "DecompressionBomb" not in err
    assert "None of the training pictures can be read" in err and "bomb.png" in err
