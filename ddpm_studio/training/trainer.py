"""The Trainer: minimises the engine's loss (Ho et al. Algorithm 1) with AdamW, warm-up, clipping and an EMA.

Each step draws x_0 from the data, t ~ U{0..T-1} per example and ε ~ N(0, I) from the Trainer's own seeded
generators, and takes one optimiser step on `GaussianDiffusion.training_losses`. Progress goes out as events
(events.py); pause/resume/stop requests are honoured between steps. No Qt, no prints.

Every source of randomness is a generator whose state is checkpointed (t/ε sampler, data augmentation,
the global CPU RNG used by dropout, kept apart from the rest of the process), the data order is a pure
function of (seed, epoch) via DistributedSampler, and the learning rate a pure function of the step, so
stopping and resuming on CPU reproduces the uninterrupted run bit for bit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from typing import Any, Callable, Iterator

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler

from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.samplers import ddim_sample
from ddpm_studio.engine.unet import build_unet
from ddpm_studio.training import distributed
from ddpm_studio.training.checkpoint import (
    CHECKPOINT_FORMAT, Checkpoint, CheckpointError, checkpoint_name, describe_model_difference, load_checkpoint,
    load_weights, prune_checkpoints, save_checkpoint,
)
from ddpm_studio.training.config import RunConfig
from ddpm_studio.training.devices import amp_dtype, is_out_of_memory, resolve_device
from ddpm_studio.training.ema import EMA
from ddpm_studio.training.events import (
    CheckpointEvent, EpochEndEvent, FailedEvent, FinishedEvent, StepEvent, TimestepLossEvent, TrainingEvent,
)
from ddpm_studio.training.previews import sample_preview, save_preview_png
from ddpm_studio.training.runs import Run
from ddpm_studio.training.timestep_loss import TimestepLossTracker

log = logging.getLogger(__name__)

EventCallback = Callable[[TrainingEvent], None]
TIMESTEP_EVENT_EVERY = 10  # steps between TimestepLossEvents
HISTORY_FLUSH_EVERY = 50  # steps between appends to history.jsonl


class _NonFinite(Exception):
    """The loss (or the gradient norm) is NaN or Inf."""


class _DataError(Exception):
    """Reading a batch from the dataset failed."""


# channels_last per device type: measured faster for the tiny UNet on CPU (oneDNN) and CUDA (bench/train_e2e.py)
_CHANNELS_LAST = {"cpu": True, "cuda": True, "mps": False}


def _make_adamw(model: torch.nn.Module, device: torch.device, lr: float,
                weight_decay: float) -> torch.optim.Optimizer:
    """AdamW with the fused kernel where torch has one for `device` (CPU and CUDA), else multi-tensor (foreach).

    The fused and the per-tensor kernels compute the same update (Loshchilov & Hutter, Algorithm 2) in one pass
    over all parameters instead of ~10 small ops per tensor, which on CPU is most of the optimiser's cost.
    """
    params = list(model.parameters())
    if device.type in ("cpu", "cuda"):
        try:
            return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
        except (RuntimeError, TypeError, ValueError):  # an older torch without the fused kernel here
            pass
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)


class Trainer:
    """Trains one run. `run()` blocks; call it on a worker thread and steer it with the request_* methods."""

    def __init__(self, config: RunConfig, dataset: Dataset, run: Run, *,
                 device: str | torch.device | None = None) -> None:
        config.validate()
        tc = config.training
        self.config, self.dataset, self.run_dir = config, dataset, run
        self.dist = distributed.current()
        if tc.num_threads:
            torch.set_num_threads(tc.num_threads)
        self.device = distributed.device_for(self.dist, resolve_device(device if device is not None else tc.device))
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise ValueError("the dataset is empty")
        self.amp_dtype = amp_dtype(tc.mixed_precision, self.device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.diffusion = GaussianDiffusion(config.diffusion)
        with torch.random.fork_rng(devices=[]):  # same initial weights on every rank, global RNG untouched
            torch.manual_seed(tc.seed)
            self.model = build_unet(config.model).to(self.device)
        self.memory_format = torch.channels_last if _CHANNELS_LAST.get(self.device.type, True) else None
        if self.memory_format is not None:
            self.model = self.model.to(memory_format=self.memory_format)
        self.ema = EMA(self.model, tc.ema_decay, warmup=tc.ema_warmup)
        self.net: torch.nn.Module = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = _make_adamw(self.model, self.device, tc.lr, tc.weight_decay)
        self._params = [p for p in self.model.parameters() if p.requires_grad]
        rank_seed = tc.seed + 1_000_003 * self.dist.rank
        self.sampler_generator = torch.Generator().manual_seed(rank_seed + 1)  # t and ε
        self.data_generator = torch.Generator().manual_seed(rank_seed + 2)  # crops and flips
        self._rng_state = torch.Generator().manual_seed(rank_seed + 3).get_state()  # "global" RNG (dropout)
        self.step, self.epoch, self.batch_in_epoch, self.elapsed_s = 0, 0, 0, 0.0
        self.last_saved_step: int | None = None
        self._last_preview_step: int | None = None
        self._tracker = TimestepLossTracker(config.diffusion.timesteps)
        self._history: list[str] = []
        self._epoch_cache: tuple[int, list[int]] | None = None
        self._images_per_s = 0.0
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._blocked = threading.Event()

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
        per_rank = math.ceil(len(self.dataset) / self.dist.world_size)  # type: ignore[arg-type]
        return max(1, per_rank // self.config.training.batch_size)

    @property
    def total_steps(self) -> int:
        tc = self.config.training
        limits = [tc.max_steps] if tc.max_steps is not None else []
        if tc.epochs is not None:
            limits.append(tc.epochs * self.steps_per_epoch)
        return min(limits)

    def lr_at(self, step: int) -> float:
        """Linear warm-up from 0 to lr over warmup_steps, then constant."""
        tc = self.config.training
        return tc.lr * min(1.0, (step + 1) / tc.warmup_steps) if tc.warmup_steps > 0 else tc.lr

    # ---- the loop ---------------------------------------------------------------------------------------

    def run(self, on_event: EventCallback) -> None:
        """Train until done, stopped or failed; the last event is FinishedEvent or FailedEvent."""
        emit: EventCallback = on_event if self.dist.is_main else (lambda event: None)
        try:
            reason = self._train(emit)
        except _NonFinite as exc:
            kept = (f"the last good checkpoint (step {self.last_saved_step}) is kept"
                    if self.last_saved_step is not None else "no checkpoint had been written yet")
            self._fail(emit, f"{exc}: training diverged; {kept}. Try a lower learning rate or more warm-up.", "nan")
        except _DataError as exc:
            self._fail(emit, f"could not read the training data: {exc}", "data")
        except Exception as exc:  # noqa: BLE001 - every failure becomes one clear event
            if is_out_of_memory(exc):
                self.optimizer.zero_grad(set_to_none=True)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                self._fail(emit, f"out of memory on {self.device} with batch size "
                           f"{self.config.training.batch_size}; try a smaller batch size or image size", "oom")
            else:
                log.exception("training failed")
                self._fail(emit, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}",
                           "error")
        else:
            emit(FinishedEvent(step=self.step, reason=reason))
        finally:
            self._flush_history()

    def _fail(self, emit: EventCallback, message: str, kind: str) -> None:
        log.error("training failed at step %d (%s): %s", self.step, kind, message)
        try:
            emit(FailedEvent(step=self.step, message=message, kind=kind))
        except Exception:  # noqa: BLE001 - a broken listener must not hide the original failure
            log.exception("event callback failed while reporting a failure")

    def _stop_requested(self) -> bool:
        return distributed.any_rank(self._stop.is_set()) if self.dist.enabled else self._stop.is_set()

    def _time_is_up(self) -> bool:
        """The max_minutes budget of training time is spent (rank 0's clock decides under DDP)."""
        limit = self.config.training.max_minutes
        if limit is None:
            return False
        up = self.elapsed_s >= 60.0 * limit
        return bool(distributed.broadcast_from_main(up)) if self.dist.enabled else up

    def _wait_if_paused(self) -> None:
        if not self._running.is_set():
            self._blocked.set()
            self._running.wait()  # blocks without spinning until resume or stop
            self._blocked.clear()

    def _train(self, emit: EventCallback) -> str:
        tc, total = self.config.training, self.total_steps
        while self.step < total and not self._time_is_up():
            self._wait_if_paused()
            if self._stop_requested():
                self._save(emit)
                return "stopped"
            started = time.perf_counter()
            loss, per_sample, t = self._train_step(self._next_batch())
            self.step += 1
            self.batch_in_epoch += 1
            epoch_number = self.epoch + 1
            if self.batch_in_epoch >= self.steps_per_epoch:
                self.epoch, self.batch_in_epoch = self.epoch + 1, 0
            self._report_step(emit, loss, per_sample, t, epoch_number, started)
            if self.batch_in_epoch == 0 and tc.preview_every_epochs and epoch_number % tc.preview_every_epochs == 0:
                self._preview(emit, epoch_number)
            if self.step % tc.checkpoint_every_steps == 0:
                self._save(emit)
            self.elapsed_s += time.perf_counter() - started
        if tc.preview_every_epochs and self._last_preview_step != self.step:
            self._preview(emit, self.epoch + 1)
        self._save(emit)
        return "completed"

    # ---- one step ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _own_global_rng(self) -> Iterator[None]:
        """Run with the Trainer's own global-CPU-RNG state (dropout), leaving the process's state as it was."""
        outside = torch.get_rng_state()
        torch.set_rng_state(self._rng_state)
        try:
            yield
        finally:
            self._rng_state = torch.get_rng_state()
            torch.set_rng_state(outside)

    def _epoch_indices(self) -> list[int]:
        """This rank's shuffled share of the current epoch: a pure function of (seed, epoch, rank)."""
        if self._epoch_cache is None or self._epoch_cache[0] != self.epoch:
            sampler = DistributedSampler(self.dataset, num_replicas=self.dist.world_size, rank=self.dist.rank,
                                         shuffle=True, seed=self.config.training.seed, drop_last=False)
            sampler.set_epoch(self.epoch)
            self._epoch_cache = (self.epoch, list(sampler))
        return self._epoch_cache[1]

    def _next_batch(self) -> torch.Tensor:
        """The next (B, C, H, W) batch in [-1, 1], augmented with the data generator."""
        b = self.config.training.batch_size
        indices = self._epoch_indices()
        chosen = indices[self.batch_in_epoch * b:(self.batch_in_epoch + 1) * b] if len(indices) >= b else indices
        try:
            batch_fn = getattr(self.dataset, "batch", None)
            if batch_fn is not None:
                return batch_fn(chosen, generator=self.data_generator)
            items = [self.dataset[i] for i in chosen]
            return torch.stack([x[0] if isinstance(x, (tuple, list)) else x for x in items])
        except Exception as exc:  # noqa: BLE001 - reported as a data failure
            raise _DataError(str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__) from exc

    def _train_step(self, x0: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor]:
        """One optimiser step on L = mean_b loss(x0_b, t_b, ε_b) (Ho et al. Algorithm 1, lines 2-5)."""
        x0 = x0.to(self.device, non_blocking=True)
        if self.memory_format is not None:
            x0 = x0.contiguous(memory_format=self.memory_format)
        t_cpu = torch.randint(0, self.diffusion.num_timesteps, (x0.shape[0],), generator=self.sampler_generator)
        noise = torch.randn(x0.shape, generator=self.sampler_generator).to(self.device, non_blocking=True)
        if self.memory_format is not None:
            noise = noise.contiguous(memory_format=self.memory_format)
        lr = self.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.net.train()
        autocast = (torch.autocast("cuda", dtype=self.amp_dtype) if self.amp_dtype is not None
                    else contextlib.nullcontext())
        with self._own_global_rng():
            with autocast:
                terms = self.diffusion.training_losses(self.net, x0, t_cpu.to(self.device), noise=noise)
            per_sample = terms.loss.float()  # (B,)
            loss = per_sample.mean()
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
            else:
                loss.backward()
            clip = self.config.training.grad_clip
            norm = (torch.nn.utils.clip_grad_norm_(self._params, clip, foreach=True) if clip > 0
                    else torch.zeros((), device=loss.device))
            # the step's one host sync: the loss (for events) and the norm (divergence check) together
            value, norm_value = torch.stack([loss.detach(), norm.detach().float()]).tolist()
            value = distributed.all_reduce_mean(value)
            if not math.isfinite(value):
                raise _NonFinite(f"the loss became {value} at step {self.step + 1}")
            if self.scaler is None and not math.isfinite(norm_value):
                raise _NonFinite(f"the gradient norm became {norm_value} at step {self.step + 1}")
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
        self.ema.update(self.model)
        return value, per_sample.detach().cpu(), t_cpu

    # ---- reporting, previews, checkpoints ---------------------------------------------------------------

    def _report_step(self, emit: EventCallback, loss: float, per_sample: torch.Tensor, t: torch.Tensor,
                     epoch_number: int, started: float) -> None:
        seconds = max(time.perf_counter() - started, 1e-9)
        rate = per_sample.shape[0] * self.dist.world_size / seconds
        self._images_per_s = rate if self._images_per_s == 0.0 else 0.9 * self._images_per_s + 0.1 * rate
        lr = self.lr_at(self.step - 1)
        if not self.dist.is_main:
            return
        elapsed = self.elapsed_s + seconds
        self._tracker.update(t, per_sample)
        emit(StepEvent(step=self.step, epoch=epoch_number, loss=loss, lr=lr, images_per_s=self._images_per_s,
                       elapsed_s=elapsed, total_steps=self.total_steps))
        if self.step % TIMESTEP_EVENT_EVERY == 0:
            emit(TimestepLossEvent(step=self.step, bucket_edges=self._tracker.edges,
                                   bucket_losses=self._tracker.means()))
        self._history.append(json.dumps({"step": self.step, "epoch": epoch_number, "loss": loss, "lr": lr,
                                         "time": round(elapsed, 4), "wall": round(time.time(), 3)}) + "\n")
        if len(self._history) >= HISTORY_FLUSH_EVERY:
            self._flush_history()

    def _flush_history(self) -> None:
        if not self._history or not self.dist.is_main:
            return
        with open(self.run_dir.history_path, "a", encoding="utf-8") as f:
            f.writelines(self._history)
        self._history.clear()

    def _preview(self, emit: EventCallback, epoch_number: int) -> None:
        """EMA samples from a fixed seed (DDIM) at the end of an epoch: an event and previews/epoch_XXXX.png."""
        self._last_preview_step = self.step
        if not self.dist.is_main:
            return
        tc, data = self.config.training, self.config.data
        images = sample_preview(self.ema.module, self.diffusion, count=tc.preview_count,
                                shape=(data.channels, data.image_size, data.image_size), seed=tc.preview_seed,
                                steps=tc.preview_sampler_steps, device=self.device, sampler=ddim_sample,
                                should_stop=self._stop.is_set)
        if images is None:  # stopped mid-preview: the caller's stop check writes the checkpoint next
            log.info("preview of epoch %d abandoned: stop requested", epoch_number)
            return
        save_preview_png(images, self.run_dir.preview_path(epoch_number))
        emit(EpochEndEvent(epoch=epoch_number, step=self.step, preview=images))

    def training_state(self) -> dict[str, Any]:
        """Everything besides the weights needed to continue exactly where we are (plain tensors/numbers)."""
        per_rank = distributed.gather_to_main({"sampler": self.sampler_generator.get_state(),
                                               "data": self.data_generator.get_state(),
                                               "torch": self._rng_state})
        cuda_rng = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        return {"format": CHECKPOINT_FORMAT, "step": self.step, "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch, "elapsed_s": self.elapsed_s, "ema_updates": self.ema.updates,
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "rng": per_rank, "cuda_rng": cuda_rng, "world_size": self.dist.world_size}

    def _save(self, emit: EventCallback) -> None:
        """Write a checkpoint of the current step (rank 0 only; every rank joins the RNG gather)."""
        if self.last_saved_step == self.step or self.step == 0:
            return
        state = self.training_state()
        self.last_saved_step = self.step
        if not self.dist.is_main:
            return
        self._flush_history()
        path = save_checkpoint(self.run_dir.checkpoints_dir / checkpoint_name(self.step), config=self.config,
                               step=self.step, model_state=self.model.state_dict(),
                               ema_state=self.ema.state_dict(), training_state=state)
        prune_checkpoints(self.run_dir.checkpoints_dir, self.config.training.keep_last)
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
            load_weights(self.model, checkpoint.model_state, name=checkpoint.path.name)
            self.ema.load_state_dict(checkpoint.ema_state, state["ema_updates"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scaler is not None and state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            self.step, self.epoch = int(state["step"]), int(state["epoch"])
            self.batch_in_epoch, self.elapsed_s = int(state["batch_in_epoch"]), float(state["elapsed_s"])
            rngs = state["rng"]
            if len(rngs) == self.dist.world_size:
                mine = rngs[self.dist.rank]
                self.sampler_generator.set_state(mine["sampler"])
                self.data_generator.set_state(mine["data"])
                self._rng_state = mine["torch"]
            else:
                log.warning("checkpoint was written by %d processes, now %d: random streams restart",
                            len(rngs), self.dist.world_size)
            if state.get("cuda_rng") is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{checkpoint.path.name} cannot be resumed: {exc}") from None
        self.last_saved_step = self._last_preview_step = self.step

    @classmethod
    def resume(cls, run: Run, dataset: Dataset | None = None, device: str | torch.device | None = None) -> Trainer:
        """A Trainer continuing `run` from its latest checkpoint (CheckpointError if there is none)."""
        path = run.latest_checkpoint()
        if path is None:
            raise CheckpointError(f"run {run.name} has no checkpoint to resume from")
        checkpoint = load_checkpoint(path)
        if checkpoint.config.model != run.config.model:
            raise CheckpointError(f"{path.name} was made for a different model than run {run.name} describes ("
                                  f"{describe_model_difference(run.config.model, checkpoint.config.model)})")
        if checkpoint.config.diffusion != run.config.diffusion:
            raise CheckpointError(f"{path.name} was trained with different diffusion settings than run {run.name}")
        if dataset is None:
            from ddpm_studio.data.dataset import load_dataset
            dataset = load_dataset(run.config.data)
        trainer = cls(run.config, dataset, run, device=device)
        trainer.load_state(checkpoint)
        if trainer.dist.is_main:
            run.truncate_history(checkpoint.step)
        return trainer
