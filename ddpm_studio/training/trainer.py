"""The Trainer: minimises the engine's loss (Ho et al. Algorithm 1) with AdamW, warm-up, clipping and an EMA.

Each step draws x_0 from the data (batches.py), t ~ U{0..T-1} per example and ε ~ N(0, I) from the Trainer's
own seeded streams (rng.py), and takes one optimiser step (learner.py). Progress goes out as events
(events.py); pause/resume/stop requests are honoured between steps. No Qt, no prints.

Every source of randomness is a generator whose state is checkpointed (t/ε sampler, data augmentation,
the global CPU RNG used by dropout, kept apart from the rest of the process), the data order is a pure
function of (seed, epoch) via DistributedSampler, and the learning rate a pure function of the step, so
stopping and resuming on CPU reproduces the uninterrupted run bit for bit.

A time budget (max_minutes) is planned once into a step total (budget.py) and recorded in config.json,
so it resumes exactly too. Previews come every N steps, every N epochs, or as often as keeps them within
a share of the training time (previews.PreviewCadence); `elapsed_s` counts them, `images_per_s` does not.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch.utils.data import Dataset

from ddpm_studio.atomic import StorageError
from ddpm_studio.data.augment import augment
from ddpm_studio.data.dataset import ImageDataset
from ddpm_studio.errors_text import one_line
from ddpm_studio.training import distributed
from ddpm_studio.training.batches import BatchSource, DataError
from ddpm_studio.training.budget import BudgetPlan, BudgetPlanner, time_is_up
from ddpm_studio.training.checkpoint import (
    CHECKPOINT_FORMAT,
    Checkpoint,
    CheckpointError,
    NonFiniteWeights,
    checkpoint_name,
    prune_checkpoints,
    save_checkpoint,
    state_path_for,
)
from ddpm_studio.training.checkpoint_checks import rng_state_problem
from ddpm_studio.training.config import RunConfig, TrainingConfig, with_augmentation
from ddpm_studio.training.devices import is_out_of_memory, resolve_device
from ddpm_studio.training.events import (
    CheckpointEvent,
    FailedEvent,
    FinishedEvent,
    PreviewEvent,
    StepEvent,
    TimestepLossEvent,
    TrainingEvent,
)
from ddpm_studio.training.fixed_noise_loss import LOSS_TIMESTEPS, fixed_timesteps
from ddpm_studio.training.learner import Learner, NonFiniteLoss
from ddpm_studio.training.lr_schedule import learning_rate
from ddpm_studio.training.posthoc_ema import POSTHOC_DIR, PosthocTracker
from ddpm_studio.training.previews import PreviewCadence, preview_labels, sample_preview, save_preview_png
from ddpm_studio.training.quality_monitor import QualityMonitor
from ddpm_studio.training.recorder import RunRecorder
from ddpm_studio.training.rng import RandomStreams
from ddpm_studio.training.run_lock import RunLock, RunLocked
from ddpm_studio.training.runs import Run
from ddpm_studio.training.validation import (
    TrainingSubset,
    ValidationMonitor,
    ValidationSplit,
    split_for,
    too_few_message,
    validation_count,
)

log = logging.getLogger(__name__)

EventCallback = Callable[[TrainingEvent], None]
TIMESTEP_EVENT_EVERY = 10  # steps between TimestepLossEvents


class Trainer:
    """Trains one run. `run()` blocks; call it on a worker thread and steer it with the request_* methods."""

    def __init__(self, config: RunConfig, dataset: Dataset, run: Run, *,
                 device: str | torch.device | None = None, clock: Callable[[], float] = time.perf_counter) -> None:
        """`clock` measures training time (seconds; a benchmark may pass a CPU-time clock)."""
        config.validate()
        tc = config.training
        self.config, self.dataset, self.run_dir = config, dataset, run
        self.dist = distributed.current()
        # one writer per run folder, from here (a resume truncates the history) to the end of run()
        self.lock: RunLock | None = RunLock(run.path).acquire() if self.dist.is_main else None
        if self.dist.is_main:
            run.own_folders()  # checkpoints/ and previews/ symlinked elsewhere: replaced, never written through
        if tc.num_threads:
            torch.set_num_threads(tc.num_threads)
        self.device = distributed.device_for(self.dist, resolve_device(device if device is not None else tc.device))
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise ValueError("the dataset is empty")
        self.split: ValidationSplit | None = None  # the held-out images (validation.py), None: none
        self.validation_note: str | None = None  # what the faces say about the split (None: nothing to say)
        self.config = config = self._decide_validation(config, dataset, run)
        # what the batches are drawn from: the data set less its held-out images
        self.train_set: Dataset = (TrainingSubset(dataset, self.split.training) if self.split is not None
                                   else dataset)
        # "auto" augmentation for this data size and step total (a time budget's: decided again at its plan)
        self.config = config = self._decide_augmentation(config, run)
        self.learner = Learner(config, self.device, self.dist)
        self.rng = RandomStreams(tc.seed, self.dist.rank)
        self.batches = BatchSource(self.train_set, self.dist, seed=tc.seed, batch_size=tc.batch_size,
                                   generator=self.rng.data)
        self.step, self.epoch, self.batch_in_epoch, self.elapsed_s = 0, 0, 0, 0.0
        self.clock = clock
        # time outside steps, this session
        self.overhead_s = {"preview": 0.0, "checkpoint": 0.0, "metrics": 0.0, "validation": 0.0}
        self.budget_plan: BudgetPlan | None = None
        self.last_saved_step: int | None = None
        self._last_preview_step: int | None = None
        self.previews = PreviewCadence(tc)
        # sample quality of the EMA model now and then (quality_monitor.py); one process only (its save is rank 0's)
        self.quality = QualityMonitor(config, dataset, run.path, enabled=self.dist.is_main and not self.dist.enabled)
        self.recorder = RunRecorder(run, config.diffusion.timesteps)
        # the validation loss on the held-out images (validation.py), on the same time-share cadence; rank 0 only
        self.validation = ValidationMonitor(config, dataset, self.split, run.path, enabled=self.dist.is_main)
        # post-hoc EMA (posthoc_ema.py): two power EMAs and their snapshots in posthoc/, rank 0 only
        self.posthoc = (PosthocTracker(self.model, run.path / POSTHOC_DIR) if tc.posthoc_ema and self.dist.is_main
                        else None)
        self._images_per_s = 0.0
        self._step_seconds: float | None = None  # smoothed seconds per optimiser step
        self._session_start_s = 0.0  # elapsed_s when this session started (resumes start later)
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._blocked = threading.Event()
        self.skipped_checkpoints: tuple[str, ...] = ()  # damaged newer checkpoints a resume passed over
        self._outcome: tuple[str, str | None, str | None] | None = None  # (state, failure kind, message) of run()

    @property
    def model(self) -> torch.nn.Module:
        """The network being trained (unwrapped from DDP)."""
        return self.learner.model

    @property
    def ema(self) -> Any:
        """The EMA of the weights (ema.EMA), used for previews and sampling."""
        return self.learner.ema

    @property
    def diffusion(self) -> Any:
        """The GaussianDiffusion whose loss is minimised."""
        return self.learner.diffusion

    # ---- control (thread-safe) --------------------------------------------------------------------------

    def request_pause(self) -> None:
        """Hold before the next step until request_resume or request_stop (blocks, does not spin)."""
        if not self._stop.is_set():
            self._running.clear()

    def request_resume(self) -> None:
        self._running.set()

    def request_stop(self) -> None:
        """Stop before the next step; a checkpoint is written first."""
        self._stop.set()
        self._running.set()

    @property
    def is_paused(self) -> bool:
        """True while run() is blocked in a pause."""
        return self._blocked.is_set()

    # ---- schedule of the run ----------------------------------------------------------------------------

    @property
    def steps_per_epoch(self) -> int:
        per_rank = math.ceil(len(self.train_set) / self.dist.world_size)  # type: ignore[arg-type]
        return max(1, per_rank // self.config.training.batch_size)

    @property
    def total_steps(self) -> int | None:
        """The step training stops at: min(max_steps, epochs × steps_per_epoch, planned_steps), whichever are
        set; None while a time budget is still being measured (budget.py)."""
        return self._step_total(self.config.training)

    def _step_total(self, tc: TrainingConfig) -> int | None:
        """total_steps of a run with training config `tc` (the one being decided, at the start)."""
        limits = [tc.max_steps] if tc.max_steps is not None else []
        if tc.epochs is not None:
            limits.append(tc.epochs * self.steps_per_epoch)
        if tc.planned_steps is not None:
            limits.append(tc.planned_steps)
        return min(limits) if limits else None  # None: a time budget not planned yet (the decay waits for it)

    def lr_at(self, step: int) -> float:
        """The learning rate of the step with 0-based index `step`: warm-up, then the config's lr_schedule over
        this run's total_steps (lr_schedule.py)."""
        return learning_rate(self.config.training, step, self.total_steps)

    # ---- the loop ---------------------------------------------------------------------------------------

    def run(self, on_event: EventCallback) -> None:
        """Train until done, stopped or failed; the last event is FinishedEvent or FailedEvent."""
        emit: EventCallback = on_event if self.dist.is_main else (lambda event: None)
        failed, self._outcome = True, None
        try:
            if self.lock is not None:
                self.lock.acquire()  # again, if an earlier run() released it
                self.recorder.begin()  # the last session's outcome.json no longer describes the run
            reason = self._train(emit)
            failed = False
        except NonFiniteLoss as exc:
            self._fail(emit, f"{exc}: training diverged; {self._kept()}. Try a lower learning rate or more warm-up.",
                       "nan")
        except RunLocked as exc:
            self._fail(emit, str(exc), "locked")
        except StorageError as exc:  # disk full, size limit, read-only folder: nothing half-written is left
            self._fail(emit, f"{exc}; {self._kept()}", "storage")
        except DataError as exc:
            self._fail(emit, f"could not read the training data: {exc}", "data")
        except Exception as exc:
            if is_out_of_memory(exc):
                self.learner.release_memory()
                self._fail(emit, f"out of memory on {self.device} with batch size "
                           f"{self.config.training.batch_size}; try a smaller batch size or image size", "oom")
            else:
                log.exception("training failed")
                self._fail(emit, one_line(exc, with_type=True), "error")
        else:
            self._outcome = ("done" if reason == "completed" else "stopped", None, None)
            emit(FinishedEvent(step=self.step, reason=reason))
        finally:
            try:
                self._flush_history()
            except OSError as exc:  # the failure (if any) was reported already; this is its echo
                (log.info if failed else log.warning)("could not write the history: %s", exc)
            if self.dist.is_main and self._outcome is not None and self._outcome[1] != "locked":
                self.recorder.finish(self._outcome[0], self.step, *self._outcome[1:])  # outcome.json (run table)
            self.release_lock()

    def release_lock(self) -> None:
        """Let another process train this run (run() does it when it returns)."""
        if self.lock is not None:
            self.lock.release()

    def _kept(self) -> str:
        return (f"the last good checkpoint (step {self.last_saved_step}) is kept"
                if self.last_saved_step is not None else "no checkpoint had been written yet")

    def _fail(self, emit: EventCallback, message: str, kind: str) -> None:
        # the FailedEvent carries the message to the faces, which show it once; the log file keeps a copy
        log.info("training failed (%s): %s", kind, message)
        self._outcome = ("failed", kind, message)
        try:
            emit(FailedEvent(step=self.step, message=message, kind=kind))
        except Exception:
            log.exception("event callback failed while reporting a failure")

    def _stop_requested(self) -> bool:
        return distributed.any_rank(self._stop.is_set()) if self.dist.enabled else self._stop.is_set()

    def _time_is_up(self) -> bool:
        """The max_minutes budget of training time is spent, with budget.GRACE (rank 0's clock decides)."""
        if self.config.training.max_minutes is None:
            return False
        up = time_is_up(self.elapsed_s, self.config.training.max_minutes)
        return bool(distributed.broadcast_from_main(up)) if self.dist.enabled else up

    def _plan_budget(self, planner: BudgetPlanner | None) -> BudgetPlanner | None:
        """Feed the planner this step; once it answers, fix planned_steps, record it in config.json, log it."""
        if planner is None:
            return None
        plan = planner.observe(self.step, self.elapsed_s)
        if self.dist.enabled:
            plan = distributed.broadcast_from_main(plan)  # rank 0's measurement is everyone's plan
        if plan is None:
            return planner
        self.budget_plan = plan
        self.config = replace(self.config, training=replace(self.config.training, planned_steps=plan.planned_steps))
        if self.config.training.augment == "auto":  # the small-set recipe waited for the step total
            self.config = self._decide_augmentation(self.config, self.run_dir, save=False)
            if self.config.training.augment == "on" and self.config.training.ema_sigma_rel:
                self.learner.ema.use_power_profile(self.config.training.ema_sigma_rel)
        if self.dist.is_main:
            self.run_dir.save_config(self.config)  # resume reads the horizon from here
        log.info("%s (warm-up %d steps, %s learning rate to step %d)", plan.describe(),
                 self.config.training.warmup_steps, self.config.training.lr_schedule, plan.planned_steps)
        return planner if planner.replan_pending else None  # budget.py re-plans once (issue 22 N17)

    def _new_planner(self) -> BudgetPlanner | None:
        tc = self.config.training
        if tc.max_minutes is None or tc.planned_steps is not None:
            return None
        metrics_share = self.quality.cadence.time_share if self.quality.enabled else 0.0
        validation_share = self.validation.cadence.time_share if self.validation.enabled else 0.0
        return BudgetPlanner(60.0 * tc.max_minutes, self.previews.time_share + metrics_share + validation_share)

    def _wait_if_paused(self) -> None:
        if not self._running.is_set():
            self._blocked.set()
            self._running.wait()  # blocks without spinning until resume or stop
            self._blocked.clear()

    def _train(self, emit: EventCallback) -> str:
        tc = self.config.training
        planner = self._new_planner()
        while self.step < (self.total_steps or math.inf) and not self._time_is_up():
            self._wait_if_paused()
            if self._stop_requested():
                self._timed("checkpoint", self._save, emit)
                return "stopped"
            started = self.clock()
            x0 = self.batches.batch_on_every_rank(self.epoch, self.batch_in_epoch)  # DataError on all ranks or none
            y = self.batches.labels(self.epoch, self.batch_in_epoch) if self.config.model.num_classes else None
            loss, per_sample, t = self._train_step(x0, y)
            self.step += 1
            self.batch_in_epoch += 1
            epoch_number = self.epoch + 1
            epoch_ended = self.batch_in_epoch >= self.steps_per_epoch
            if epoch_ended:
                self.epoch, self.batch_in_epoch = self.epoch + 1, 0
            self._report_step(emit, loss, per_sample, t, epoch_number, started)
            self.elapsed_s += self.clock() - started
            planner = self._plan_budget(planner)
            if self.previews.due(self.step, epoch_number if epoch_ended else None, self.elapsed_s,
                                 self._step_seconds, tc.batch_size):
                self._timed("preview", self._preview, emit, epoch_number)
            if self.quality.due(self.step, self.elapsed_s, self._step_seconds, tc.batch_size):
                self._timed("metrics", self._measure_quality, emit)
            if self.validation.due(self.step, self.elapsed_s, self._step_seconds, tc.batch_size):
                self._timed("validation", self._validate, emit)
            if self.step % tc.checkpoint_every_steps == 0:
                self._timed("checkpoint", self._save, emit)
            if self.posthoc is not None and self.posthoc.due(self.step):
                self._timed("checkpoint", self.posthoc.save_snapshot, self.step)
        if self.previews.enabled and self._last_preview_step != self.step:
            self._timed("preview", self._preview, emit, self.epoch + (1 if self.batch_in_epoch else 0) or 1)
        if self.quality.final_due(self.step):  # the end point of a curve that has begun
            self._timed("metrics", self._measure_quality, emit)
        if self.validation.final_due(self.step):  # the curve's last point
            self._timed("validation", self._validate, emit)
        self._timed("checkpoint", self._save, emit)
        self._log_overhead()
        return "completed"

    def _timed(self, kind: str, work: Callable[..., None], *args: Any) -> None:
        """Run a preview or a checkpoint; its time counts as training time and as overhead of that kind."""
        started = self.clock()
        try:
            work(*args)
        finally:
            seconds = self.clock() - started
            self.elapsed_s += seconds
            self.overhead_s[kind] += seconds
            if kind == "preview":
                self.previews.record(seconds, self.elapsed_s)
            elif kind == "metrics":
                self.quality.record_cost(seconds, self.elapsed_s)
            elif kind == "validation":
                self.validation.record_cost(seconds, self.elapsed_s)

    def _log_overhead(self) -> None:
        session = self.elapsed_s - self._session_start_s
        if session > 0:
            log.info("training time %.1f s this session: previews %.1f %%, checkpoints %.1f %%, metrics %.1f %%, "
                     "validation %.1f %%", session, 100 * self.overhead_s["preview"] / session,
                     100 * self.overhead_s["checkpoint"] / session, 100 * self.overhead_s["metrics"] / session,
                     100 * self.overhead_s["validation"] / session)

    def _measure_quality(self, emit: EventCallback) -> None:
        """Score the EMA model's samples (quality_monitor.py); a new best gets a checkpoint that is never pruned."""
        event = self.quality.evaluate(self.ema.module, self.diffusion, self.device, self.step, self.elapsed_s,
                                      should_stop=self._stop.is_set)
        if event is None:  # stopped mid-sampling
            return
        if event.best_step == self.step:
            self._save(emit)
            self.quality.mark_best(self.step, self.run_dir.checkpoints_dir / checkpoint_name(self.step))
        emit(event)

    def _validate(self, emit: EventCallback) -> None:
        """The validation loss of the network being trained on the held-out images (validation.py)."""
        emit(self.validation.evaluate(self.model, self.diffusion, self.step, self.elapsed_s))

    def _decide_validation(self, config: RunConfig, dataset: Dataset, run: Run) -> RunConfig:
        """The held-out split (validation.py). `validation_images` None: decided from the data size; a count > 0 is
        recorded in config.json, so every later session holds out the same images; a set too small keeps None (the
        run trains on every image, as it says at each start). Older runs load 0: every image, nothing said."""
        tc = config.training
        count = tc.validation_images
        if not isinstance(dataset, ImageDataset):  # no image names to choose by: no validation loss
            return config
        if count is None:
            count = validation_count(len(dataset))
            if count == 0:
                self.validation_note = too_few_message(len(dataset))
                log.info("%s", self.validation_note)
                return config
            config = replace(config, training=replace(tc, validation_images=count))
            if self.dist.is_main:
                run.save_config(config)
        if count:
            self.split = split_for([str(k) for k in dataset.keys], count, tc.seed)
            self.validation_note = self.split.describe(len(fixed_timesteps(config.diffusion.timesteps,
                                                                           LOSS_TIMESTEPS)))
            log.info("%s", self.validation_note)
        return config

    def _decide_augmentation(self, config: RunConfig, run: Run, *, save: bool = True) -> RunConfig:
        """augment = "auto" decided for this data set and this run's step total, and recorded in config.json with
        the EMA it brings (training/config.py: the small-set recipe). A time budget not planned yet leaves it
        "auto" with the augmentation map built; _plan_budget decides it then (`save` False: it saves itself)."""
        images = len(self.dataset)  # type: ignore[arg-type]
        steps = self._step_total(config.training)
        decided = with_augmentation(config, images, steps)
        if decided is not config:
            tc = decided.training
            ema = f", EMA sigma_rel {tc.ema_sigma_rel:g}" if tc.ema_sigma_rel != config.training.ema_sigma_rel else ""
            if tc.augment == "auto":
                log.info("augmentation auto: %d images, decided at the time budget's plan (until then none)", images)
            else:
                log.info("augmentation %s%s (%s: %d images, %s)", tc.augment, ema, config.training.augment, images,
                         f"{steps:,} steps" if steps is not None else "no step limit")
            if save and self.dist.is_main:
                run.save_config(decided)
        return decided

    # ---- one step ---------------------------------------------------------------------------------------

    def _augment(self, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Non-leaky augmentation of x_0 (Karras et al. 2022; data/augment.py) from the data stream, with the
        vector the network is conditioned on; (x0, None) when the run does not augment."""
        tc = self.config.training
        if tc.augment != "on":
            return x0, None
        return augment(x0, tc.augment_p, self.rng.data)

    def _train_step(self, x0: torch.Tensor, y: torch.Tensor | None = None) -> tuple[float, torch.Tensor, torch.Tensor]:
        """One optimiser step on x_0 with fresh t and ε (and a conditional net's label dropout, drawn after them)
        from this rank's sampler stream; augmentation first, from the data stream."""
        x0, augment_labels = self._augment(x0)
        x0 = self.learner.to_device(x0)
        t_cpu, noise = self.rng.draw_t_and_noise(x0.shape, self.diffusion.num_timesteps)
        if y is not None:
            y = self.rng.drop_labels(y, self.config.training.class_dropout, self.config.model.num_classes)
        with self.rng.own_global_rng():
            loss, per_sample = self.learner.step(x0, t_cpu, self.learner.to_device(noise), self.lr_at(self.step),
                                                 number=self.step + 1, y=y, augment_labels=augment_labels)
        if self.posthoc is not None:
            self.posthoc.update(self.model)
        return loss, per_sample, t_cpu

    # ---- reporting, previews, checkpoints ---------------------------------------------------------------

    def _report_step(self, emit: EventCallback, loss: float, per_sample: torch.Tensor, t: torch.Tensor,
                     epoch_number: int, started: float) -> None:
        seconds = max(self.clock() - started, 1e-9)
        rate = per_sample.shape[0] * self.dist.world_size / seconds
        self._images_per_s = rate if self._images_per_s == 0.0 else 0.9 * self._images_per_s + 0.1 * rate
        self._step_seconds = seconds if self._step_seconds is None else 0.9 * self._step_seconds + 0.1 * seconds
        lr = self.lr_at(self.step - 1)
        if not self.dist.is_main:
            return
        elapsed = self.elapsed_s + seconds
        grad_norm = self.learner.last_grad_norm
        images_seen = self.step * self.config.training.batch_size * self.dist.world_size
        self.recorder.record(step=self.step, epoch=epoch_number, loss=loss, lr=lr, elapsed_s=elapsed, t=t,
                             per_sample=per_sample, grad_norm=grad_norm, images_seen=images_seen)
        emit(StepEvent(step=self.step, epoch=epoch_number, loss=loss, lr=lr, images_per_s=self._images_per_s,
                       elapsed_s=elapsed, total_steps=self.total_steps, grad_norm=grad_norm,
                       images_seen=images_seen, overhead_s=dict(self.overhead_s),
                       session_s=elapsed - self._session_start_s))
        if self.step % TIMESTEP_EVENT_EVERY == 0:
            tracker = self.recorder.tracker
            emit(TimestepLossEvent(step=self.step, bucket_edges=tracker.edges, bucket_losses=tracker.means()))

    def _flush_history(self) -> None:
        if self.dist.is_main:
            self.recorder.flush()

    def _preview(self, emit: EventCallback, epoch_number: int) -> None:
        """EMA samples from a fixed seed (preview_sampler): an event and previews/epoch_XXXX.png of the epoch in
        progress (a later preview within the same epoch replaces the file)."""
        self._last_preview_step = self.step
        if not self.dist.is_main:
            return
        tc, data = self.config.training, self.config.data
        images = sample_preview(self.ema.module, self.diffusion, count=tc.preview_count,
                                shape=(data.channels, data.image_size, data.image_size), seed=tc.preview_seed,
                                steps=tc.preview_sampler_steps, device=self.device, method=tc.preview_sampler,
                                should_stop=self._stop.is_set,
                                labels=preview_labels(tc.preview_count, self.config.model.num_classes))
        if images is None:  # stopped mid-preview: the caller's stop check writes the checkpoint next
            log.info("preview of epoch %d abandoned: stop requested", epoch_number)
            return
        save_preview_png(images, self.run_dir.preview_path(epoch_number))
        emit(PreviewEvent(epoch=epoch_number, step=self.step, preview=images))

    def training_state(self) -> dict[str, Any]:
        """Everything besides the weights needed to continue exactly where we are (plain tensors/numbers)."""
        per_rank = distributed.gather_to_main(self.rng.state())
        cuda_rng = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        return {"format": CHECKPOINT_FORMAT, "step": self.step, "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch, "elapsed_s": self.elapsed_s, **self.learner.state(),
                "rng": per_rank, "cuda_rng": cuda_rng, "world_size": self.dist.world_size,
                **({"posthoc_ema": self.posthoc.state()} if self.posthoc is not None else {})}

    def _save(self, emit: EventCallback) -> None:
        """Write a checkpoint of the current step (rank 0 only; every rank joins the RNG gather)."""
        if self.last_saved_step == self.step or self.step == 0:
            return
        state = self.training_state()
        if not self.dist.is_main:
            self.last_saved_step = self.step
            return
        self._flush_history()
        try:
            path = save_checkpoint(self.run_dir.checkpoints_dir / checkpoint_name(self.step), config=self.config,
                                   step=self.step, model_state=self.model.state_dict(),
                                   ema_state=self.ema.state_dict(), training_state=state)
        except NonFiniteWeights:  # never kept as "the last good checkpoint"
            raise NonFiniteLoss(f"the weights became NaN or inf at step {self.step}") from None
        self.last_saved_step = self.step
        if self.posthoc is not None:  # every checkpoint's step has its snapshot (the end of training too)
            self.posthoc.save_snapshot(self.step)
        prune_checkpoints(self.run_dir.checkpoints_dir, self.config.training.keep_last, self.quality.protected_steps())
        log.info("checkpoint written: %s", path)
        emit(CheckpointEvent(step=self.step, path=path))

    # ---- resuming ---------------------------------------------------------------------------------------

    def load_state(self, checkpoint: Checkpoint) -> None:
        """Restore weights, EMA, optimiser, position and RNG states from a checkpoint of this run."""
        state = checkpoint.training_state
        if state is None:
            raise CheckpointError(f"{checkpoint.path.name} has no training state; it can sample but not resume")
        if checkpoint.ema_state is None:
            raise CheckpointError(f"{checkpoint.path.name} has no EMA weights; it cannot be resumed")
        try:
            self.learner.load_state(checkpoint.model_state, checkpoint.ema_state, state, name=checkpoint.path.name,
                                    state_name=state_path_for(checkpoint.path).name)
            self.step, self.epoch = int(state["step"]), int(state["epoch"])
            self.batch_in_epoch, self.elapsed_s = int(state["batch_in_epoch"]), float(state["elapsed_s"])
            self._session_start_s = self.elapsed_s
            rngs = state["rng"]
            problem = rng_state_problem(rngs, self.dist.world_size)
            if problem is not None:
                raise CheckpointError(f"{state_path_for(checkpoint.path).name} cannot be resumed: {problem}")
            if len(rngs) == self.dist.world_size:
                self.rng.load_state(rngs[self.dist.rank])
            else:
                log.warning("checkpoint was written by %d processes, now %d: random streams restart",
                            len(rngs), self.dist.world_size)
            if state.get("cuda_rng") is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["cuda_rng"], self.device)
            if self.posthoc is not None:
                self.posthoc.load_state(state.get("posthoc_ema"), self.step, self.ema.module)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{checkpoint.path.name} cannot be resumed: {exc}") from None
        self.last_saved_step = self._last_preview_step = self.step
        self.previews.restart(self.elapsed_s)
        self.quality.restart(self.step, self.elapsed_s)
        self.validation.restart(self.step, self.elapsed_s)

    @classmethod
    def resume(cls, run: Run, dataset: Dataset | None = None, device: str | torch.device | None = None, *,
               clock: Callable[[], float] = time.perf_counter) -> Trainer:
        """A Trainer continuing `run` from its latest checkpoint (CheckpointError if there is none)."""
        checkpoint = run.resume_checkpoint()
        if dataset is None:
            from ddpm_studio.data.dataset import load_dataset
            dataset = load_dataset(run.config.data)
        trainer = cls(run.config, dataset, run, device=device, clock=clock)
        trainer.load_state(checkpoint)
        trainer.skipped_checkpoints = checkpoint.skipped
        if trainer.dist.is_main:
            run.truncate_history(checkpoint.step)
            trainer.recorder.resume()
        return trainer
