"""A run's epoch files are one entry in the Generation tab (issue 16 item 3)."""

from __future__ import annotations

from pathlib import Path

from lora_studio.generation.lora_runs import group_runs, run_file
from lora_studio.generation.model_library import LoraItem


def item(path: str) -> LoraItem:
    return LoraItem(Path(path), None, "folder")


def test_run_file_reads_our_and_kohyas_epoch_names():
    assert run_file("zorb-000002") == run_file("zorb-e000002")
    assert run_file("zorb-000002").run == "zorb" and run_file("zorb-000002").epoch == 2
    ours = run_file("zorb-2-e0004-s000120")
    assert (ours.run, ours.epoch, ours.step) == ("zorb-2", 4, 120)
    assert ours.label == "epoch 4 · step 120"
    assert run_file("zorb").epoch is None and run_file("zorb").label == "final"
    assert run_file("style-2024").epoch is None  # four digits: part of the name, not an epoch


def test_group_runs_puts_final_first_then_latest_epoch():
    items = [
        item("/l/zorb-000002.safetensors"),
        item("/l/alpha.safetensors"),
        item("/l/zorb.safetensors"),
        item("/l/zorb-000004.safetensors"),
        item("/other/zorb-000006.safetensors"),  # another folder: another run
    ]
    groups = group_runs(items)
    assert [[i.name for i in g] for g in groups] == [
        ["zorb", "zorb-000004", "zorb-000002"],
        ["alpha"],
        ["zorb-000006"],
    ]
