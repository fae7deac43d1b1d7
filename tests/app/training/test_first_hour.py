"""Issue 16 item 5 on the Training tab: what it shows is true now (no stale run, no contradictions)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from lora_studio.training.config import update

from .conftest import make_pictures, scripted_job


def test_fix_notice_goes_away_when_the_problem_is_fixed(panel, qtbot, tmp_path) -> None:
    good = update(panel.config(), **{"network.rank": 8, "network.alpha": 4.0})
    panel.set_config(update(good, **{"dataset.path": ""}))
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    errors = [i for i in panel.preflight.issues if i.is_error]
    assert errors and panel.notice.isVisibleTo(panel) and panel.notice.text().startswith("Fix the")
    assert "(s)" not in panel.notice.text()
    items = [panel.preflight.list.item(i).text() for i in range(panel.preflight.list.count())]
    assert not any("No problems found" in t for t in items)
    # the user fixes every error: the notice must not keep telling them to fix something
    folder = tmp_path / "pics"
    make_pictures(folder, 2)
    panel.set_config(update(good, **{"dataset.path": str(folder)}))
    issues = panel.form_control.refresh_checks()
    if not any(i.is_error for i in issues):
        assert not panel.notice.isVisibleTo(panel)
    else:  # e.g. no base model here: the notice still matches an error in the list
        assert panel.notice.text().startswith("Fix the")


def test_opening_another_project_clears_the_last_run(panel, qtbot, context, tmp_path) -> None:
    from lora_studio.dataset import project as P

    panel.queue.make_job = scripted_job(100, steps_per_epoch=50, sample_dir=tmp_path)
    panel.runs.add_to_queue()
    panel.queue.start()
    qtbot.waitUntil(lambda: not panel.queue.is_running and not panel.queue.waiting(), timeout=20000)
    assert "Epoch 2 finished" in panel.monitor.log_view.toPlainText()
    assert panel.monitor.status.text().startswith("Finished")
    other = P.create_project(tmp_path / "Other", "Other")
    context.open_project(other.root)
    assert panel.monitor.log_view.toPlainText() == ""
    assert panel.monitor.status.text().startswith("Not training")
    assert panel.monitor.values["step"].text() == "–"
    assert len(panel.plot.buffer.loss) == 0
    assert not panel.compare_button.isEnabled()


def test_resume_follows_the_numbered_name_a_run_took(panel, qtbot, tmp_path) -> None:
    from lora_studio.core.events import OutputRenamed
    from lora_studio.training.run_files import STATE_DIR, state_filename

    out = tmp_path / "out"
    panel.set_config(update(panel.config(), **{"run.output_dir": str(out), "run.output_name": "zorb"}))

    def factory(request):
        def job(reporter, control):
            reporter(OutputRenamed("zorb", "zorb-2"))
            (out / STATE_DIR).mkdir(parents=True, exist_ok=True)
            (out / STATE_DIR / state_filename("zorb-2", 5)).write_bytes(b"state")
            return None

        return job

    panel.queue.make_job = factory
    qtbot.mouseClick(panel.queue_button, Qt.MouseButton.LeftButton)
    panel.queue.start()
    qtbot.waitUntil(lambda: not panel.queue.is_running and not panel.queue.waiting(), timeout=20000)
    panel.runs.update_buttons()
    assert panel.resume_button.isEnabled()  # zorb has no state; the run's zorb-2 has one
    assert panel.runs.resume_config(panel.config()).run.output_name == "zorb-2"
    assert panel.config().run.output_name == "zorb"  # the form keeps the wanted name


def test_memory_line_says_what_it_means_without_a_graphics_card(panel, qtbot, context) -> None:
    from lora_studio.app.state import DeviceInfo

    context.set_device(DeviceInfo("Processor only (no NVIDIA graphics card found)"))
    qtbot.waitUntil(lambda: "no NVIDIA card" in panel.preflight.vram_label.text(), timeout=5000)
    text = panel.preflight.vram_label.text()
    assert "processor" in text and "not checked yet" not in text
    context.set_device(DeviceInfo("NVIDIA GeForce RTX 3060, 12 GB"))
    qtbot.waitUntil(lambda: "of 12 GB graphics memory" in panel.preflight.vram_label.text(), timeout=5000)


def test_the_panel_fits_1280_by_720_without_cutting_the_preset(panel, qtbot) -> None:
    assert panel.minimumSizeHint().width() <= 1280
    panel.resize(1280, 720)
    qtbot.wait(50)
    combo = panel.presets.purpose
    widest = max(combo.fontMetrics().horizontalAdvance(combo.itemText(i)) for i in range(combo.count()))
    assert combo.width() > widest  # "Character / subject" is not cut to "Character / subje"
