"""``run_training(config, reporter, control) -> TrainResult``: the training loop.

Reports StatusChanged / Progress while loading and caching, StepFinished after every optimizer
step, EpochFinished, ValidationLoss, SampleReady and CheckpointSaved. Calls
``control.checkpoint()`` at every step boundary: cancel stops before the next step (after saving a
training state), pause blocks there, SAMPLE_NOW / SAVE_NOW run there. State is also saved every
``run.state_every_minutes``, at the end, and on any error. ``resume_from`` continues a saved run
exactly (same data order, noise, timesteps, dropout, optimizer and schedule).

Works under ``accelerate launch`` with several processes: each process takes its share of the
batches, gradients are averaged by DDP, and only the main process writes files.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from lora_studio.core.control import Command, RunControl
from lora_studio.core.errors import Cancelled, ConfigError, TrainingError
from lora_studio.core.events import (
    CheckpointSaved,
    EpochFinished,
    Reporter,
    SampleReady,
    StatusChanged,
    StepFinished,
    ValidationLoss,
    null_reporter,
)
from lora_studio.core.fileio import DiskFullError, sweep_stale_temps
from lora_studio.dataset.items import Dataset
from lora_studio.training import checkpoints as C
from lora_studio.training import data as D
from lora_studio.training import run_files, steps
from lora_studio.training.config import TrainConfig, config_to_toml
from lora_studio.training.ema import WeightEma, ema_path, write_lora_files
from lora_studio.training.losses import step_generator
from lora_studio.training.optimizers import build_optimizer, build_scheduler
from lora_studio.training.run_files import TrainResult
from lora_studio.training.run_guard import RunLock, check_output_folder, rescue_dir
from lora_studio.training.run_support import memory_mb, oom_error, saved_network, seed_everything
from lora_studio.training.setup import build_session
from lora_studio.training.validation import validate

log = logging.getLogger(__name__)


def run_training(
    config: TrainConfig,
    reporter: Reporter = null_reporter,
    control: RunControl | None = None,
    *,
    dataset: Dataset | None = None,
    resume_from: str | Path | C.TrainState | None = None,
    keep_pipeline: bool = False,
) -> TrainResult:
    """Train a LoRA as ``config`` says. Raises ConfigError (bad settings, all listed), TrainingError,
    or Cancelled (after saving a state) when ``control`` is cancelled."""
    control = control or RunControl()
    errors = [i for i in validate(config, dataset) if i.is_error]
    if errors:
        raise ConfigError(
            "The training settings have problems: " + " ".join(f"[{i.field}] {i.message}" for i in errors),
            hint="Fix them and start again.",
        )
    # Everything that can be checked without the model is checked before it loads (20-60 s).
    from lora_studio.diffusion.devices import unavailable_device

    problem = unavailable_device(config.run.device)
    if problem:
        raise ConfigError(problem, hint="Set the device to auto (or cpu) in the run settings.")
    if resume_from is None or isinstance(resume_from, C.TrainState):
        state = resume_from
    else:
        state = C.load_state(resume_from)
    from accelerate import Accelerator

    accel = Accelerator(cpu=config.run.device == "cpu")
    lock = None
    if accel.is_main_process:
        out = check_output_folder(config)
        lock = RunLock(out, description=f"'{config.run.output_name}'")
        lock.acquire()  # before anything is written or swept: another run may own these files
        for folder in (out, out / run_files.STATE_DIR, out / run_files.SAMPLES_DIR):
            sweep_stale_temps(folder)
    tb = None
    if accel.is_main_process and config.log.tensorboard:
        from lora_studio.training.tb_log import TensorBoardReporter, tensorboard_dir

        reporter = tb = TensorBoardReporter(
            reporter, tensorboard_dir(config.run.output_dir, config.run.output_name)
        )
    try:
        loop = _Loop(config, reporter, control, accel)
        return loop.run(dataset, state, keep_pipeline)
    finally:
        if tb is not None:
            tb.close()
        if lock is not None:
            lock.release()


class _SaveFailed(Exception):  # noqa: N818 - internal: carries a failed write to the run's handler
    def __init__(self, path: Path, error: BaseException) -> None:
        super().__init__(str(error))
        self.path = path
        self.error = error


@contextlib.contextmanager
def _saving(path: Path) -> Iterator[None]:
    """Mark a write of the run's files, so its failure is told apart from other errors."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, (OSError, RuntimeError, DiskFullError)) or type(exc).__name__ == "SafetensorError":
            raise _SaveFailed(path, exc) from exc
        raise


class _Loop:
    def __init__(self, config: TrainConfig, reporter: Reporter, control: RunControl, accel: Any) -> None:
        self.cfg = config
        self.control = control
        self.accel = accel
        self.main = accel.is_main_process
        self.report: Reporter = reporter if self.main else null_reporter
        self.out_dir = Path(config.run.output_dir)
        self.result = TrainResult(final_lora=None)
        self.step = 0
        self.session_id = uuid.uuid4().hex
        self.started_at = time.time()
        self.elapsed_before = 0.0

    # -- set-up ------------------------------------------------------------------------------------
    def run(self, dataset: Dataset | None, state: C.TrainState | None, keep_pipeline: bool) -> TrainResult:
        cfg = self.cfg
        seed_everything(cfg.run.seed)
        self.s = build_session(cfg, dataset, self.accel.device, self.report)
        self.s.fill_latent_cache(self.report)
        self.s.fill_text_cache(self.report)
        if self.s.releases_text_encoders(keep_pipeline):
            self.s.release_text_encoders()
        world, rank = self.accel.num_processes, self.accel.process_index
        # The same counting as the app's step maths (lora_studio.training.steps).
        self.batches_per_epoch = -(-steps.batch_count(self.s.sources, cfg.run.batch_size) // world)
        self.spe = steps.steps_per_epoch(self.batches_per_epoch, cfg.run.grad_accumulation)
        self.total = steps.total_steps(cfg.run, self.spe)
        self.rank, self.world = rank, world
        groups: list[dict[str, Any]] = [
            {"params": [p for p in self.s.trained["unet"].parameters() if p.requires_grad], "lr": cfg.unet_lr}
        ]
        for name in self.s.te_names:
            if name in self.s.trained:
                params = [p for p in self.s.trained[name].parameters() if p.requires_grad]
                groups.append({"params": params, "lr": cfg.text_encoder_lr})
        self.params = [p for g in groups for p in g["params"]]
        self.opt = build_optimizer(cfg, groups)
        self.sched = build_scheduler(self.opt, cfg, self.total)
        self.ema = WeightEma.create(cfg.ema, self.params)
        if world > 1:
            for name, module in list(self.s.trained.items()):
                self.s.trained[name] = self.accel.prepare_model(module)
            if self.s.text is not None:
                self.s.text.encoders = [
                    self.s.trained.get(n, e) for n, e in zip(self.s.te_names, self.s.text_encoders)
                ]
        use_scaler = cfg.run.precision == "fp16" and self.accel.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        if state is not None:
            self._resume(state)
        from lora_studio.training.lora_output import base_model_identity

        self.base = base_model_identity(cfg.model.base_model, cfg.model.vae) if self.main else {}
        try:
            self._train()
        except Cancelled:
            saved = self._save_state_safely("cancel")
            where = f" ({saved})" if saved is not None and saved.parent.parent != self.out_dir else ""
            self.report(StatusChanged(f"Training stopped; a state was saved to resume from{where}."))
            raise
        except torch.OutOfMemoryError as exc:
            self._save_state_safely("error")
            raise oom_error(exc, cfg) from exc
        except _SaveFailed as exc:
            saved = self._save_state_safely("error")
            raise self._save_error(exc, saved) from exc.error
        except DiskFullError as exc:  # a write outside the LoRA/state saves (a sample picture)
            saved = self._save_state_safely("error")
            raise self._save_error(_SaveFailed(exc.folder, exc), saved) from exc
        except BaseException:
            self._save_state_safely("error")
            raise
        if keep_pipeline:
            self.result.pipeline = self.s.pipeline
        return self.result

    def _save_error(self, failure: _SaveFailed, saved: Path | None) -> TrainingError:
        """A file of the run could not be written: say why, and where the trained weights are."""
        exc = failure.error
        if isinstance(exc, DiskFullError):
            head = f"The disk holding {exc.folder} is full; free {exc.need_mb} MB"
        else:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            head = f"Saving {failure.path.name} failed: {reason}. Make the output folder writable"
        if saved is not None and self.out_dir in saved.parents:
            return TrainingError(f"{head} and press Resume (a state of step {self.step} was saved).")
        if saved is not None:
            return TrainingError(
                f"{head}, then resume from {saved}: the trained weights (step {self.step}) are kept in "
                f"{saved} because the output folder could not take them.",
                hint="In the app: Resume from a state file; on the command line: --resume with that file.",
            )
        last = run_files.latest_state(self.out_dir, self.cfg.run.output_name)
        if last is not None:
            return TrainingError(f"{head} and press Resume. The last saved state is {last}.")
        return TrainingError(f"{head} and start again. No state could be saved.")

    def _resume(self, state: C.TrainState) -> None:
        saved = saved_network(state.config_toml)
        if saved is not None and saved != self.cfg.network:
            raise TrainingError(
                "The state was saved with different network settings (rank, alpha, targets...).",
                hint="Resume with the settings the run started with.",
            )
        if state.lora.keys() != self.s.trained.keys():
            raise TrainingError(
                "The state was saved with different trained parts (UNet / text encoders).",
                hint="Resume with the settings the run started with.",
            )
        self.s.load_lora_state_dicts(state.lora)
        self.opt.load_state_dict(state.optimizer)
        self.sched.load_state_dict(state.scheduler)
        C.restore_rng(state.rng)
        if self.ema is not None:
            self.ema.load(state.ema)
        self.step = state.step
        self.result.losses = list(state.losses)
        # states written before learning rates were kept: unknown (NaN) for those steps
        known = len(state.lrs) == len(state.losses)
        self.result.lrs = list(state.lrs) if known else [float("nan")] * len(state.losses)
        self.result.validation = list(state.validation)
        self.session_id = state.session_id or self.session_id
        self.started_at = state.started_at or self.started_at
        self.elapsed_before = state.elapsed_s
        self.report(StatusChanged(f"Resumed at step {self.step}."))

    # -- the loop ----------------------------------------------------------------------------------
    def _rank_plan(self, epoch: int) -> list[list[D.Sample]]:
        cfg = self.cfg
        plan = D.epoch_plan(
            self.s.sources,
            epoch=epoch,
            seed=cfg.run.seed,
            batch_size=cfg.run.batch_size,
            flip=cfg.dataset.flip,
        )
        return [plan[(self.rank + self.world * k) % len(plan)] for k in range(self.batches_per_epoch)]

    def _train(self) -> None:
        cfg, run = self.cfg, self.cfg.run
        self.result.total_steps = self.total
        t0 = time.monotonic()
        self.last_state_t = time.monotonic()
        plan_epoch, plan = -1, []
        pixel_iter: Iterator[torch.Tensor | None] = itertools.repeat(None)
        epoch_losses: list[float] = []
        self.report(StatusChanged("Training"))
        if cfg.sample.at_start and self.step == 0:
            self._sample(0)
        steps_done_here = 0
        while self.step < self.total:
            epoch, k = divmod(self.step, self.spe)
            if epoch != plan_epoch:
                plan, plan_epoch = self._rank_plan(epoch), epoch
                pixel_iter = self._pixel_loader(plan, k * run.grad_accumulation)
                epoch_losses = [x for x in self.result.losses[epoch * self.spe :]]
            for command in self.control.checkpoint():
                if command == Command.SAMPLE_NOW:
                    self._sample(epoch)
                elif command == Command.SAVE_NOW:
                    self._save_lora(epoch, manual=True)
                    self._save_state("manual")
            micro = plan[k * run.grad_accumulation : (k + 1) * run.grad_accumulation]
            loss = self._optimizer_step(micro, [next(pixel_iter) for _ in micro])
            self.step += 1
            if self.ema is not None:
                self.ema.after_step(self.step)
            steps_done_here += 1
            self.result.losses.append(loss)
            self.result.lrs.append(float(self.sched.get_last_lr()[0]))
            epoch_losses.append(loss)
            elapsed = time.monotonic() - t0
            it_s = steps_done_here / elapsed if elapsed > 0 else 0.0
            self.report(
                StepFinished(
                    step=self.step,
                    total_steps=self.total,
                    epoch=epoch + 1,
                    loss=loss,
                    avg_loss=float(np.mean(epoch_losses)),
                    lr=self.result.lrs[-1],
                    it_per_s=it_s,
                    eta_s=(self.total - self.step) / it_s if it_s > 0 else 0.0,
                    memory_mb=self._memory_mb(steps_done_here),
                    lrs=tuple(float(lr) for lr in self.sched.get_last_lr()),
                )
            )
            self._check_spill()
            self._after_step(epoch, epoch_losses)
        self._finish()

    def _memory_mb(self, steps_done_here: int) -> float:
        """The memory figure of a step. Off CUDA it adds up every tensor the run holds, which costs
        a tiny model's step a fifth of its time: counted on the first steps (the optimizer state
        appears), the last, and then at most once a second."""
        now = time.monotonic()
        if steps_done_here <= 2 or self.step >= self.total or now - getattr(self, "_memory_t", 0.0) >= 1.0:
            self._memory = memory_mb(self.accel.device, lambda: self.s.held_tensors(self.opt))
            self._memory_t = now
        return self._memory

    def _check_spill(self) -> None:
        """Windows only: stop with a clear message when the run spills into shared memory."""
        if self.accel.device.type != "cuda" or not sys.platform.startswith("win"):
            return
        from lora_studio.training.fit import CudaMemory, spill_message

        message = spill_message(CudaMemory(self.accel.device.index or 0))
        if message:
            raise TrainingError(
                message,
                hint="Turn on fp8 base weights or block swapping, lower the batch size or the "
                "resolution, or let LoRA Studio measure a fit (a state was saved to resume from).",
            )

    def _pixel_loader(self, plan: list[list[D.Sample]], start: int) -> Iterator[torch.Tensor | None]:
        """Decoded pixels from worker processes when latents are not cached and num_workers > 0."""
        workers = self.cfg.dataset.num_workers
        if workers <= 0 or (self.s.latents is not None and self.s.latents.enabled):
            return itertools.repeat(None)
        batches = D.PixelBatches(plan[start:], self.s.sources, self.cfg.dataset)
        loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False, num_workers=workers)
        return iter(loader)

    def _optimizer_step(self, micro: list[list[D.Sample]], pixels: list[torch.Tensor | None]) -> float:
        total = 0.0
        modules = list(self.s.trained.values())
        for i, batch in enumerate(micro):
            gen = step_generator(self.cfg.run.seed, self.step, i, self.rank)
            last = i == len(micro) - 1
            with contextlib.ExitStack() as stack:
                if not last and self.world > 1:
                    for m in modules:
                        stack.enter_context(cast(DistributedDataParallel, m).no_sync())
                loss = self.s.batch_loss(batch, self.s.sources, gen, pixels=pixels[i]) / len(micro)
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"The loss became {loss.item()} at step {self.step + 1}.",
                        hint="Lower the learning rate, or use bf16/fp32 instead of fp16.",
                    )
                (self.scaler.scale(loss) if self.scaler else loss).backward()
            total += float(loss.detach())
        if self.scaler:
            self.scaler.unscale_(self.opt)
        if self.cfg.optimizer.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.optimizer.max_grad_norm)
        if self.scaler:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        return total

    def _after_step(self, epoch: int, epoch_losses: list[float]) -> None:
        cfg = self.cfg
        end_of_epoch = self.step % self.spe == 0
        val = cfg.validation
        if self.s.val_sources and val.every_n_steps and self.step % val.every_n_steps == 0:
            self._validate(epoch + 1)
        if (
            cfg.run.save_every_n_steps
            and self.step % cfg.run.save_every_n_steps == 0
            and self.step < self.total
        ):
            self._save_lora(epoch + 1)
        if cfg.sample.every_n_steps and self.step % cfg.sample.every_n_steps == 0:
            self._sample(epoch + 1)
        if end_of_epoch:
            self.report(EpochFinished(epoch=epoch + 1, step=self.step, avg_loss=float(np.mean(epoch_losses))))
            if self.s.val_sources and not val.every_n_steps:
                self._validate(epoch + 1)
            n = cfg.run.save_every_n_epochs
            if n and (epoch + 1) % n == 0 and self.step < self.total:
                self._save_lora(epoch + 1)
            if cfg.sample.every_n_epochs and (epoch + 1) % cfg.sample.every_n_epochs == 0:
                self._sample(epoch + 1)
        minutes = cfg.run.state_every_minutes
        if minutes > 0 and time.monotonic() - self.last_state_t >= minutes * 60 and self.step < self.total:
            self._save_state("periodic")

    def _finish(self) -> None:
        epoch = -(-self.step // self.spe)
        self.result.steps, self.result.epochs = self.step, epoch
        if self.main:
            path = self.out_dir / run_files.lora_filename(self.cfg.run.output_name)
            self._write_lora(path, epoch)
            self.result.final_lora = path
        self._save_state("final")
        self.accel.wait_for_everyone()
        self.report(StatusChanged("Training finished."))

    # -- side jobs ---------------------------------------------------------------------------------
    def _validate(self, epoch: int) -> None:
        value = self.s.fixed_loss(self.s.val_sources, self.cfg.validation.seed)
        self.result.validation.append((self.step, value))
        self.report(ValidationLoss(epoch=epoch, step=self.step, loss=value))

    def _sample(self, epoch: int) -> None:
        if not self.cfg.sample.prompts or not self.main:
            return
        self.report(StatusChanged("Generating samples"))
        modules = [getattr(m, "module", m) for m in self.s.trained.values()]
        with self.s.text_encoders_on(self.s.device):
            samples = self.s.generate_samples(
                self.out_dir / run_files.SAMPLES_DIR, step=self.step, epoch=epoch, trained_modules=modules
            )
        for idx, prompt, path in samples:
            self.result.samples.append(path)
            self.report(
                SampleReady(path=str(path), step=self.step, epoch=epoch, prompt=prompt, prompt_index=idx)
            )
        self.report(StatusChanged("Training"))

    def _write_lora(self, path: Path, epoch: int) -> None:
        from lora_studio.training.lora_output import training_info, write_lora

        info = training_info(
            self.s,
            step=self.step,
            epoch=epoch,
            total_steps=self.total,
            batches_per_epoch=self.batches_per_epoch,
            steps_per_epoch=self.spe,
            started_at=self.started_at,
            session_id=self.session_id,
            base=self.base,
            optimizer=getattr(self, "opt", None),
            world_size=self.world,
        )
        with _saving(path):
            write_lora_files(getattr(self, "ema", None), path, lambda p, meta: write_lora(self.s, p, info, meta))
        self.result.lora_files.append(path)
        self.report(CheckpointSaved(path=str(path), step=self.step, epoch=epoch, kind="lora"))

    def _save_lora(self, epoch: int, manual: bool = False) -> None:
        if not self.main:
            return
        name = self.cfg.run.output_name
        self._write_lora(self.out_dir / run_files.lora_filename(name, epoch=epoch, step=self.step), epoch)
        if not manual:
            for gone in C.prune(run_files.intermediate_loras(self.out_dir, name), self.cfg.run.keep_last):
                ema_path(gone).unlink(missing_ok=True)

    def _save_state(self, reason: str) -> None:
        self.last_state_t = time.monotonic()
        if not self.main or not hasattr(self, "opt"):
            return
        name = self.cfg.run.output_name
        path = self.out_dir / run_files.STATE_DIR / run_files.state_filename(name, self.step)
        state = self._state(reason)
        with _saving(path):
            C.save_state(path, state)
        self.result.state_path = path
        C.prune(run_files.state_files(self.out_dir, name), max(1, self.cfg.run.keep_last_states))
        self.report(CheckpointSaved(path=str(path), step=self.step, epoch=state.epoch, kind="state"))

    def _state(self, reason: str) -> C.TrainState:
        return C.TrainState(
            step=self.step,
            epoch=self.step // self.spe,
            lora=self.s.lora_state_dicts(),
            optimizer=self.opt.state_dict(),
            scheduler=self.sched.state_dict(),
            rng=C.capture_rng(),
            config_toml=config_to_toml(self.cfg),
            losses=self.result.losses,
            validation=self.result.validation,
            lrs=self.result.lrs,
            epoch_steps=self.spe,
            elapsed_s=self.elapsed_before + (time.time() - self.started_at),
            session_id=self.session_id,
            started_at=self.started_at,
            reason=reason,
            ema=self.ema.state() if self.ema is not None else None,
        )

    def _save_state_safely(self, reason: str) -> Path | None:
        """Save a state in the output folder, or else in the data folder; never raise (the error
        that stopped the run matters more). Returns where it went, or None."""
        if not self.main or not hasattr(self, "opt"):
            return None
        try:
            self._save_state(reason)
            return self.result.state_path
        except Exception:
            log.exception("Could not save the training state in the output folder")
        try:
            path = rescue_dir() / run_files.state_filename(
                f"{self.cfg.run.output_name}-{self.session_id[:8]}", self.step
            )
            C.save_state(path, self._state(reason))
        except Exception:
            log.exception("Could not save the training state in the data folder either")
            return None
        self.result.state_path = path
        log.warning("The training state was saved in %s (the output folder could not take it).", path)
        self.report(
            CheckpointSaved(path=str(path), step=self.step, epoch=self.step // self.spe, kind="state")
        )
        return path
