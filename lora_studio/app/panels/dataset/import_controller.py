"""The Dataset tab's imports: adding pictures and folders (copied or linked), dropped files, pictures
sent from the Generation tab, and kohya folders in and out; and taking pictures out again
("Remove from project": the project's copies go to its .trash folder, originals are never touched).

Adding pictures runs on a worker over a snapshot of the project; the new records are taken into
the open project on the GUI thread when the worker is done. With several concepts, a small dialog
asks which one they go to (the last answer is offered first). Adding and removing go on the undo
history (``picture_edits``).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QStandardPaths, Slot
from PySide6.QtWidgets import QFileDialog, QMessageBox

from lora_studio.app.observable import bind
from lora_studio.app.panels.dataset.concept_choice_dialog import ConceptChoiceDialog
from lora_studio.core.control import RunControl
from lora_studio.core.errors import DatasetError
from lora_studio.core.events import Reporter
from lora_studio.dataset import picture_edits
from lora_studio.dataset import project as proj
from lora_studio.dataset.kohya import ExportResult, ProjectImport, export_kohya, import_kohya

if TYPE_CHECKING:
    from lora_studio.app.panels.dataset.dataset_panel import DatasetPanel
    from lora_studio.dataset.scan import ImageRow


log = logging.getLogger(__name__)


class ImportController(QObject):
    def __init__(self, view: DatasetPanel) -> None:
        super().__init__(view)
        self.view = view
        self.state = view.state
        self.state.copy_into_project = view.context.settings.copy_images_on_import
        self._working: tuple[proj.Project, proj.Project] | None = None  # the running import's snapshots
        view.add_button.clicked.connect(self.add_pictures_dialog)
        view.add_pictures_action.triggered.connect(self.add_pictures_dialog)
        view.add_folder_action.triggered.connect(self.add_folder_dialog)
        view.link_action.setChecked(True)  # the exclusive group's other choice, until the binding says
        bind(self.state, "copy_into_project", view.copy_action, "checked")
        self.state.copy_into_project_changed.connect(self._remember_copy_choice)
        view.kohya_import_action.triggered.connect(self.import_kohya_dialog)
        view.kohya_export_action.triggered.connect(self.export_kohya_dialog)
        view.concepts.files_dropped.connect(self._on_files_dropped)
        view.grid.remove_requested.connect(self.remove_pictures)
        self._target = ""  # the concept the running import adds to
        self._last_folder: Path | None = None  # the next pictures dialog opens where the last one picked
        self._before: dict[str, proj.ItemRecord] = {}  # its records before (for the undo)
        self.last_choice: str | None = None  # the concept last picked in the "which concept?" dialog
        self.choice_dialog: ConceptChoiceDialog | None = None
        view.concepts.concept_selected.connect(self._show_target)
        self._show_target(view.concepts.current_concept())

    def _show_target(self, concept: str | None) -> None:
        """Say where Add pictures puts them, before anyone presses it."""
        self.view.add_button.setToolTip(
            f"Add pictures to the concept “{concept}” (pick another concept on the left first to add there)"
            if concept
            else "Add pictures as a new concept (pick a concept on the left first to add to it)"
        )

    def _on_files_dropped(self, concept: str | None, paths: list[Path]) -> None:
        self.import_files(paths, concept)

    def _remember_copy_choice(self, copy: bool) -> None:
        settings = self.view.context.settings
        if settings.copy_images_on_import != copy:
            self.view.context.update_settings(dataclasses.replace(settings, copy_images_on_import=copy))

    def start_folder(self) -> str:
        """Where the pictures dialogs open: the last place pictures came from, else the Pictures folder
        (never the folder the app happened to be started in)."""
        if self._last_folder is not None and self._last_folder.is_dir():
            return str(self._last_folder)
        pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
        return pictures if pictures and Path(pictures).is_dir() else str(Path.home())

    def add_pictures_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self.view,
            "Add pictures",
            self.start_folder(),
            "Pictures (*.png *.jpg *.jpeg *.webp *.bmp);;All files (*)",
        )
        if files:
            self._last_folder = Path(files[0]).parent
            self.import_files([Path(f) for f in files], self.view.concepts.current_concept(), ask=True)

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.view, "Add a folder of pictures", self.start_folder())
        if folder:
            self._last_folder = Path(folder).parent
            self.import_files([Path(folder)], self.view.concepts.current_concept(), ask=True)

    def import_files(self, paths: list[Path], concept: str | None, *, ask: bool = False) -> bool:
        """Add ``paths`` (files or folders) to ``concept``; None makes a new concept for them.
        ``ask``: with several concepts, ask which one (``concept`` is offered when there is no
        earlier answer)."""
        view = self.view
        if view.project is None or not paths:
            return False
        if view.jobs.refuse_if_busy():
            return False
        folder = next((p for p in paths if p.is_dir()), None)
        if ask and len(view.project.concepts) > 1:
            chosen = self.ask_concept(paths, concept, folder.name if folder else "New concept")
            if chosen is None:
                return False
            concept, new = chosen
            if new:
                concept = view.concepts.new_concept(concept, edit=False)
            self.last_choice = concept
        elif concept is None:
            concept = view.concepts.new_concept(folder.name if folder else "New concept", edit=False)
        if concept is None:
            return False
        snapshot, copy, target = self._snapshot(view.project), self.state.copy_into_project, concept

        def run(reporter: Reporter, control: RunControl) -> proj.AddResult:
            return proj.add_images(snapshot, target, paths, copy=copy, reporter=reporter, control=control)

        view.concepts.select(concept)
        self._target = concept
        self._before = dict(view.project.records.get(concept, {}))
        return view.jobs.start(run, f"Adding pictures to “{concept}”", self._on_added)

    def ask_concept(self, paths: list[Path], current: str | None, new_name: str) -> tuple[str, bool] | None:
        """Which concept the pictures go to: (name, is new), or None when cancelled."""
        project = self.view.project
        assert project is not None
        names = [c.name for c in project.concepts]
        files = [p for p in paths if not p.is_dir()]
        what = (
            f"the folder “{paths[0].name}”"
            if len(paths) == 1 and paths[0].is_dir()
            else f"{len(files)} picture{'s' if len(files) != 1 else ''}"
            if len(files) == len(paths)
            else f"these {len(paths)} files and folders"
        )
        # the last answer, else the chosen concept, else (files, no concept chosen) the first one;
        # a folder with no concept chosen is offered as a new concept named after it
        preselect = self.last_choice if self.last_choice in names else current
        if preselect is None and len(files) == len(paths):
            preselect = names[0]
        dialog = ConceptChoiceDialog(names, what, preselect=preselect, new_name=new_name, parent=self.view)
        self.choice_dialog = dialog  # tests and the walk answer it
        try:
            if dialog.exec() != ConceptChoiceDialog.DialogCode.Accepted:
                return None
            return dialog.choice()
        finally:
            dialog.deleteLater()

    def _snapshot(self, project: proj.Project) -> proj.Project:
        """A copy for the worker to add to; :meth:`_adopt` takes its additions in afterwards."""
        self._working = (project.snapshot(), project.snapshot())
        return self._working[1]

    def _adopt(self) -> None:
        working, self._working = self._working, None
        project = self.view.project
        if working is not None and project is not None and project.root == working[0].root:
            proj.adopt_additions(project, *working)

    @Slot(proj.AddResult)
    def _on_added(self, result: proj.AddResult) -> None:
        view = self.view
        self._adopt()
        project = view.project
        if result.added and project is not None and self._target in {c.name for c in project.concepts}:
            view.history.record(picture_edits.import_edit(project, self._target, result.added, self._before))
        text = (
            f"Added {len(result.added)} picture{'s' if len(result.added) != 1 else ''} to “{self._target}”."
        )
        if result.skipped:
            first = result.skipped[0]
            text += f" Skipped {len(result.skipped)} (for example {first[0].name}: {first[1]})."
        view.jobs.set_status(text)
        view.rescan_pending = True

    def add_image_to_concept(self, path: str | Path, concept: str, caption: str = "") -> Path:
        """Copy a picture (e.g. a generated one) into ``concept`` with ``caption``; made if missing.
        Returns the copy's path."""
        project = self.view.project
        if project is None:
            raise DatasetError("Open a project first.", hint="Use File → New project or Open project.")
        if concept not in {c.name for c in project.concepts}:
            proj.add_concept(project, concept)
            self.view.concepts.reload()
        dest = proj.send_to_dataset(project, concept, path, caption)
        self.view.rescan()
        return dest

    # -- removing -------------------------------------------------------------------------------
    def remove_pictures(self, rows: list[ImageRow]) -> bool:
        """Ask, then take ``rows`` out of the project. Copies made on import (with their captions and
        masks) move to the project's .trash folder; linked originals stay where they are."""
        view = self.view
        project = view.project
        if project is None or not rows:
            return False
        if view.jobs.busy:
            view.jobs.set_status("Wait for the current job to finish, then remove the pictures.")
            return False
        n = len(rows)
        what = f"“{rows[0].path.name}”" if n == 1 else f"these {n} pictures"
        answer = QMessageBox.question(
            view,
            "Remove from project?",
            f"Remove {what} from the project?\n\n"
            "Your original files are not touched. The project's copies, captions and masks move to the "
            "project's .trash folder, so nothing is deleted.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        try:
            edit = picture_edits.remove(project, [(row.concept, row.key) for row in rows])
        except (OSError, DatasetError) as exc:
            view.rescan()
            view.jobs.show_exception(DatasetError(f"Couldn't remove the pictures: {exc}"))
            return False
        view.history.record(edit)  # rescans
        view.jobs.set_status(
            f"Removed {n} picture{'s' if n != 1 else ''} from the project (kept in .trash; Ctrl+Z puts "
            f"{'them' if n != 1 else 'it'} back)."
        )
        return True

    # -- kohya ---------------------------------------------------------------------------------
    def import_kohya_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self.view, "Pick the kohya folder (the one that holds img/ or 10_name folders)"
        )
        if folder:
            self.import_kohya(Path(folder))

    def import_kohya(self, folder: Path) -> bool:
        project = self.view.project
        if project is None:
            return False
        snapshot = self._snapshot(project)
        return self.view.jobs.start(
            lambda r, c: import_kohya(folder, snapshot, reporter=r, control=c),
            "Importing kohya folders",
            self._on_kohya_imported,
        )

    @Slot(ProjectImport)
    def _on_kohya_imported(self, result: ProjectImport) -> None:
        self._adopt()
        added = sum(len(a.added) for a in result.added)
        for path, reason in result.skipped_files:
            log.warning("Import skipped %s: %s", path, reason)
        for note in result.notes:
            log.warning("Import: %s", note)
        extra = ""
        if result.skipped_files:
            names = ", ".join(p.name for p, _ in result.skipped_files[:5])
            more = " …" if len(result.skipped_files) > 5 else ""
            extra = (
                f" Skipped {len(result.skipped_files)} file(s) ({names}{more}); the log says why for each."
            )
        self.view.jobs.set_status(f"Imported {added} pictures from kohya folders.{extra}")
        self.view.concepts.reload()
        self.view.rescan_pending = True

    def export_kohya_dialog(self) -> None:
        project = self.view.project
        if project is None:
            return
        folder = QFileDialog.getExistingDirectory(
            self.view, "Export into which folder? (a new folder is made inside)"
        )
        if folder:
            self.export_kohya(Path(folder) / f"{project.name or 'dataset'} (kohya)")

    def export_kohya(self, target: Path) -> bool:
        project = self.view.project
        if project is None:
            return False
        snapshot = project.snapshot()
        return self.view.jobs.start(
            lambda r, c: export_kohya(snapshot, target, reporter=r, control=c),
            "Exporting for kohya",
            self._on_exported,
        )

    @Slot(ExportResult)
    def _on_exported(self, result: ExportResult) -> None:
        self.view.jobs.set_status(
            f"Exported {result.images} pictures to {result.root}"
            + (f" ({result.cropped} cropped, saved as PNG)." if result.cropped else ".")
        )
