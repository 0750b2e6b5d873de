"""Runs the engine's samplers on a QThread and streams each step as numpy uint8 snapshots.

Only snapshots cross threads (DESIGN.md): a `SamplerFrame` holds (B, H, W, C) uint8 arrays of x_t, the
predicted x_0 and (optionally) the predicted ε, never tensors or pixmaps. Several "lanes" (DDPM vs DDIM,
two checkpoints, two η) start from the *same* x_T and advance in lockstep by progress, so a side-by-side
comparison animates together.

"Average N draws" (the DDPM write-up's note that averaging several denoised draws trades variety for
sharpness): every image runs N chains that share its x_T but draw independent fresh noise z at each
ancestral step. The shown predicted x_0 — and the final image — are the mean over the N chains, a Monte
Carlo estimate of E[x_0 | x_T]. The mean is cleaner (the grain of a single draw averages out) but the
chains' differing details also average away, so the result is smoother and less varied; with N = 1 it is
ordinary sampling. Deterministic samplers (DDIM with η = 0) give N identical chains, so N changes nothing.
`noise_scale` (temperature) scales each fresh z instead: < 1 gives smoother, less diverse samples.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QObject, QThread, Qt, Signal, Slot

from ddpm_studio.data.transforms import to_uint8
from ddpm_studio.engine import SamplingConfig, ddim_sample, ddpm_sample

log = logging.getLogger(__name__)

EPS_DISPLAY_RANGE = 3.0  # ε ~ N(0, I): show ±3σ across black..white


@dataclass(frozen=True)
class LaneSpec:
    """One sampling run to show: a checkpoint (a .safetensors file or a run folder: its latest checkpoint)."""

    label: str
    checkpoint: Path
    sampling: SamplingConfig
    average: int = 1  # N chains per image averaged for the shown x_0 and the final image


@dataclass(frozen=True)
class SamplerRequest:
    """Everything the worker needs; lanes share the seed's x_T, so their image shapes must match."""

    lanes: tuple[LaneSpec, ...]
    run_id: int = 0  # lets the receiver drop late frames of a cancelled run
    with_eps: bool = False
    max_frames: int = 250  # keep at most this many frames per lane (spread evenly, first and last kept)
    device: str = "cpu"


@dataclass(frozen=True)
class SamplerPlan:
    """Sent once before the first frame: how many frames each lane will emit."""

    run_id: int
    labels: tuple[str, ...]
    frame_counts: tuple[int, ...]
    num_steps: tuple[int, ...]


@dataclass(frozen=True)
class SamplerFrame:
    """One kept reverse step of one lane, as uint8 (B, H, W, C) arrays."""

    run_id: int
    lane: int
    frame: int  # 0-based position among this lane's kept frames
    index: int  # sampler step index, 0 .. num_steps - 1
    num_steps: int
    t: int
    xt: np.ndarray
    x0: np.ndarray
    eps: np.ndarray | None = field(default=None)


def kept_steps(num_steps: int, max_frames: int) -> list[int]:
    """Step indices that become frames: all of them, or `max_frames` spread evenly from first to last."""
    if num_steps <= max_frames or max_frames < 2:
        return list(range(num_steps)) if num_steps <= max(1, max_frames) else [num_steps - 1]
    return sorted({round(i * (num_steps - 1) / (max_frames - 1)) for i in range(max_frames)})


def to_uint8_batch(x: torch.Tensor, scale: float = 1.0) -> np.ndarray:
    """(B, C, H, W) in [-scale, scale] -> (B, H, W, C) uint8 (clipped), via `data.transforms.to_uint8`."""
    return to_uint8(x.detach().float().cpu() / scale)


def available_models(current_run: Path | None) -> list[tuple[str, Path]]:
    """(label, path) of the models to offer: the current run, the runs on disk with a checkpoint, the demo."""
    from ddpm_studio.training.runs import DEMO_CHECKPOINT, list_runs

    choices: list[tuple[str, Path]] = []
    if current_run is not None:
        choices.append((f"current run: {Path(current_run).name}", Path(current_run)))
    for info in list_runs():
        if info.step > 0 and (current_run is None or Path(info.path) != Path(current_run)):
            choices.append((f"{info.name} (step {info.step})", Path(info.path)))
    if DEMO_CHECKPOINT.is_file():
        choices.append(("demo model (shipped)", DEMO_CHECKPOINT))
    return choices


class _Lane:
    """A live sampler generator for one lane, with its averaging and frame bookkeeping."""

    def __init__(self, number: int, spec: LaneSpec, model, diffusion, x_T: torch.Tensor, device: torch.device):
        cfg = spec.sampling
        self.number, self.average = number, max(1, spec.average)
        generator = torch.Generator(device="cpu").manual_seed(cfg.seed)
        torch.randn(tuple(x_T.shape), generator=generator)  # consume x_T's draws: the z's match `sample()`
        noise = x_T.repeat_interleave(self.average, dim=0).to(device)
        shape = tuple(noise.shape)
        if cfg.method == "ddpm":
            self.num_steps = diffusion.num_timesteps
            self.gen = ddpm_sample(model, diffusion, shape, noise=noise, generator=generator, variance=cfg.variance,
                                   clip_x0=cfg.clip_x0, noise_scale=cfg.noise_scale, device=device)
        else:
            self.num_steps = min(cfg.steps, diffusion.num_timesteps)
            self.gen = ddim_sample(model, diffusion, shape, steps=self.num_steps, eta=cfg.eta, noise=noise,
                                   generator=generator, clip_x0=cfg.clip_x0, noise_scale=cfg.noise_scale,
                                   device=device)
        self.done_steps = 0
        self.kept: set[int] = set()
        self.frames_emitted = 0

    def progress(self) -> float:
        return self.done_steps / self.num_steps

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """(B·N, C, H, W) -> (B, C, H, W): the mean over each image's N chains."""
        b = x.shape[0] // self.average
        return x.reshape(b, self.average, *x.shape[1:]).mean(dim=1)

    def first(self, x: torch.Tensor) -> torch.Tensor:
        """(B·N, C, H, W) -> (B, C, H, W): each image's first chain."""
        return x[:: self.average]


class SamplerWorker(QObject):
    """QObject living on a QThread; `run` samples every lane and emits frames. `cancel` is thread-safe."""

    planned = Signal(object)  # SamplerPlan
    frame = Signal(object)  # SamplerFrame
    finished = Signal(int, str)  # run_id, "completed" | "cancelled"
    failed = Signal(int, str)  # run_id, one-line message
    done = Signal()  # always last

    def __init__(self, request: SamplerRequest) -> None:
        super().__init__()
        self.request = request
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @Slot()
    def run(self) -> None:
        try:
            torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # leave one core to the interface
            self._sample()
        except torch.cuda.OutOfMemoryError:
            self.failed.emit(self.request.run_id, "Out of GPU memory: lower the image count or average fewer draws.")
        except Exception as exc:  # noqa: BLE001 - a thread boundary: report, never die silently
            log.exception("sampling failed")
            self.failed.emit(self.request.run_id, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        finally:
            self.done.emit()

    def _sample(self) -> None:
        from ddpm_studio.training.checkpoint import load_model

        req = self.request
        if not req.lanes:
            raise ValueError("nothing to sample: no lanes")
        device = torch.device(req.device)
        loaded = []
        for spec in req.lanes:
            spec.sampling.validate()
            model, diffusion, config = load_model(Path(spec.checkpoint), device=device, ema=True)
            model.eval()
            shape = (config.model.in_channels, config.data.image_size, config.data.image_size)
            loaded.append((model, diffusion, shape))
        shapes = {shape for _, _, shape in loaded}
        if len(shapes) > 1:
            raise ValueError("the models make different image shapes "
                             f"({' vs '.join('x'.join(map(str, s)) for s in shapes)}); they cannot share x_T")
        first = req.lanes[0].sampling
        x_T = torch.randn((first.count, *loaded[0][2]), generator=torch.Generator().manual_seed(first.seed))
        lanes = [_Lane(i, spec, m, d, x_T, device) for i, (spec, (m, d, _)) in enumerate(zip(req.lanes, loaded))]
        for lane in lanes:
            lane.kept = set(kept_steps(lane.num_steps, req.max_frames))
        self.planned.emit(SamplerPlan(req.run_id, tuple(s.label for s in req.lanes), tuple(len(l.kept) for l in lanes),
                                      tuple(l.num_steps for l in lanes)))
        active = list(lanes)
        while active:
            if self._cancel.is_set():
                self.finished.emit(req.run_id, "cancelled")
                return
            lane = min(active, key=_Lane.progress)  # lockstep by progress: compared lanes animate together
            step = next(lane.gen, None)
            if step is None:
                active.remove(lane)
                continue
            lane.done_steps += 1
            if step.index in lane.kept:
                self.frame.emit(self._snapshot(lane, step))
            if lane.done_steps >= lane.num_steps:
                active.remove(lane)
        self.finished.emit(req.run_id, "completed")

    def _snapshot(self, lane: _Lane, step) -> SamplerFrame:
        last = step.index == step.num_steps - 1
        xt = lane.mean(step.xt) if last else lane.first(step.xt)  # the final image is the average of N draws
        eps = to_uint8_batch(lane.first(step.eps_pred), EPS_DISPLAY_RANGE) if self.request.with_eps else None
        frame = SamplerFrame(self.request.run_id, lane.number, lane.frames_emitted, step.index, step.num_steps, step.t,
                             to_uint8_batch(xt), to_uint8_batch(lane.mean(step.x0_pred)), eps)
        lane.frames_emitted += 1
        return frame


class SamplerRunner(QObject):
    """Owns one SamplerWorker and its QThread at a time: start, cancel, and a bounded join.

    Its signals carry only the current run's output: late frames of a cancelled run are dropped.
    """

    planned = Signal(object)  # SamplerPlan
    frame = Signal(object)  # SamplerFrame
    finished = Signal(str)  # "completed" | "cancelled"
    failed = Signal(str)  # one-line message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: SamplerWorker | None = None
        self._run_id = 0

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def start(self, request: SamplerRequest) -> None:
        """Start sampling on a fresh thread (a running one is cancelled and joined first)."""
        self.shutdown()
        self._run_id += 1
        request = SamplerRequest(request.lanes, self._run_id, request.with_eps, request.max_frames, request.device)
        worker, thread = SamplerWorker(request), QThread()
        thread.setObjectName("sampler")
        worker.moveToThread(thread)
        worker.planned.connect(self._on_planned)
        worker.frame.connect(self._on_frame)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.started.connect(worker.run)
        self._worker, self._thread = worker, thread
        thread.start()

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Cancel and join; True when no thread is left running."""
        thread, worker = self._thread, self._worker
        if thread is None or worker is None:
            return True
        worker.cancel()
        thread.quit()
        if not thread.wait(int(timeout_s * 1000)):
            log.warning("sampler thread did not stop within %.1f s", timeout_s)
            return False
        self._thread = self._worker = None
        worker.deleteLater()
        thread.deleteLater()
        return True

    @Slot(object)
    def _on_planned(self, plan: SamplerPlan) -> None:
        if plan.run_id == self._run_id:
            self.planned.emit(plan)

    @Slot(object)
    def _on_frame(self, frame: SamplerFrame) -> None:
        if frame.run_id == self._run_id:
            self.frame.emit(frame)

    @Slot(int, str)
    def _on_finished(self, run_id: int, reason: str) -> None:
        if run_id == self._run_id:
            self.finished.emit(reason)

    @Slot(int, str)
    def _on_failed(self, run_id: int, message: str) -> None:
        if run_id == self._run_id:
            self.failed.emit(message)
