"""Training panel behaviour with a scripted fake engine (fast; no torch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lora_studio.app.panels.training.run_queue import RunStatus
from lora_studio.core.control import Command
from lora_studio.core.families import ModelFamily
from lora_studio.training.config import NetworkTarget, update
from lora_studio.training.config_files import LoadedConfig, load_toml_config, save_toml_config
from lora_studio.training.presets import Purpose

from .conftest import failing_error, scripted_job


def _wait_idle(qtbot, panel, timeout=20000) -> None:
    qtbot.waitUntil(lambda: not panel.queue.is_running and not panel.queue.waiting(), timeout=timeout)


def test_importing_the_panel_does_not_import_torch() -> None:
    code = (
        "import sys; import lora_studio.app.panels.training.training_panel; "
        "print('torch' in sys.modules, 'diffusers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_form_round_trips_every_field_of_a_preset(panel) -> None:
    from lora_studio.training.presets import preset

    for purpose in Purpose:
        for family in (ModelFamily.SD1, ModelFamily.SDXL):
            config = preset(purpose, family, 8)
            panel.form.set_config(config)
            assert panel.form.config() == config


def test_every_field_has_plain_words_help(panel) -> None:
    from lora_studio.app.field_specs import SPECS
    from lora_studio.app.panels.training.settings_form import BASIC_ORDER, config_fields

    keys = [k for k, _ in config_fields()]
    assert set(keys) == set(panel.form.editors)
    assert not [k for k in keys if k not in SPECS], "fields without a label/tooltip"
    assert all(len(SPECS[k].tip) > 25 for k in keys)
    assert {"model.base_model", "network.rank", "optimizer.learning_rate", "run.epochs", "sample.prompts"} <= set(BASIC_ORDER)


def test_options_that_do_not_apply_are_disabled_with_a_reason(panel, qtbot) -> None:
    conv = panel.form.editors["network.conv_alpha"].widget
    panel.set_config(update(panel.config(), **{"network.target": NetworkTarget.ATTENTION}))
    assert not conv.isEnabled()
    assert "Not used now" in conv.toolTip()
    panel.form.set_value("network.target", NetworkTarget.ATTENTION_FF_CONV)
    qtbot.waitUntil(conv.isEnabled, timeout=2000)
    panel.set_config(update(panel.config(), **{"model.family": ModelFamily.SDXL}))
    assert not panel.form.editors["model.clip_skip"].widget.isEnabled()


def test_every_problem_is_listed_before_start(panel, tmp_path) -> None:
    panel.set_config(update(panel.config(), **{"model.base_model": str(tmp_path / "missing.safetensors"),
                                               "dataset.path": "", "network.rank": 4, "network.alpha": 8.0}))
    assert panel.runs.start() is False
    fields = {i.field for i in panel.preflight.issues}
    assert {"model.base_model", "dataset.path", "network.alpha"} <= fields
    assert panel.preflight.list.count() >= 3
    assert "Fix the" in panel.notice.text()
    assert not panel.queue.entries


def test_vram_estimate_warns_when_it_will_not_fit(panel, context) -> None:
    from lora_studio.app.state import DeviceInfo

    context.set_device(DeviceInfo("NVIDIA GeForce RTX 2060, 6 GB"))
    panel.set_config(update(panel.config(), **{"model.family": ModelFamily.SDXL, "dataset.resolution": 1024,
                                               "run.batch_size": 4, "run.gradient_checkpointing": False}))
    panel.form_control.refresh_checks()
    assert "not fit" in panel.preflight.vram_label.text()
    assert panel.presets.vram.currentData() == 6
    panel.form_control.apply_preset(Purpose.CHARACTER, ModelFamily.SD1, 6)
    panel.form_control.refresh_checks()
    assert "fits" in panel.preflight.vram_label.text()


def test_step_maths_and_automatic_steps(panel, tiny_project, qtbot) -> None:
    panel.form_control.refresh_checks()
    qtbot.waitUntil(lambda: "3 pictures × 1 repeat " in panel.presets.steps_label.text(), timeout=5000)
    panel.form_control.automatic_steps(Purpose.STYLE)
    assert tiny_project.concept("sks").repeats == 67  # 200 pictures per epoch / 3
    panel.form_control.refresh_checks()
    qtbot.waitUntil(lambda: "3 pictures × 67 repeats" in panel.presets.steps_label.text(), timeout=5000)
    assert panel.config().run.epochs == 10


def test_project_fills_in_paths(panel, tiny_project, context) -> None:
    config = panel.config()
    assert Path(config.dataset.path) == context.project_path
    assert Path(config.run.output_dir) == context.project_path / "output"
    assert config.run.output_name == "Tiny_project"


def test_fake_run_plots_samples_and_log(panel, qtbot, tmp_path) -> None:
    panel.queue.make_job = scripted_job(200, steps_per_epoch=50, sample_dir=tmp_path)
    panel.runs.add_to_queue()
    panel.queue.start()
    _wait_idle(qtbot, panel)
    entry = panel.queue.entries[0]
    assert entry.status == RunStatus.FINISHED
    qtbot.waitUntil(lambda: panel.gallery.loaded_count == 4, timeout=5000)
    panel.plot.redraw()
    b = panel.plot.buffer
    assert len(b.loss) == 200 and b.epochs == [50, 100, 150, 200] and len(b.validation) == 4
    assert panel.plot.redraws < 50  # redrawn on a timer, never per step
    assert panel.monitor.progress.value() == 200
    assert "Epoch 4 finished" in panel.monitor.log_view.toPlainText()


def test_pause_sample_now_save_now_and_stop(panel, qtbot) -> None:
    seen: list = []
    panel.queue.make_job = scripted_job(100000, delay=0.005, seen=seen)
    panel.runs.add_to_queue()
    panel.queue.start()
    qtbot.waitUntil(lambda: len(panel.plot.buffer.loss) > 5 or panel.plot.buffer.loss.size > 5, timeout=5000)
    panel.monitor.pause_button.click()
    assert panel.runs.worker is not None and panel.runs.worker.control.paused
    panel.monitor.sample_button.click()
    panel.monitor.save_button.click()
    panel.monitor.pause_button.click()
    qtbot.waitUntil(lambda: Command.SAVE_NOW in seen and Command.SAMPLE_NOW in seen, timeout=5000)
    panel.monitor.stop_button.click()
    _wait_idle(qtbot, panel)
    assert panel.queue.entries[0].status == RunStatus.STOPPED
    assert "Resume" in panel.monitor.status.text()


def test_failure_shows_plain_error_and_keeps_the_run(panel, qtbot, no_dialogs) -> None:
    panel.queue.make_job = scripted_job(20, fail=failing_error())
    panel.runs.add_to_queue()
    panel.queue.start()
    _wait_idle(qtbot, panel)
    assert panel.queue.entries[0].status == RunStatus.FAILED
    assert len(no_dialogs) == 1
    info = no_dialogs[0]
    assert "out of GPU memory" in info.message and "batch size" in info.hint and "kept" in info.hint
    assert len(panel.plot.buffer.loss) == 9  # the curve so far is kept


def test_queue_keeps_going_after_a_failure(panel, qtbot, no_dialogs) -> None:
    jobs = [scripted_job(10, fail=failing_error()), scripted_job(10)]
    panel.queue.make_job = lambda request: jobs.pop(0)(request)
    panel.runs.add_to_queue(name="first")
    panel.runs.add_to_queue(name="second")
    panel.queue.start()
    _wait_idle(qtbot, panel)
    assert [e.status for e in panel.queue.entries] == [RunStatus.FAILED, RunStatus.FINISHED]
    assert not no_dialogs  # the queue went on; the failure is listed, not shown modally
    assert "Failed" in panel.queue_widget.list.item(0).text()


def test_toml_save_and_load(panel, tmp_path) -> None:
    config = update(panel.config(), **{"network.rank": 24, "dataset.trigger_word": "mxstyle"})
    path = save_toml_config(config, tmp_path / "my settings")
    loaded = load_toml_config(path)
    assert loaded.config.network.rank == 24 and not loaded.not_understood
    panel.form_control.apply_loaded(LoadedConfig(loaded.config, ("train.xformers", "noise.pyramid"), str(path)))
    assert panel.config().dataset.trigger_word == "mxstyle"
    assert "2 setting(s) were not understood" in panel.notice.text() and "train.xformers" in panel.notice.text()


def test_kohya_import_goes_through_the_engine_importer(panel, tmp_path, no_dialogs) -> None:
    source = tmp_path / "kohya.json"
    source.write_text('{"network_dim": 32, "learning_rate": 0.0002, "some_unknown": 1}', encoding="utf-8")
    panel.form_control.load_with(__import__("lora_studio.training.config_files", fromlist=["x"]).import_kohya, str(source))
    assert not no_dialogs
    assert "Loaded kohya.json" in panel.notice.text()
