"""``lora-studio dataset caption`` / ``lora-studio caption`` on a folder of pictures."""

from __future__ import annotations

import argparse

import pytest

from lora_studio.cli.caption import add_caption_parser, register
from tests.captioning.conftest import solid

TAGS = "red theme, 1girl, hatsune miku, long hair, ^_^, smile"


def _parser(nested: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lora-studio")
    sub = parser.add_subparsers(dest="command")
    if nested:
        dataset = sub.add_parser("dataset").add_subparsers(dest="dataset_command")
        add_caption_parser(dataset)
    else:
        register(sub)
    return parser


@pytest.fixture
def folder(tmp_path):
    pics = tmp_path / "pics"
    pics.mkdir()
    for i in range(2):
        solid(pics / f"{i}.png")
    (pics / "1.txt").write_text("mine", encoding="utf-8")
    return pics


def test_dataset_caption_writes_captions(folder, wd14_dir, capsys):
    args = _parser(True).parse_args(
        [
            "dataset",
            "caption",
            str(folder),
            "--model",
            str(wd14_dir),
            "--mode",
            "only_missing",
            "--trigger",
            "zkw",
        ]
    )
    assert args.handler(args) == 0
    assert (folder / "0.txt").read_text() == f"zkw, {TAGS}"
    assert (folder / "1.txt").read_text() == "mine"
    assert "1 caption file(s) changed" in capsys.readouterr().out


def test_top_level_caption_dry_run_writes_nothing(folder, wd14_dir, capsys):
    args = _parser(False).parse_args(
        [
            "caption",
            str(folder),
            "--model",
            str(wd14_dir),
            "--dry-run",
            "--exclude",
            "smile,1girl",
            "--rating",
        ]
    )
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "red theme, hatsune miku, general, long hair, ^_^" in out
    assert not (folder / "0.txt").exists()


def test_missing_model_folder_says_what_to_do(folder, tmp_path):
    from lora_studio.core.errors import ModelLoadError

    empty = tmp_path / "empty-model"
    empty.mkdir()
    args = _parser(True).parse_args(["dataset", "caption", str(folder), "--model", str(empty)])
    with pytest.raises(ModelLoadError) as err:
        args.handler(args)
    assert "model.onnx and selected_tags.csv" in str(err.value)


@pytest.mark.slow
def test_instruction_captioner_from_the_command_line(folder, tmp_path):
    from tests.captioning.tiny_vlm import build_llava

    model = build_llava(tmp_path / "joycaption-tiny")
    args = _parser(False).parse_args(
        [
            "caption", str(folder), "--model", str(model), "--trigger", "zkw", "--mode", "replace",
            "--instruction", "Describe the clothes of {trigger}.", "--quantize", "4bit", "--device", "cpu",
        ]
    )  # fmt: skip
    assert args.handler(args) == 0
    assert all((folder / f"{i}.txt").read_text().startswith("zkw, ") for i in range(2))
