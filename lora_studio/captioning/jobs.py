"""The Dataset tab's auto-captioning job: several concepts in one run, each with its own trigger word.

Qt-free: ``fn(reporter, control)`` runs on a worker; the model loads once for every concept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lora_studio.captioning.base import CaptionOptions
from lora_studio.captioning.runner import CaptionRunReport
from lora_studio.core.control import RunControl
from lora_studio.core.events import CaptionReady, Event, Progress, Reporter, StatusChanged
from lora_studio.dataset.edits import CaptionEdit
from lora_studio.dataset.items import Item
from lora_studio.dataset.scan import ImageRow

Job = Callable[[Reporter, RunControl], Any]


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
    options: CaptionOptions,
    mode: str,
    mask_handling: str,
) -> Job:
    """Like ``captioning.runner.captioning_job`` (the model loads once) over several concepts,
    each with its own trigger word; returns ONE report whose ``edit`` holds every change (not applied:
    the panel pushes it on its caption history, so one Undo restores every caption)."""
    groups = tuple(groups)

    def run(reporter: Reporter, control: RunControl) -> CaptionRunReport:
        from lora_studio.captioning.base import load_captioner
        from lora_studio.captioning.runner import (
            CaptionMode,
            CaptionRunReport,
            MaskHandling,
            caption_items,
        )

        grand_total = sum(len(g.items) for g in groups)
        reporter(StatusChanged(f"Loading {Path(model_dir).name}…"))
        control.checkpoint()
        captioner = load_captioner(model_dir, options.device, options=options)
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
