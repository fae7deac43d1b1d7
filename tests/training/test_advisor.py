"""The epoch advisor: ranking rules on numbers, and a constructed run whose over-trained last epoch
leaks into neutral prompts (tiny SD1 model, real generation)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lora_studio.core.errors import GenerationError
from lora_studio.training.advisor import (
    NEUTRAL_PROMPTS,
    Advice,
    advice_request,
    rank_epochs,
    run_advisor,
    saved_advice,
    validation_at,
)
from lora_studio.training.config import SamplePrompt, TrainConfig, update


def make_epoch_lora(path: Path, epoch: int, step: int, scale: float, seed: int = 7) -> Path:
    """A kohya LoRA for the tiny SD1 model whose strength grows with ``scale`` (delta ~ scale²)."""
    from lora_studio.diffusion.tiny import build_tiny_pipeline
    from lora_studio.formats.lora_keys import save_kohya_lora
    from tests.generation.conftest import add_random_lora, peft_state_dicts

    pipe = build_tiny_pipeline("sd1", 0)
    add_random_lora(pipe, seed, alpha=4.0, scale=scale)
    return save_kohya_lora(
        path,
        peft_state_dicts(pipe),
        family="sd1",
        alpha_for=lambda *_: 4.0,
        metadata={
            "ss_network_dim": "4",
            "ss_network_alpha": "4",
            "ss_epoch": str(epoch),
            "ss_steps": str(step),
        },
        unet_config=dict(pipe.unet.config),
    )


def constructed_run(tmp_path: Path, model: Path) -> tuple[TrainConfig, list[str], dict[int, float]]:
    """Four epoch files of "zorb": epochs 1–3 gentle, epoch 4 over-trained (a much larger delta).
    The recorded validation loss is lowest at epoch 4 — the trap the advisor must not fall into."""
    out = tmp_path / "output"
    out.mkdir()
    scales = {1: 0.05, 2: 0.07, 3: 0.09, 4: 1.0}
    files = [
        str(make_epoch_lora(out / f"zorb-e{e:04d}-s{e * 10:06d}.safetensors", e, e * 10, s))
        for e, s in scales.items()
    ]
    validation = {10: 0.31, 20: 0.27, 30: 0.25, 40: 0.24}
    config = update(
        TrainConfig(),
        **{
            "model.base_model": str(model),
            "dataset.resolution": 64,
            "dataset.trigger_word": "zorb",
            "run.output_dir": str(out),
            "run.output_name": "zorb",
            "run.device": "cpu",
            "sample.prompts": (SamplePrompt(prompt="zorb, a photo", steps=2, cfg=5.0),),
        },
    )
    return config, files, validation


def test_ranking_rules_on_numbers():
    files = ["e1", "e2", "e3", "e4"]
    epochs = [(1, 10), (2, 20), (3, 30), (4, 40)]
    # epoch 4: lowest validation but leaks -> epoch 3 (lowest among the clean ones)
    advice = rank_epochs(
        files, epochs, [0.3, 0.28, 0.26, 0.2], [0.02, 0.021, 0.022, 0.09], [0.05] * 4, "zorb"
    )
    assert advice.recommended == "e3"
    assert advice.reason == (
        "epoch 3: validation loss 0.2600 (lowest: epoch 4, 0.2000); epoch 4 starts to change pictures without 'zorb'"
    )
    assert [s.path for s in advice.ranking][-1] == "e4" and advice.ranking[-1].leaks
    # nothing leaks: the lowest validation loss wins, said so
    calm = rank_epochs(
        files, epochs, [0.3, 0.22, 0.26, 0.25], [0.02, 0.021, 0.022, 0.023], [0.05] * 4, "zorb"
    )
    assert calm.recommended == "e2" and calm.reason == "epoch 2: lowest validation loss"
    # two leaking epochs are named as a range; an unsteady one is named too
    two = rank_epochs(
        files, epochs, [0.3, 0.22, 0.2, 0.19], [0.02, 0.021, 0.1, 0.12], [0.05, 0.05, 0.05, 0.05], "zorb"
    )
    assert two.recommended == "e2" and "epochs 3–4 start to change pictures without 'zorb'" in two.reason
    shaky = rank_epochs(files, epochs, [0.3, 0.22, 0.26, 0.25], [0.02] * 4, [0.05, 0.3, 0.05, 0.05], "")
    assert shaky.recommended != "e2" and "epoch 2 jumps between weights 0.6 and 1.0" in shaky.reason
    # no validation recorded: a note says so; leakage still decides
    blind = rank_epochs(files, epochs, [None] * 4, [0.02, 0.021, 0.022, 0.09], [0.05] * 4, "zorb")
    assert blind.recommended == "e1" and blind.notes
    assert Advice.from_json(advice.to_json()) == advice
    assert (
        validation_at(20, [(10, 0.3), (20, 0.2), (30, 0.1)]) == 0.2 and validation_at(25, [(10, 0.3)]) is None
    )
    with pytest.raises(GenerationError):
        rank_epochs([], [], [], [], [])


def test_constructed_overtrained_epoch_is_not_recommended(tmp_path, tiny_sd1_dir):
    config, files, validation = constructed_run(tmp_path, tiny_sd1_dir)
    request = replace(advice_request(config, files, validation), steps=4, neutral_prompts=NEUTRAL_PROMPTS[:2])
    advice = run_advisor(request)
    by_epoch = {s.epoch: s for s in advice.ranking}
    assert by_epoch[4].leaks  # it changes neutral pictures far more than the others
    assert by_epoch[4].leakage > 3 * max(by_epoch[e].leakage for e in (1, 2, 3))
    assert not any(by_epoch[e].leaks for e in (1, 2, 3))
    assert advice.recommended == files[2]  # epoch 3: the lowest validation loss among the clean ones
    assert advice.reason.startswith("epoch 3: ")
    assert "epoch 4 starts to change pictures without 'zorb'" in advice.reason
    assert saved_advice(config) == advice  # written beside the run for the comparison grid
    with pytest.raises(GenerationError):
        advice_request(config, [str(tmp_path / "gone.safetensors")])


def test_cli_lora_advise(tmp_path, tiny_sd1_dir, capsys):
    from lora_studio.cli.main import main
    from lora_studio.training.config_files import save_toml_config

    config, files, _validation = constructed_run(tmp_path, tiny_sd1_dir)
    toml = save_toml_config(config, tmp_path / "zorb.toml")
    assert main(["lora", "advise", str(toml), "--steps", "3"]) == 0
    out = capsys.readouterr().out
    # it found the run's four files by itself; with no training state there is no validation loss,
    # so leakage and stability decide (said so), and the over-trained epoch is still not kept
    assert out.count(".safetensors") == 5 and "Keep: " + files[3] not in out
    assert any(f"Keep: {f}" in out for f in files[:3])
    assert "Note: No validation loss was recorded" in out
    assert "epoch 4 starts to change pictures without 'zorb'" in out
    assert "zorb-e0004-s000040.safetensors" in out and "leaks" in out


def test_measured_validation_equals_what_the_run_recorded(tmp_path, tiny_sd1_dir):
    """A file's validation loss measured afresh is the one the trainer reported when it saved it."""
    from lora_studio.training.advisor import measure_validation
    from lora_studio.training.run_files import step_of
    from lora_studio.training.trainer import run_training
    from tests.training.conftest import make_dataset, tiny_config

    dataset = make_dataset(tmp_path / "ds", 5)
    config = tiny_config(
        tiny_sd1_dir,
        tmp_path,
        **{"run.epochs": 2, "run.save_every_n_epochs": 1, "validation.size": 2, "validation.seed": 4},
    )
    result = run_training(config, dataset=dataset)
    recorded = dict(result.validation)
    files = list(dict.fromkeys([*map(str, result.lora_files), str(result.final_lora)]))
    assert len(files) == 2 and len(recorded) == 2
    measured = measure_validation(config, files, dataset=dataset)
    steps = [step_of(Path(files[0])), max(recorded)]
    for path, step in zip(files, steps):
        assert measured[path] == pytest.approx(recorded[step], rel=1e-4)
    assert measured[files[0]] != pytest.approx(measured[files[1]], rel=1e-6)  # each file's own weights
    # nothing held out: nothing to measure
    assert measure_validation(update(config, **{"validation.size": 0}), files, dataset=dataset) == {}
