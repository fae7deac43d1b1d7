"""The Dataset tab's jobs as plain functions ``fn(reporter, control)`` (the check), and the bulk
caption edits built from a request. Qt-free; the auto-captioning job is in ``captioning.jobs``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lora_studio.core.control import RunControl
from lora_studio.core.errors import DatasetError
from lora_studio.core.events import IssuesFound, Reporter
from lora_studio.core.issues import Issue
from lora_studio.dataset import edits
from lora_studio.dataset.edits import CaptionChange, CaptionEdit
from lora_studio.dataset.ops import buckets_for
from lora_studio.dataset.project import Project
from lora_studio.dataset.scan import ImageRow
from lora_studio.dataset.validate import iter_issues

Job = Callable[[Reporter, RunControl], Any]


def check_job(project: Project, resolution: int, token_limit: int = 75) -> Job:
    def run(reporter: Reporter, control: RunControl) -> list[Issue]:
        dataset = project.to_dataset(include_excluded=False)
        found: list[Issue] = []
        batch: list[Issue] = []
        for issue in iter_issues(
            dataset,
            resolution,
            token_limit,
            buckets=buckets_for(resolution),
            reporter=reporter,
            control=control,
        ):
            found.append(issue)
            batch.append(issue)
            if len(batch) >= 25:
                reporter(IssuesFound(tuple(batch)))
                batch = []
        if batch:
            reporter(IssuesFound(tuple(batch)))
        return found

    return run


# -- bulk caption edits ----------------------------------------------------------------------------


def bulk_edit(
    operation: str, rows: Sequence[ImageRow], first: str, second: str, triggers: dict[str, str]
) -> CaptionEdit:
    """Build one undoable edit for ``operation`` (a ``tag_tools_widget.Operation`` value) over ``rows``.

    ``triggers`` maps concept names to their trigger words (for "put the trigger first").
    """
    paths = [r.caption_path for r in rows]
    if operation == "add-front":
        return edits.add_tag_edit(paths, first, front=True)
    if operation == "add-back":
        return edits.add_tag_edit(paths, first, front=False)
    if operation == "remove":
        return edits.remove_tag_edit(paths, first)
    if operation == "rename":
        if not second.strip():
            raise DatasetError("Type the new name of the tag.")
        return edits.rename_tag_edit(paths, first, second.strip())
    if operation in ("replace", "replace-regex"):
        return edits.replace_edit(paths, first, second, regex=operation == "replace-regex")
    if operation == "sort-abc":
        return edits.sort_edit(paths, by="alphabetical")
    if operation == "sort-freq":
        return edits.sort_edit(paths, by="frequency")
    if operation == "dedupe":
        return edits.dedupe_edit(paths)
    if operation == "trigger":
        changes: list[CaptionChange] = []
        skipped: list[tuple[Path, str]] = []
        missing: list[str] = []
        by_concept: dict[str, list[Path]] = {}
        for r in rows:
            by_concept.setdefault(r.concept, []).append(r.caption_path)
        for concept, concept_paths in by_concept.items():
            trigger = triggers.get(concept, "").strip()
            if not trigger:
                missing.append(concept)
                continue
            e = edits.add_trigger_edit(concept_paths, trigger)
            changes += e.changes
            skipped += e.skipped
        if missing and not changes:
            raise DatasetError(
                f"The concept “{missing[0]}” has no trigger word.",
                hint="Type a trigger word in the concept's settings first.",
            )
        return CaptionEdit("Put the trigger word first", tuple(changes), tuple(skipped))
    raise DatasetError(f"Unknown caption change '{operation}'.")


