"""``lora-studio models list / download``: the Models dialog's catalogue and downloader from a terminal,
against a stand-in hub on 127.0.0.1 (nothing goes online)."""

from __future__ import annotations

import json

from lora_studio.captioning.catalog import catalog, get_model
from lora_studio.cli.main import main as cli_main
from tests.captioning.hub_server import closed_port_url, serving
from tests.captioning.tiny_models import build_wd14

MODEL = get_model("wd-convnext-tagger-v3")


def test_list_then_download_then_list(tmp_path, capsys, monkeypatch):
    with serving({MODEL.repo: build_wd14(tmp_path / "repo")}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        root = tmp_path / "captioners"
        assert cli_main(["models", "list", "--to", str(root), "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [r["name"] for r in rows] == [m.name for m in catalog()]
        assert {r["state"] for r in rows} == {"not installed"}

        assert cli_main(["models", "download", MODEL.name, "--to", str(root)]) == 0
        out = capsys.readouterr()
        assert out.out.strip() == str(root / MODEL.name)
        assert "100%" in out.err and MODEL.installed_in(root / MODEL.name)

        assert cli_main(["models", "list", "--to", str(root)]) == 0
        line = next(t for t in capsys.readouterr().out.splitlines() if t.startswith(MODEL.name + " "))
        assert "installed" in line and "not installed" not in line and "Apache 2.0" in line


def test_offline_and_unknown_names_are_plain_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    assert cli_main(["models", "download", MODEL.name, "--to", str(tmp_path)]) == 2
    assert "offline" in capsys.readouterr().err
    assert cli_main(["models", "download", "nope", "--to", str(tmp_path)]) == 2
    assert "no model called 'nope'" in capsys.readouterr().err
