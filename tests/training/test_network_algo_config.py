"""Network type, LoKr factor, EMA and TensorBoard settings: TOML round trip, older files, checks."""

from __future__ import annotations

from pathlib import Path

from lora_studio.training.config import (
    EmaTarget,
    NetworkAlgo,
    TrainConfig,
    config_from_dict,
    load_config,
    save_config,
    update,
    validate,
)


def test_the_new_settings_survive_a_toml_round_trip(tmp_path: Path) -> None:
    config = update(
        TrainConfig(),
        **{
            "network.algo": NetworkAlgo.LOKR,
            "network.lokr_factor": 8,
            "ema.save": EmaTarget.BESIDE,
            "ema.decay": 0.995,
            "ema.start_step": 100,
            "ema.every_n_steps": 4,
            "log.tensorboard": True,
        },
    )
    path = tmp_path / "train.toml"
    save_config(config, path)
    text = path.read_text("utf-8")
    assert 'algo = "lokr"' in text and "[ema]" in text and "tensorboard = true" in text
    loaded, unknown = load_config(path)
    assert loaded == config and unknown == []


def test_a_file_from_before_these_settings_loads_with_plain_lora_and_no_ema() -> None:
    loaded, unknown = config_from_dict({"schema_version": 1, "network": {"rank": 8, "alpha": 4.0}})
    assert unknown == []
    assert loaded.network.algo == NetworkAlgo.LORA and loaded.network.lokr_factor == -1
    assert loaded.ema.save == EmaTarget.OFF and loaded.log.tensorboard is False


def test_bad_values_are_listed_in_plain_words(tmp_path: Path) -> None:
    start = tmp_path / "start.safetensors"
    start.write_bytes(b"x")
    config = update(
        TrainConfig(),
        **{
            "network.algo": NetworkAlgo.LOHA,
            "network.init_weights": str(start),
            "network.lokr_factor": 0,
            "ema.save": EmaTarget.MAIN,
            "ema.decay": 1.0,
            "ema.every_n_steps": 0,
        },
    )
    errors = {i.field: i.message for i in validate(config) if i.is_error}
    assert "plain LoRA/LoCon only" in errors["network.init_weights"]
    assert "-1 (automatic)" in errors["network.lokr_factor"]
    assert "[0, 1)" in errors["ema.decay"] and "every step" in errors["ema.every_n_steps"]
    fine = update(
        config,
        **{
            "network.algo": NetworkAlgo.LORA,
            "network.lokr_factor": -1,
            "ema.decay": 0.99,
            "ema.every_n_steps": 1,
        },
    )
    assert not {"network.init_weights", "network.lokr_factor", "ema.decay", "ema.every_n_steps"} & {
        i.field for i in validate(fine) if i.is_error
    }


def test_lycoris_runs_from_kohya_ss_and_sd_scripts_import_as_their_network_type(tmp_path: Path) -> None:
    import json

    from lora_studio.training.kohya_import import import_kohya_gui_json, import_sd_scripts_toml

    gui = tmp_path / "loha.json"
    gui.write_text(
        json.dumps({"LoRA_type": "LyCORIS/LoHa", "network_dim": 8, "conv_dim": 4}), encoding="utf-8"
    )
    r = import_kohya_gui_json(gui)
    assert r.config.network.algo == NetworkAlgo.LOHA and r.config.network.conv_rank == 4
    assert not any(u.startswith("LoRA_type") for u in r.not_understood)

    toml = tmp_path / "lokr.toml"
    toml.write_text(
        'network_module = "lycoris.kohya"\nnetwork_dim = 16\n'
        'network_args = ["algo=lokr", "factor=8", "conv_dim=4", "conv_alpha=2"]\n',
        encoding="utf-8",
    )
    r = import_sd_scripts_toml(toml)
    n = r.config.network
    assert (n.algo, n.lokr_factor, n.conv_rank, n.conv_alpha) == (NetworkAlgo.LOKR, 8, 4, 2.0)
    assert not any(u.startswith("network_args") for u in r.not_understood)

    toml.write_text(
        'network_module = "lycoris.kohya"\nnetwork_args = ["algo=locon", "dora_wd=True"]\n', encoding="utf-8"
    )
    assert import_sd_scripts_toml(toml).config.network.algo == NetworkAlgo.DORA
    toml.write_text('network_module = "lycoris.kohya"\nnetwork_args = ["algo=ia3"]\n', encoding="utf-8")
    r = import_sd_scripts_toml(toml)
    assert r.config.network.algo == NetworkAlgo.LORA
    assert any("'ia3' is not supported" in u for u in r.not_understood)


def test_the_memory_estimate_counts_loha_as_two_lora_pairs() -> None:
    from lora_studio.training.vram_estimate import estimate_vram

    base = update(TrainConfig(), **{"network.rank": 64})
    lora, loha = (
        estimate_vram(base, None),
        estimate_vram(update(base, **{"network.algo": NetworkAlgo.LOHA}), None),
    )
    lokr = estimate_vram(update(base, **{"network.algo": NetworkAlgo.LOKR}), None)
    assert lokr.total_gb < lora.total_gb < loha.total_gb
