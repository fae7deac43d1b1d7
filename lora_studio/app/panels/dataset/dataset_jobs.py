"""The panel's background jobs as plain functions ``fn(reporter, control)`` (Qt-free), plus the
bulk caption edits built from a request."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lora_studio.app.panels.dataset.dataset_scan import ImageRow
from lora_studio.core.control import RunControl
from lora_studio.core.errors import DatasetError
from lora_studio.core.events import Event, Progress, Reporter, StatusChanged
from lora_studio.dataset import edits
from lora_studio.dataset.edits import CaptionEdit
from lora_studio.dataset.items import Item
from lora_studio.dataset.ops import buckets_for
from lora_studio.dataset.project import Project
from lora_studio.dataset.validate import Issue, iter_issues

Job = Callable[[Reporter, RunControl], Any]


@dataclass(frozen=True, slots=True)
class IssuesFound(Event):
    """A batch of problems found by the check (sent as they come)."""

    issues: tuple[Issue, ...]


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
        changes, skipped, missing = [], [], []
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


def progress_text(event: Event) -> tuple[int, int, str] | None:
    if isinstance(event, Progress):
        return event.done, event.total, event.text
    return None


# -- auto-captioning -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaptionGroup:
    """Pictures that share a trigger word (one concept's part of the run)."""

    items: tuple[Item, ...]
    trigger: str = ""


def items_for_rows(rows: Sequence[ImageRow], triggers: dict[str, str]) -> list[CaptionGroup]:
    """Group the grid's rows by concept, as dataset items (no disk access), with each trigger."""
    by_concept: dict[str, list[Item]] = {}
    for r in rows:
        if r.error:
            continue
        item = Item(image=r.path, crop=r.crop, mask=r.mask, caption_path=r.caption_path)
        by_concept.setdefault(r.concept, []).append(item)
    return [CaptionGroup(tuple(items), triggers.get(c, "").strip()) for c, items in by_concept.items()]


def auto_caption_job(
    model_dir: Path,
    groups: Sequence[CaptionGroup],
    options: Any,
    mode: str,
    mask_handling: str,
) -> Job:
    """Like ``captioning.runner.captioning_job`` (the model loads once) over several concepts,
    each with its own trigger word; returns ONE report whose ``edit`` holds every change (not applied:
    the panel pushes it on its caption history, so one Undo restores every caption)."""
    groups = tuple(groups)

    def run(reporter: Reporter, control: RunControl) -> Any:
        from lora_studio.captioning.base import load_captioner
        from lora_studio.captioning.runner import (
            CaptionMode,
            CaptionReady,
            CaptionRunReport,
            MaskHandling,
            caption_items,
        )

        grand_total = sum(len(g.items) for g in groups)
        reporter(StatusChanged(f"Loading {Path(model_dir).name}…"))
        control.checkpoint()
        captioner = load_captioner(model_dir, options.device)
        reports = []
        offset = 0
        try:
            for group in groups:
                base = offset

                def relay(event: Event, base: int = base) -> None:
                    if isinstance(event, Progress):
                        reporter(Progress(base + event.done, grand_total, event.text))
                    elif isinstance(event, CaptionReady):
                        reporter(CaptionReady(event.image, event.caption, base + event.index, grand_total))
                    else:
                        reporter(event)

                reports.append(
                    caption_items(
                        group.items,
                        captioner,
                        options,
                        CaptionMode(mode),
                        group.trigger,
                        relay,
                        control,
                        mask_handling=MaskHandling(mask_handling),
                        apply=False,
                    )
                )
                offset += len(group.items)
        finally:
            captioner.unload()
        if len(reports) == 1:
            return reports[0]
        label = next((r.edit.label for r in reports if r.edit is not None), "Auto-caption")
        edit = CaptionEdit(
            label,
            tuple(c for r in reports if r.edit for c in r.edit.changes),
            tuple(s for r in reports if r.edit for s in r.edit.skipped),
        )
        report = CaptionRunReport(
            total=sum(r.total for r in reports),
            captions=tuple(c for r in reports for c in r.captions),
            edit=edit,
            skipped=tuple(s for r in reports for s in r.skipped),
            failed=tuple(f for r in reports for f in r.failed),
            not_reached=tuple(p for r in reports for p in r.not_reached),
            cancelled=any(r.cancelled for r in reports),
            seconds=sum(r.seconds for r in reports),
            results={k: v for r in reports for k, v in r.results.items()},
        )
        reporter(StatusChanged(report.summary()))
        return report

    return run
