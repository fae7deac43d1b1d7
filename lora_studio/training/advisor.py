"""The epoch advisor: which saved LoRA file of a run to keep, and why, in plain words. Qt-free.

Each saved file is judged on three things:

(a) **validation loss** on the held-out pictures: the value the run measured at the step it saved
    the file (its validation history: the panel's events, or the run's newest state for the CLI);
    a file the history has no value for is measured here, with the trainer's own fixed-noise loss
    (``TrainingSession.fixed_loss``) on the run's held-out pictures;
(b) **leakage**: how much the LoRA changes pictures of neutral prompts *without* the trigger word
    (mean pixel difference between with-LoRA and without-LoRA pictures, same seeds; small pictures
    and few steps, so it is cheap);
(c) **stability**: how much the trigger prompt's picture jumps between weights 0.6, 0.8 and 1.0.

A file leaks (or is unsteady) when its number is well above the run's typical one (1.5 × the
median, and above a small floor). The recommendation is the best-scoring file that neither leaks
nor is unsteady; the score adds the three numbers, each scaled to 0..1 across the files, validation
first. :func:`rank_epochs` is pure (numbers in, advice out); :func:`run_advisor` measures, then ranks.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from lora_studio.core.control import RunControl
from lora_studio.core.errors import GenerationError, LoraStudioError
from lora_studio.core.events import Progress, Reporter, StatusChanged, null_reporter
from lora_studio.training.config import TrainConfig
from lora_studio.training.run_files import epoch_of, step_of

NEUTRAL_PROMPTS = ("a photo of a living room", "a landscape with trees and a lake", "a cup on a wooden table")
WEIGHTS = (0.6, 0.8, 1.0)
MAX_STEPS = 12  # the test pictures only need to show what changes, not to be finished
FLAG_FACTOR = 1.5  # a number this many times the run's median is "well above"
LEAK_FLOOR = 0.01  # mean absolute pixel difference (0..1) below which nothing counts as leaking
UNSTEADY_FLOOR = 0.02
SCORE_WEIGHTS = (1.0, 0.7, 0.5)  # validation, leakage, instability
ADVICE_FILE = "advice.json"


@dataclass(frozen=True, slots=True)
class AdviceRequest:
    """What the advisor needs: the run's settings, its saved files and validation history."""

    config: TrainConfig
    lora_files: tuple[str, ...]
    validation: tuple[tuple[int, float], ...] = ()  # (step, loss) as the run recorded them
    neutral_prompts: tuple[str, ...] = NEUTRAL_PROMPTS
    weights: tuple[float, ...] = WEIGHTS
    steps: int = 0  # 0: the first sample prompt's steps, at most 12
    size: int = 0  # 0: half the training resolution, 64..384

    @property
    def out_dir(self) -> Path:
        return Path(self.config.run.output_dir) / "compare"

    @property
    def sampling_steps(self) -> int:
        if self.steps:
            return self.steps
        prompts = self.config.sample.prompts
        return min(MAX_STEPS, prompts[0].steps) if prompts else MAX_STEPS

    @property
    def picture_size(self) -> int:
        size = self.size or max(64, min(384, self.config.dataset.resolution // 2))
        return size // 8 * 8


@dataclass(frozen=True, slots=True)
class EpochScore:
    path: str
    epoch: int
    step: int
    validation: float | None
    leakage: float
    instability: float
    score: float = 0.0
    leaks: bool = False
    unsteady: bool = False

    @property
    def label(self) -> str:
        return f"epoch {self.epoch}" if self.epoch > 0 else Path(self.path).stem


@dataclass(frozen=True, slots=True)
class Advice:
    """The ranking (best first), the recommended file and the reason in plain words."""

    ranking: tuple[EpochScore, ...]
    recommended: str
    reason: str
    trigger: str = ""
    notes: tuple[str, ...] = field(default=())

    def score_of(self, path: str) -> EpochScore | None:
        return next((s for s in self.ranking if s.path == path), None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @staticmethod
    def from_json(text: str) -> Advice:
        data = json.loads(text)
        ranking = tuple(EpochScore(**s) for s in data.pop("ranking"))
        data["notes"] = tuple(data.get("notes", ()))
        return Advice(ranking=ranking, **data)


# --- facts about the files ------------------------------------------------------------------------


def file_epoch_and_step(path: str) -> tuple[int, int]:
    """The epoch and step a file was saved at: its ``ss_epoch``/``ss_steps`` metadata, else its name."""
    from lora_studio.formats.safetensors_meta import read_header

    epoch, step = epoch_of(Path(path)), step_of(Path(path))
    try:
        meta = read_header(path).metadata
        epoch = int(meta.get("ss_epoch", epoch) or epoch)
        step = int(meta.get("ss_steps", step) or step)
    except (OSError, ValueError, LoraStudioError):  # the name still says it
        pass
    return epoch, step


def validation_at(step: int, history: Sequence[tuple[int, float]]) -> float | None:
    """The validation loss the run measured at ``step`` (when it saved that file), else None."""
    found = [v for s, v in history if s == step]
    return found[-1] if found and step >= 0 else None


def holds_out_pictures(config: TrainConfig) -> bool:
    return config.validation.split > 0 or config.validation.size > 0


def measure_validation(
    config: TrainConfig,
    files: Sequence[str],
    reporter: Reporter = null_reporter,
    control: RunControl | None = None,
    *,
    dataset: Any = None,
) -> dict[str, float]:
    """Each file's validation loss on the run's held-out pictures, as the trainer measures it
    (same pictures, noise and timesteps from ``validation.seed``). Empty when none are held out."""
    if not files or not holds_out_pictures(config):
        return {}
    import gc

    import torch

    from lora_studio.diffusion.devices import pick_device
    from lora_studio.training.network import load_start_weights
    from lora_studio.training.setup import build_session

    control = control or RunControl()
    reporter(StatusChanged("Measuring the validation loss of the saved files…"))
    session = build_session(config, dataset, torch.device(pick_device(config.run.device)), reporter)
    try:
        if not session.val_sources:
            return {}
        session.fill_latent_cache(reporter)
        session.fill_text_cache(reporter)
        out: dict[str, float] = {}
        for path in files:
            control.checkpoint()
            load_start_weights(
                path,
                session.trained,
                session.targets,
                config.network,
                family=session.family,
                unet_config=dict(session.pipeline.unet.config),
            )
            out[path] = session.fixed_loss(session.val_sources, config.validation.seed)
        return out
    finally:
        del session
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def recorded_validation(config: TrainConfig) -> tuple[tuple[int, float], ...]:
    """The validation history kept in the run's newest training state (empty when there is none)."""
    from lora_studio.training.run_files import latest_state

    state_path = latest_state(config.run.output_dir, config.run.output_name)
    if state_path is None:
        return ()
    from lora_studio.training.checkpoints import load_state

    return tuple((int(s), float(v)) for s, v in load_state(state_path).validation)


# --- ranking (pure) --------------------------------------------------------------------------------


def _scaled(values: Sequence[float | None]) -> list[float]:
    known = [v for v in values if v is not None]
    if not known:
        return [0.0] * len(values)
    low, high = min(known), max(known)
    span = high - low
    return [0.0 if v is None or span <= 0 else (v - low) / span for v in values]


def _flags(values: Sequence[float], floor: float) -> list[bool]:
    median = statistics.median(values) if values else 0.0
    return [v > floor and v > FLAG_FACTOR * median for v in values]


def _labels(scores: Sequence[EpochScore]) -> str:
    """``epoch 7``, ``epochs 7–8``, ``epochs 3, 7``."""
    epochs = [s.epoch for s in scores]
    if len(scores) == 1:
        return scores[0].label
    if all(e > 0 for e in epochs) and epochs == list(range(epochs[0], epochs[0] + len(epochs))):
        return f"epochs {epochs[0]}–{epochs[-1]}"
    if all(e > 0 for e in epochs):
        return "epochs " + ", ".join(map(str, epochs))
    return ", ".join(s.label for s in scores)


def rank_epochs(
    files: Sequence[str],
    epochs: Sequence[tuple[int, int]],
    validation: Sequence[float | None],
    leakage: Sequence[float],
    instability: Sequence[float],
    trigger: str = "",
) -> Advice:
    """Rank the files (best first) and say which one to keep and why."""
    if not files:
        raise GenerationError(
            "There are no saved LoRA files to judge.", hint="Train at least one epoch first."
        )
    leaks = _flags(leakage, LEAK_FLOOR)
    unsteady = _flags(instability, UNSTEADY_FLOOR)
    v, lk, st = _scaled(validation), _scaled(leakage), _scaled(instability)
    wv, wl, ws = SCORE_WEIGHTS
    scores = [
        EpochScore(
            path=str(f),
            epoch=ep,
            step=stp,
            validation=validation[i],
            leakage=float(leakage[i]),
            instability=float(instability[i]),
            score=round(wv * v[i] + wl * lk[i] + ws * st[i], 4),
            leaks=leaks[i],
            unsteady=unsteady[i] and not leaks[i],
        )
        for i, (f, (ep, stp)) in enumerate(zip(files, epochs, strict=True))
    ]
    order = sorted(scores, key=lambda s: (s.leaks or s.unsteady, s.score, s.step))
    best = order[0]
    word = f"'{trigger}'" if trigger else "the trigger word"
    parts: list[str] = []
    known = [s for s in scores if s.validation is not None]
    lowest = min(known, key=lambda s: s.validation or 0.0) if known else None
    if lowest is not None and lowest.path == best.path:
        parts.append("lowest validation loss")
    elif lowest is not None and best.validation is not None:
        parts.append(
            f"validation loss {best.validation:.4f} (lowest: {lowest.label}, {lowest.validation:.4f})"
        )
    else:
        parts.append(f"changes pictures without {word} least while staying steady across weights")
    leaking = [s for s in scores if s.leaks]
    if leaking:
        verb = "starts" if len(leaking) == 1 else "start"
        parts.append(f"{_labels(leaking)} {verb} to change pictures without {word}")
    shaky = [s for s in scores if s.unsteady]
    if shaky:
        verb = "jumps" if len(shaky) == 1 else "jump"
        parts.append(f"{_labels(shaky)} {verb} between weights 0.6 and 1.0")
    notes: tuple[str, ...] = ()
    if not known:
        notes = (
            "No validation loss was recorded (no pictures were held out), so only leakage and stability count.",
        )
    return Advice(tuple(order), best.path, f"{best.label}: " + "; ".join(parts), trigger, notes)


# --- measuring --------------------------------------------------------------------------------------


def _difference(a: Any, b: Any) -> float:
    import numpy as np

    x = np.asarray(a.convert("RGB"), dtype=np.float32) / 255.0
    y = np.asarray(b.convert("RGB"), dtype=np.float32) / 255.0
    return float(np.abs(x - y).mean())


def run_advisor(
    request: AdviceRequest, reporter: Reporter = null_reporter, control: RunControl | None = None
) -> Advice:
    """Worker function: generate the small pictures, rank the files, write ``compare/advice.json``."""
    from lora_studio.core.fileio import atomic_write_text
    from lora_studio.generation.engine import GenerationEngine
    from lora_studio.generation.request import GenerationRequest, LoraSpec

    control = control or RunControl()
    cfg = request.config
    files = [f for f in dict.fromkeys(request.lora_files) if Path(f).is_file()]
    if not files:
        raise GenerationError(
            "This run has no saved LoRA files to judge yet.", hint="Train at least one epoch first."
        )
    epochs = [file_epoch_and_step(f) for f in files]
    validation = [validation_at(step, request.validation) for _, step in epochs]
    unmeasured = [f for f, v in zip(files, validation, strict=True) if v is None]
    notes: list[str] = []
    if unmeasured and holds_out_pictures(cfg):
        try:
            measured = measure_validation(cfg, unmeasured, reporter, control)
        except LoraStudioError as exc:  # e.g. the dataset moved: judge on the rest, and say so
            measured = {}
            notes.append(f"The validation loss could not be measured: {exc.message}")
        validation = [measured.get(f) if v is None else v for f, v in zip(files, validation, strict=True)]
    trigger = cfg.dataset.trigger_word.strip()
    first = cfg.sample.prompts[0] if cfg.sample.prompts else None
    trigger_prompt = first.prompt if first else (trigger or "a picture")
    size = request.picture_size
    base = GenerationRequest(
        model=cfg.model.base_model,
        prompt="",
        steps=request.sampling_steps,
        cfg=first.cfg if first else 7.0,
        seed=cfg.run.seed,
        clip_skip=cfg.model.clip_skip,
        width=size,
        height=size,
        sampler="Euler",
        output_dir=str(request.out_dir / "advisor"),
        file_prefix="advisor-",
    )
    engine = GenerationEngine(device=None if cfg.run.device == "auto" else cfg.run.device)
    total = len(request.neutral_prompts) * (1 + len(files)) + len(files) * len(request.weights)
    done = 0

    def picture(prompt: str, loras: tuple[LoraSpec, ...]) -> Any:
        nonlocal done
        box: list[Any] = []
        engine.generate(
            base.with_(prompt=prompt, loras=loras),
            control=control,
            on_image=lambda im, *_: box.append(im.copy()),
        )
        done += 1
        reporter(Progress(done, total, "Judging the saved files"))
        return box[0]

    reporter(
        StatusChanged(
            f"Judging {len(files)} saved files: neutral prompts and weights {', '.join(map(str, request.weights))}…"
        )
    )
    try:
        plain = [picture(p, ()) for p in request.neutral_prompts]
        leakage: list[float] = []
        instability: list[float] = []
        for path in files:
            with_lora = [picture(p, (LoraSpec(path, 1.0),)) for p in request.neutral_prompts]
            leakage.append(sum(map(_difference, plain, with_lora)) / len(plain))
            by_weight = [picture(trigger_prompt, (LoraSpec(path, w),)) for w in request.weights]
            jumps = [_difference(a, b) for a, b in zip(by_weight, by_weight[1:], strict=False)]
            instability.append(max(jumps) if jumps else 0.0)
    finally:
        engine.unload()
    advice = rank_epochs(files, epochs, validation, leakage, instability, trigger)
    if notes:
        advice = replace(advice, notes=(*notes, *advice.notes))
    request.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(request.out_dir / ADVICE_FILE, advice.to_json())
    reporter(StatusChanged(f"Recommended: {advice.reason}"))
    return advice


def saved_advice(config: TrainConfig) -> Advice | None:
    """The advice written last for this run's output folder, if any."""
    path = Path(config.run.output_dir) / "compare" / ADVICE_FILE
    try:
        return Advice.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def advice_request(
    config: TrainConfig,
    lora_files: Sequence[str],
    validation: Sequence[tuple[int, float]] | Mapping[int, float] = (),
) -> AdviceRequest:
    pairs = tuple(sorted(validation.items())) if isinstance(validation, Mapping) else tuple(validation)
    files = tuple(f for f in dict.fromkeys(lora_files) if Path(f).is_file())
    if not files:
        raise GenerationError(
            "This run has no saved LoRA files to judge yet.", hint="Train at least one epoch first."
        )
    return AdviceRequest(config, files, pairs)
