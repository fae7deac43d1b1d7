"""The Generation tab's gallery: earlier pictures, reusing a picture's settings, sending a picture to
the dataset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from lora_studio.app.dialogs.error_dialog import show_error
from lora_studio.app.panels.generation.gallery_widget import GalleryEntry, history_job
from lora_studio.app.panels.generation.lora_selection import LoraChoice, prompt_with
from lora_studio.app.workers.error_info import ErrorInfo
from lora_studio.core.errors import LoraStudioError
from lora_studio.generation.request import GenerationRequest, extract_lora_tags
from lora_studio.generation.restore import restore_request

if TYPE_CHECKING:
    from PySide6.QtGui import QImage

    from lora_studio.app.panels.generation.generation_panel import GenerationPanel


class GalleryController(QObject):
    def __init__(self, view: GenerationPanel) -> None:
        super().__init__(view)
        self.view = view
        self.state = view.state
        gallery = view.gallery
        gallery.reuse_settings_requested.connect(self._reuse_settings)
        gallery.reuse_seed_requested.connect(view.settings_widget.set_seed)
        gallery.send_to_dataset_requested.connect(self.send_to_dataset)
        gallery.use_as_init_requested.connect(view.settings_widget.init_image.set_image)

    # -- earlier pictures ------------------------------------------------------------------------
    def load_history(self) -> None:
        self.view.jobs.replace("history", self._on_history)  # its pictures belong to the last project
        context = self.view.context
        folder = context.settings.output_folder() / (context.project_name or "images")
        self.view.jobs.start("history", history_job(folder), "Loading earlier pictures", self._on_history)

    @Slot(list)
    def _on_history(self, items: list[tuple[Path, QImage, str]]) -> None:
        from lora_studio.formats.infotext import parse_infotext

        for path, thumb, text in items:
            seed = -1
            try:
                seed = parse_infotext(text).seed or -1 if text else -1
            except Exception:  # noqa: BLE001 - odd text from other tools
                pass
            self.view.gallery.add_entry(GalleryEntry(path, seed, text), thumb, select=False)
        if items:
            self.view.gallery.strip.setCurrentRow(0)

    # -- restoring settings ----------------------------------------------------------------------
    def apply_infotext(self, text: str) -> list[str]:
        """Put a picture's settings into the controls; returns plain-words notes on what's missing."""
        view = self.view
        current = view.settings_widget.request_fields()
        base = GenerationRequest(
            model="", prompt="", **{k: v for k, v in current.items() if k in ("batch_count", "batch_size")}
        )
        request, notes = restore_request(text, self.state.library, view.models.lora_dirs(), base)
        model = self.state.library.model_named(request.model) if request.model else None
        if model is not None:
            view.model_picker.select_path(model.path)
        elif request.model:
            notes.append(f"The model “{request.model}” isn't in your model folders; the current one stays.")
        choices = tuple(LoraChoice(s.name, s.weight, s.unet_weight, s.te_weight) for s in request.loras)
        view.prompt_editor.set_prompt(prompt_with(request.prompt, choices))
        self.state.selection.choices = choices
        view.prompt_editor.set_negative(request.negative)
        view.settings_widget.apply_request(request)
        view.mixer.sort_rows()
        self.state.status = "Settings restored." + (" " + " ".join(notes) if notes else "")
        view.update_buttons()
        return notes

    def _reuse_settings(self, entry: GalleryEntry) -> None:
        self.apply_infotext(entry.infotext)

    def restore_from_file(self, path: Path) -> None:
        from lora_studio.formats.infotext import read_png_parameters

        try:
            text = read_png_parameters(path)
        except (OSError, ValueError) as exc:
            self.state.status = f"Could not read {path.name}: {exc}"
            return
        if not text:
            self.view.settings_widget.init_image.set_image(path)
            self.state.status = f"{path.name} has no stored settings, so it became the start picture."
            return
        self.apply_infotext(text)

    # -- send to dataset -------------------------------------------------------------------------
    def send_to_dataset(self, entry: GalleryEntry) -> None:
        from lora_studio.app.panels.generation.send_to_dataset_dialog import SendToDatasetDialog

        project = self.view.context.project
        concepts = [c.name for c in project.concepts] if project is not None else []
        if not concepts:
            show_error(ErrorInfo(
                "There is no dataset to add the picture to yet.",
                "Open a project and add a concept in the Dataset tab first.", title="Send to dataset",
                expected=True,
            ), self.view)  # fmt: skip
            return
        caption = (
            extract_lora_tags(self.view.prompt_editor.prompt.text)[0]
            if not entry.infotext
            else restore_caption(entry.infotext)
        )
        dialog = SendToDatasetDialog(concepts, caption, self.view)
        if dialog.exec():
            self.send_entry(entry, *dialog.chosen())

    def send_entry(self, entry: GalleryEntry, concept: str, caption: str) -> Path | None:
        from lora_studio.dataset.project import send_to_dataset

        context = self.view.context
        if context.project is None:
            return None
        try:
            dest = send_to_dataset(context.project, concept, entry.path, caption)
        except LoraStudioError as exc:
            show_error(ErrorInfo.from_exception(exc, title="Send to dataset"), self.view)
            return None
        self.state.status = f"Added {dest.name} to “{concept}”."
        context.project_changed.emit(context.project)  # the Dataset tab refreshes
        return dest


def restore_caption(infotext: str) -> str:
    """The prompt of an infotext without LoRA tags (a starting caption)."""
    from lora_studio.formats.infotext import parse_infotext

    try:
        return extract_lora_tags(parse_infotext(infotext).prompt)[0]
    except Exception:  # noqa: BLE001
        return ""
