"""The Dataset tab's step maths and the Training tab count the same steps, with the same settings,
and those are the steps the trainer makes. Both real panels on one AppContext, a demo-like project."""

from __future__ import annotations

from pathlib import Path

import pytest

from lora_studio.core.serialization import save_toml
from lora_studio.dataset import project as proj
from lora_studio.dataset.items import ConceptKind
from lora_studio.demo import CONCEPT, IMAGE_COUNT, REPEATS, TRAIN_CONFIG, demo_train_config
from lora_studio.demo_images import TRIGGER, draw_mascot
from lora_studio.training.config_files import default_settings, load_toml_config
from lora_studio.training.presets import Purpose


def demo_like_project(root: Path, source: Path, *, settings: bool = True) -> Path:
    """The demo project without its model: 12 mascot pictures × 5 repeats and the demo's training.toml."""
    project = proj.create_project(root, "Demo-like")
    proj.add_concept(project, CONCEPT, repeats=REPEATS, trigger=TRIGGER, class_word="mascot")
    source.mkdir(parents=True)
    for i in range(IMAGE_COUNT):
        draw_mascot(i, size=128).image.save(source / f"zorb_{i:02d}.png")
    proj.add_images(project, CONCEPT, [source])
    if settings:
        save_toml(demo_train_config(), root / TRAIN_CONFIG)
    return root


def trainer_steps(root: Path, config) -> int:
    """The trainer's own count for the project at ``root`` (the real data functions)."""
    from lora_studio.dataset.io import load_dataset
    from tests.training.test_steps import trainer_steps as count

    return count(load_dataset(root), config)


@pytest.fixture
def demo_root(tmp_path: Path, monkeypatch) -> Path:
    from lora_studio.app.panels.dataset import thumbnail_loader

    monkeypatch.setattr(thumbnail_loader, "default_cache_dir", lambda: tmp_path / "thumbs")
    return demo_like_project(tmp_path / "demo", tmp_path / "pictures")


def _open(qtbot, context, dataset_panel, root: Path) -> None:
    context.open_project(root)
    qtbot.waitUntil(lambda: not dataset_panel.busy and dataset_panel.model.rowCount() >= IMAGE_COUNT, timeout=15000)


@pytest.fixture
def tabs(qtbot, context, no_dialogs, demo_root):
    """The Dataset and Training tabs as the main window makes them (dataset first), the project open."""
    from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel
    from lora_studio.app.panels.training.training_panel import TrainingPanel

    dataset, training = DatasetPanel(context), TrainingPanel(context)
    for w in (dataset, training):
        qtbot.addWidget(w)
        w.resize(1280, 800)
        w.show()
    _open(qtbot, context, dataset, demo_root)
    yield dataset, training
    dataset.loader.cancel_all()
    dataset.loader.wait(5000)
    dataset.crops.previews.wait(5000)
    training.queue.stop_current()
    context.jobs.shutdown(20000)


def _texts(qtbot, dataset, training) -> tuple[str, str]:
    """Both tabs' step texts once their counts (made on worker threads) have arrived."""
    training.form_control.refresh_checks()
    qtbot.waitUntil(lambda: not dataset.concepts.steps._counter.pending and not training.form_control.step_counter.pending, timeout=5000)
    return dataset.concepts.steps_label.text(), training.presets.steps_label.text()


def test_demo_project_shows_the_trainers_steps_in_both_tabs(tabs, demo_root, qtbot) -> None:
    dataset, training = tabs
    shown, line = _texts(qtbot, dataset, training)
    # 12 pictures × 5 repeats = 60 ÷ batch size 2 = 30 steps, × 4 epochs (the demo's settings, not 10 × 1)
    assert "4 epochs × 30 steps = 120 steps" in shown
    assert line.endswith("× 4 epochs = 120 steps")
    assert (dataset.concepts.epochs.value(), dataset.concepts.batch.value()) == (4, 2)
    assert dataset.concepts.step_count().total_steps == 120 == trainer_steps(demo_root, training.config())


def test_epochs_and_batch_changed_in_the_dataset_tab_reach_training_and_the_project(tabs, demo_root, qtbot) -> None:
    dataset, training = tabs
    dataset.concepts.epochs.setValue(6)
    assert training.config().run.epochs == 6
    assert training.form.editors["run.epochs"].widget.value() == 6
    assert load_toml_config(demo_root / TRAIN_CONFIG).config.run.epochs == 6  # kept in the project
    dataset.concepts.batch.setValue(3)
    assert training.config().run.batch_size == 3
    assert load_toml_config(demo_root / TRAIN_CONFIG).config.run.batch_size == 3
    shown, line = _texts(qtbot, dataset, training)
    assert "60 ÷ batch size 3 = 20 steps" in shown and "6 epochs × 20 steps = 120 steps" in shown
    assert line.endswith("× 6 epochs = 120 steps")
    assert trainer_steps(demo_root, training.config()) == 120
    dataset.concepts.epochs.setValue(7)
    assert _texts(qtbot, dataset, training)[1].endswith("× 7 epochs = 140 steps")


def test_changes_in_the_training_tab_update_the_dataset_tab(tabs, demo_root, qtbot) -> None:
    dataset, training = tabs
    training.form.editors["run.batch_size"].widget.setValue(4)  # as the user types it
    qtbot.waitUntil(lambda: dataset.concepts.batch.value() == 4, timeout=3000)
    qtbot.waitUntil(lambda: "4 epochs × 15 steps = 60 steps" in dataset.concepts.steps_label.text(), timeout=5000)
    assert load_toml_config(demo_root / TRAIN_CONFIG).config.run.batch_size == 4

    training.form.editors["run.grad_accumulation"].widget.setValue(2)
    qtbot.waitUntil(lambda: "one step every 2 batches" in dataset.concepts.steps_label.text(), timeout=3000)
    qtbot.waitUntil(lambda: "4 epochs × 8 steps = 32 steps" in dataset.concepts.steps_label.text(), timeout=5000)
    assert trainer_steps(demo_root, training.config()) == 32

    training.form.editors["run.max_steps"].widget.setValue(50)  # training set by steps: shown as such
    qtbot.waitUntil(lambda: dataset.concepts.steps.epochs_label.text() == "Stop after", timeout=3000)
    assert dataset.concepts.epochs.value() == 50 and dataset.concepts.epochs.suffix() == " steps"
    qtbot.waitUntil(lambda: "Stops after 50 steps (6 epochs and part of one more)" in dataset.concepts.steps_label.text(), timeout=5000)
    dataset.concepts.epochs.setValue(16)
    assert training.config().run.max_steps == 16 and training.config().run.epochs == 4
    qtbot.waitUntil(lambda: "Stops after 16 steps (2 epochs)" in dataset.concepts.steps_label.text(), timeout=5000)
    assert trainer_steps(demo_root, training.config()) == 16


def test_regularization_doubles_the_steps_as_in_the_trainer(tabs, demo_root, qtbot, tmp_path) -> None:
    dataset, training = tabs
    project = dataset.project
    proj.add_concept(project, "mascots", kind=ConceptKind.REGULARIZATION)
    reg_source = tmp_path / "reg"
    reg_source.mkdir()
    for i in range(3):
        draw_mascot(100 + i, size=128).image.save(reg_source / f"other_{i}.png")
    proj.add_images(project, "mascots", [reg_source])
    dataset.rescan()  # as after adding pictures in the tab; it tells the other tabs
    qtbot.waitUntil(lambda: "regularization" in dataset.concepts.steps_label.text(), timeout=10000)
    shown, line = _texts(qtbot, dataset, training)
    assert "mascots (regularization): 3 pictures" in shown
    assert "60 + 60 regularization = 120 ÷ batch size 2 = 60 steps" in shown
    assert "4 epochs × 60 steps = 240 steps" in shown and line.endswith("= 240 steps")
    assert trainer_steps(demo_root, training.config()) == 240


def test_automatic_steps_reach_the_dataset_tab(tabs, demo_root, qtbot) -> None:
    dataset, training = tabs
    modified = []
    training.context.project_modified.connect(lambda: modified.append(True))
    training.form_control.automatic_steps(Purpose.STYLE)  # about 200 pictures an epoch: 12 × 17, 10 epochs
    assert modified, "Auto steps changed the project's repeats without telling the other tabs"
    qtbot.waitUntil(lambda: "12 pictures × 17 repeats = 204" in dataset.concepts.steps_label.text(), timeout=5000)
    qtbot.waitUntil(lambda: dataset.concepts.epochs.value() == 10, timeout=3000)
    qtbot.waitUntil(lambda: "10 epochs × 102 steps = 1020 steps" in dataset.concepts.steps_label.text(), timeout=5000)
    assert trainer_steps(demo_root, training.config()) == 1020
    assert load_toml_config(demo_root / TRAIN_CONFIG).config.run.epochs == 10


def test_dataset_tab_alone_uses_the_training_settings_of_the_project(qtbot, context, demo_root, tmp_path) -> None:
    from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel

    dataset = DatasetPanel(context)
    qtbot.addWidget(dataset)
    _open(qtbot, context, dataset, demo_root)
    qtbot.waitUntil(lambda: "4 epochs × 30 steps = 120 steps" in dataset.concepts.steps_label.text(), timeout=5000)

    bare = demo_like_project(tmp_path / "bare", tmp_path / "bare pictures", settings=False)
    _open(qtbot, context, dataset, bare)
    run = default_settings().run  # no saved settings: what the Training tab starts a project with
    assert (dataset.concepts.epochs.value(), dataset.concepts.batch.value()) == (run.epochs, run.batch_size)
    assert dataset.concepts.step_count().total_steps == trainer_steps(bare, default_settings())
    dataset.loader.cancel_all()
    dataset.loader.wait(5000)
    dataset.crops.previews.wait(5000)
