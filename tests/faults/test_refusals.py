"""Bad configs and bad model files through the CLI: one plain ``error:`` line, a non-zero exit, no
traceback — and refused before the base model loads (a load here fails the test)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from lora_studio.cli.main import main

from .conftest import assert_one_line_error, simple_kohya, write_train_config

BASE_CONFIG = """schema_version = 1
[model]
base_model = "{model}"
[dataset]
path = "img"
resolution = 64
bucket_min = 32
bucket_max = 128
bucket_step = 16
[network]
rank = 4
alpha = 2.0
[run]
epochs = 1
output_dir = "out"
output_name = "t"
device = "cpu"
precision = "fp32"
"""

# (what to change, words the error must name). Each is a value a user really typed.
BAD_CONFIGS = {
    "batch-size-text": ('[run]\nbatch_size = "two"', ["run.batch_size", "whole number"]),
    "unknown-optimizer": ('[optimizer]\noptimizer = "adamw9000"', ["optimizer.optimizer", "must be one of"]),
    "newer-schema": ("schema_version = 99", ["newer LoRA Studio"]),
    "negative-unet-lr": ("[optimizer]\nunet_lr = -0.0001", ["UNet learning rate", "negative"]),
    "nan-lr": ("[optimizer]\nlearning_rate = nan", ["optimizer.learning_rate", "not a usable number"]),
    "negative-weight-decay": ("[optimizer]\nweight_decay = -0.1", ["weight decay", "negative"]),
    "unknown-optimizer-arg": ("[optimizer.args]\nbetaz = [0.9, 0.99]", ["betaz", "no setting"]),
    "negative-save-every": ("[run]\nsave_every_n_steps = -5", ["save_every_n_steps", "negative"]),
    "negative-state-minutes": ("[run]\nstate_every_minutes = -1.0", ["state_every_minutes", "negative"]),
    "nonsense-device": ('[run]\ndevice = "banana"', ["banana", "not a device"]),
}


def _merge(base: str, change: str) -> str:
    """Put ``change``'s keys into ``base`` (same table: replace or add; new table: append)."""
    lines = base.splitlines()
    table, key_values = "", []
    for line in change.splitlines():
        if line.startswith("["):
            table = line
        else:
            key_values.append((table, line))
    for table, kv in key_values:
        key = kv.split("=")[0].strip()
        if not table:
            lines = [kv if ln.split("=")[0].strip() == key and "=" in ln else ln for ln in lines]
            continue
        if table not in lines:
            lines += [table, kv]
            continue
        start = lines.index(table) + 1
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
        block = [i for i in range(start, end) if lines[i].split("=")[0].strip() == key]
        if block:
            lines[block[0]] = kv
        else:
            lines.insert(start, kv)
    return "\n".join(lines) + "\n"


@pytest.fixture()
def no_model_load(monkeypatch):
    """Fail the test if anything loads the base model or a pipeline."""

    def refuse(*_a, **_k):
        raise AssertionError("the base model was loaded before the input was checked")

    monkeypatch.setattr("lora_studio.training.setup.load_model", refuse)
    monkeypatch.setattr("lora_studio.generation.engine.load_model", refuse)


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_is_one_line_before_the_model_loads(case, tmp_path, tiny_sd1_dir, capsys, no_model_load):
    change, words = BAD_CONFIGS[case]
    simple_kohya(tmp_path)
    path = tmp_path / "train.toml"
    path.write_text(_merge(BASE_CONFIG.format(model=tiny_sd1_dir.as_posix()), change), encoding="utf-8")
    code = main(["train", str(path)])
    err = capsys.readouterr().err
    assert_one_line_error(code, err, *words)
    # Never re-read as a kohya file: no "setting not used" list, no false "choose a base model".
    assert "setting not used" not in err and "Choose a base model" not in err


def test_cuda_without_cuda_says_so(tmp_path, tiny_sd1_dir, capsys, no_model_load, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    simple_kohya(tmp_path)
    path = tmp_path / "train.toml"
    path.write_text(_merge(BASE_CONFIG.format(model=tiny_sd1_dir.as_posix()), '[run]\ndevice = "cuda"'), "utf-8")
    code = main(["train", str(path)])
    assert_one_line_error(code, capsys.readouterr().err, "device 'cuda'", "set the device to auto")


def test_a_kohya_toml_is_still_imported(tmp_path, tiny_sd1_dir, capsys, monkeypatch):
    """The format is decided from the file: sd-scripts keys go through the kohya import."""
    simple_kohya(tmp_path)
    path = tmp_path / "kohya.toml"
    path.write_text(
        f'pretrained_model_name_or_path = "{tiny_sd1_dir.as_posix()}"\ntrain_data_dir = "img"\n'
        'output_dir = "out"\nnetwork_dim = 4\nlearning_rate = -1.0\n',
        encoding="utf-8",
    )
    monkeypatch.setattr("lora_studio.training.setup.load_model", lambda *a, **k: 1 / 0)
    code = main(["train", str(path)])
    assert_one_line_error(code, capsys.readouterr().err, "learning rate")


# -- --resume and --lora files are checked before the base model loads ----------------------------------
class Payload:  # what a hostile or foreign .pt holds: an object to rebuild (i.e. code to run)
    pass


def _pickle_state(path: Path) -> Path:
    import torch

    torch.save({"format": 1, "x": Payload()}, path)
    return path


def test_resume_checks(tmp_path, tiny_sd1_dir, capsys, no_model_load):
    simple_kohya(tmp_path)
    cfg = write_train_config(tmp_path, tiny_sd1_dir)
    cases = {
        "missing": (tmp_path / "nope.pt", ["does not exist"]),
        "folder": (tmp_path, ["is a folder"]),
        "pickle": (_pickle_state(tmp_path / "evil.pt"), ["evil.pt", "pickle", "never"]),
        "garbage": (tmp_path / "junk.pt", ["cannot be read"]),
    }
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 not really a zip")
    for name, (path, words) in cases.items():
        code = main(["train", str(cfg), "--resume", str(path)])
        err = capsys.readouterr().err
        line = assert_one_line_error(code, err, *words)
        assert "weights_only" not in err, (name, err)  # torch's advice to run the file's code
        assert "WeightsUnpickler" not in line


def test_plain_pickle_bin_resume_refused_like_ckpt(tmp_path, tiny_sd1_dir, capsys, no_model_load):
    simple_kohya(tmp_path)
    cfg = write_train_config(tmp_path, tiny_sd1_dir)
    (tmp_path / "old.bin").write_bytes(pickle.dumps({"format": 1, "step": 3}, protocol=4))
    code = main(["train", str(cfg), "--resume", str(tmp_path / "old.bin")])
    err = capsys.readouterr().err
    assert_one_line_error(code, err, "not a LoRA Studio training state")
    assert "weights_only" not in err and "Detected pickle protocol" not in err


def test_lora_argument_checked_before_the_model(tmp_path, tiny_sd1_dir, capsys, no_model_load):
    common = ["generate", "--model", str(tiny_sd1_dir), "--prompt", "x", "--out", str(tmp_path / "o")]
    folder = tmp_path / "loras"
    folder.mkdir()
    code = main([*common, "--lora", str(folder)])
    assert_one_line_error(code, capsys.readouterr().err, "is a folder, not a LoRA file")
    code = main([*common, "--lora", str(tmp_path / "missing.safetensors")])
    assert_one_line_error(code, capsys.readouterr().err, "does not exist")
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......")
    code = main([*common, "--lora", str(tmp_path / "junk.safetensors")])
    assert_one_line_error(code, capsys.readouterr().err, "junk.safetensors")


# -- LoRAs with NaN/Inf weights ----------------------------------------------------------------------------
def _nan_lora(tmp_path: Path, value: float) -> Path:
    from safetensors.torch import load_file, save_file

    from lora_studio.formats.safetensors_meta import read_header
    from tests.generation.conftest import make_kohya_lora

    good = make_kohya_lora(tmp_path / "good.safetensors", "sd1", 1)
    tensors = load_file(str(good))
    key = next(k for k in tensors if k.endswith("lora_up.weight"))
    tensors[key] = tensors[key].clone()
    tensors[key].view(-1)[3] = value
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata=read_header(good).metadata)
    return bad


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nonfinite_lora_flagged_by_lora_info(tmp_path, capsys, value):
    bad = _nan_lora(tmp_path, value)
    assert main(["lora", "info", str(tmp_path / "good.safetensors")]) == 0
    assert "finite" in capsys.readouterr().out
    code = main(["lora", "info", str(bad)])
    out = capsys.readouterr()
    assert code == 1 and "BROKEN" in out.out and "NaN or infinite" in out.err


def test_nonfinite_lora_refused_at_load(tmp_path, tiny_sd1_dir):
    from lora_studio.core.errors import GenerationError
    from lora_studio.generation.engine import GenerationEngine
    from lora_studio.generation.request import GenerationRequest, LoraSpec

    bad = _nan_lora(tmp_path, float("nan"))
    request = GenerationRequest(
        model=str(tiny_sd1_dir),
        prompt="x",
        steps=1,
        width=64,
        height=64,
        seed=1,
        output_dir=str(tmp_path / "o"),
        loras=(LoraSpec(str(bad), 1.0),),
    )
    with pytest.raises(GenerationError, match="NaN or infinite"):
        GenerationEngine().generate(request)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


# -- pickled weights in a diffusers folder ---------------------------------------------------------------
def test_pickled_diffusers_folder_refused_like_ckpt(tmp_path, tiny_sd1_dir, capsys):
    import shutil

    from lora_studio.core.errors import ModelLoadError
    from lora_studio.diffusion.loading import load_pipeline

    model = tmp_path / "model"
    shutil.copytree(tiny_sd1_dir, model)
    weights = next((model / "unet").glob("*.safetensors"))
    weights.unlink()
    (model / "unet" / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps({"not": "run"}))
    with pytest.raises(ModelLoadError) as info:
        load_pipeline(model)
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(pickle.dumps({"not": "run"}) * 100)
    with pytest.raises(ModelLoadError) as ckpt_info:
        load_pipeline(ckpt)
    what = "is an old-style PyTorch (pickle) file"
    assert what in info.value.message and what in ckpt_info.value.message
    assert "diffusion_pytorch_model.bin" in info.value.message
    # Through the CLI the refusal comes before training starts.
    simple_kohya(tmp_path)
    cfg = write_train_config(tmp_path, model)
    code = main(["train", str(cfg)])
    assert_one_line_error(code, capsys.readouterr().err, what)
