"""The Training tab's settings: the form bound to the app's one copy of the training settings, the
project's defaults, presets and automatic steps, the checks before a start, and settings files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QFileDialog

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.observable import bind
from lora_studio.app.state import DeviceInfo
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.app.workers.step_counter import StepCounter
from lora_studio.core.errors import LoraStudioError
from lora_studio.core.families import ModelFamily
from lora_studio.dataset import project as proj
from lora_studio.training import step_plan
from lora_studio.training.config import TrainConfig, update
from lora_studio.training.config_files import (
    LoadedConfig,
    default_settings,
    import_kohya,
    load_toml_config,
    project_settings,
    save_toml_config,
)
from lora_studio.training.presets import Purpose, preset
from lora_studio.training.validation import Issue, Severity
from lora_studio.training.vram_estimate import estimate_vram, has_no_card, vram_from_device, vram_tier

if TYPE_CHECKING:
    from collections.abc import Callable

    from lora_studio.app.panels.training.training_panel import TrainingPanel

log = logging.getLogger(__name__)

OUTPUT_DIR = "output"
# What a preset leaves as it is: the person's own choices, not training recipe.
KEEP_ON_PRESET = (
    "model.base_model", "model.vae", "dataset.path", "dataset.trigger_word", "dataset.caption_extension",
    "run.output_dir", "run.output_name", "run.device", "sample.prompts",
)  # fmt: skip


class FormController(QObject):
    def __init__(self, view: TrainingPanel) -> None:
        super().__init__(view)
        self.view = view
        self.settings = view.context.training
        self.family: ModelFamily | None = None
        self.vram_gb: float | None = None
        self.no_card = False  # the device check found no NVIDIA card
        self.calibration = 1.0  # measured / formula memory, set by the last memory fit (FitController)
        self.step_counter = StepCounter(self)
        self.step_counter.counted.connect(
            lambda count, _config: view.presets.steps_label.setText(step_plan.summary_line(count))
        )
        self.check_timer = QTimer(self, singleShot=True, interval=300)
        self.check_timer.timeout.connect(self.refresh_checks)
        # One copy: the form shows the app's training settings and writes a person's edits back.
        bind(self.settings, "config", view.form, "config")
        view.form.config_changed.connect(self.settings.save)  # after the binding took the edit
        self.settings.config_changed.connect(self._on_config_changed)
        view.presets.apply_requested.connect(self.apply_preset)
        view.presets.automatic_steps_requested.connect(self.automatic_steps)
        view.preflight.field_requested.connect(view.focus_field)
        view.load_action.triggered.connect(self._load_dialog)
        view.save_action.triggered.connect(self._save_dialog)
        view.import_action.triggered.connect(self._import_dialog)
        view.context.project_changed.connect(self.on_project_changed)
        view.context.project_modified.connect(self.check_timer.start)  # repeats or pictures: new step maths
        view.context.device_changed.connect(self._on_device_changed)
        if view.context.device is not None:
            self._on_device_changed(view.context.device)

    def config(self) -> TrainConfig:
        """The settings, with an edit still being typed taken in first."""
        self.view.form.flush()
        return self.settings.current()

    def _project_defaults(self, config: TrainConfig) -> TrainConfig:
        context = self.view.context
        project, root = context.project, context.project_path
        if project is None or root is None:
            return config
        changes: dict[str, Any] = {"dataset.path": str(root), "run.output_dir": str(root / OUTPUT_DIR)}
        base = project.settings.base_model
        if base and not config.model.base_model:
            changes["model.base_model"] = str((root / base) if not Path(base).is_absolute() else Path(base))
        if config.run.output_name in ("", "lora"):
            name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in context.project_name).strip("_")
            changes["run.output_name"] = name or "lora"
        return update(config, **changes)

    @Slot(object)
    def on_project_changed(self, project: proj.Project | None = None) -> None:
        view, root = self.view, self.view.context.project_path
        view.show_notice("")  # notes about the previous project's settings are not about this one
        view.project_label.setText(
            f"Project: {view.context.project_name}"
            if project is not None
            else "No project open — open one in the Dataset tab, or choose pictures under Advanced."
        )
        config: TrainConfig | None = None
        if project is not None and root is not None:
            try:
                config = project_settings(root)
            except LoraStudioError as exc:
                view.show_notice(f"The saved training settings could not be read ({exc.message}); using a preset.")
        if config is None:
            family = self._detect_family(project.settings.base_model if project is not None else "")
            config = default_settings(view.presets.current_purpose(), family, int(view.presets.vram.currentData()))
        self.settings.config = self._project_defaults(config)

    @Slot(DeviceInfo)
    def _on_device_changed(self, device: DeviceInfo) -> None:
        self.vram_gb = vram_from_device(device.summary, device.details)
        self.no_card = self.vram_gb is None and has_no_card(device.summary)
        self.view.presets.set_vram_tier(vram_tier(self.vram_gb))
        self.check_timer.start()

    def _detect_family(self, path: str) -> ModelFamily | None:
        if not path or not Path(path).exists():
            return None
        try:
            from lora_studio.training.validation import sniff_family

            return sniff_family(path)
        except Exception:  # an unreadable model is reported by the checks, not here
            return None

    def _on_config_changed(self, config: TrainConfig | None) -> None:
        if config is None:
            return
        family = self._detect_family(config.model.base_model)
        if family != self.family:
            self.family = family
            self.view.form.set_detected_family(family)
        self.view.presets.set_family(config.model.family or family)
        self.check_timer.start()
        self.view.runs.update_buttons()

    @Slot()
    def refresh_checks(self) -> list[Issue]:
        """Validate the settings, estimate memory and update the step maths. Returns the issues."""
        from lora_studio.training.config import validate

        view, config = self.view, self.config()
        try:
            issues = validate(config)
        except Exception as exc:  # a check that crashes must not take the panel down
            log.exception("Checking the training settings failed")
            issues = [Issue(Severity.ERROR, "dataset.path", f"The settings could not be checked: {exc}")]
        view.preflight.show_issues(issues)
        if not any(i.is_error for i in issues) and view.notice.text().startswith("Fix the "):
            view.show_notice("")  # the problems it named are fixed: don't contradict the list
        view.form.mark_problems({i.field: i.message for i in issues if i.is_error})
        view.preflight.show_vram(estimate_vram(config, self.family, self.vram_gb, calibration=self.calibration, no_card=self.no_card))
        self.step_counter.request(config, view.context.project)  # shown when counted (worker thread)
        return issues

    # -- presets and steps ---------------------------------------------------------------------
    @Slot(Purpose, ModelFamily, int)
    def apply_preset(self, purpose: Purpose, family: ModelFamily, vram_gb: int) -> None:
        current = self.config()
        values = {k: _get(current, k) for k in KEEP_ON_PRESET}
        if current.sample.prompts:
            values["sample.every_n_epochs"] = current.sample.every_n_epochs or 1
        self.settings.edit(update(preset(purpose, family, vram_gb, pictures=self._picture_count()), **values))
        self.view.show_notice(f"Using the {purpose.value.replace('_', ' ')} preset for {family.label} on {vram_gb} GB.")

    def _picture_count(self) -> int:
        """Pictures one epoch shows (pictures × repeats of the open project): FLUX presets take their
        epochs from it, so a project whose repeats are not 1 still gets about the guides' step count."""
        project = self.view.context.project
        try:
            shown = project.to_dataset(include_excluded=False).images_per_epoch() if project is not None else 0
        except LoraStudioError:
            shown = 0
        return shown or 13

    @Slot(Purpose)
    def automatic_steps(self, purpose: Purpose) -> None:
        view, project = self.view, self.view.context.project
        try:
            concepts = project.to_dataset(include_excluded=False).training_concepts() if project is not None else []
        except LoraStudioError:
            concepts = []
        images = sum(len(c.items) for c in concepts)
        if project is None or images == 0:
            view.show_notice("Open a project with pictures first; repeats and epochs are chosen from their number.")
            return
        family = self.config().model.family or self.family
        auto = step_plan.automatic_steps(images, str(purpose), family.value if family else None)
        for c in concepts:
            if c.repeats != auto.repeats:
                proj.update_concept(project, c.name, repeats=auto.repeats)
        view.form.set_value("run.epochs", auto.epochs)  # saved and shared once the form settles
        view.show_notice(f"Automatic steps: {auto.note}. Repeats were set on the project's concepts.")
        view.context.notify_project_modified()  # the Dataset tab shows the new repeats
        self.check_timer.start()

    # -- settings files ------------------------------------------------------------------------
    def apply_loaded(self, loaded: LoadedConfig) -> None:
        """Use a loaded/imported config; say which keys were not understood."""
        config = loaded.config
        self.settings.edit(self._project_defaults(config) if not config.dataset.path else config)
        name = Path(loaded.source).name
        if loaded.not_understood:
            keys = ", ".join(loaded.not_understood[:40]) + (" …" if len(loaded.not_understood) > 40 else "")
            count = len(loaded.not_understood)
            self.view.show_notice(f"Loaded {name}. {count} setting(s) were not understood and left out: {keys}")
        else:
            self.view.show_notice(f"Loaded {name}; every setting was understood.")
        if loaded.notes:
            self.view.show_notice(self.view.notice.text() + "\n" + "\n".join(loaded.notes))

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.view, "Load training settings", "", "Training settings (*.toml)")
        if path:
            self.load_with(load_toml_config, path)

    def _import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.view, "Import kohya settings", "", "kohya_ss / sd-scripts (*.json *.toml);;All files (*)"
        )
        if path:
            self.load_with(import_kohya, path)

    def load_with(self, loader: Callable[[str], LoadedConfig], path: str) -> None:
        try:
            self.apply_loaded(loader(path))
        except LoraStudioError as exc:
            show_error(ErrorInfo.from_exception(exc, title="Settings not loaded"), self.view)
        except (OSError, ValueError) as exc:
            message = f"The file {Path(path).name} could not be read: {exc}"
            show_error(ErrorInfo(message, "Pick another file.", title="Settings not loaded", expected=True), self.view)

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self.view, "Save training settings", "training.toml", "Training settings (*.toml)"
        )
        if path:
            try:
                saved = save_toml_config(self.config(), path)
            except OSError as exc:
                info = ErrorInfo(
                    f"The settings could not be saved: {exc}", "Pick a folder you may write to.",
                    title="Not saved", expected=True,
                )  # fmt: skip
                show_error(info, self.view)
                return
            self.view.show_notice(f"Saved the settings to {saved}.")


def _get(config: object, key: str) -> object:
    for part in key.split("."):
        config = getattr(config, part)
    return config
