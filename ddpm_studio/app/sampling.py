"""Sampling sessions: one or more "lanes" of the reverse process, each through the engine's `sample()`.

Both faces sample here: the CLI's `sample` (one lane, a progress bar, files) and the sampler view (one lane,
or two to compare, streamed to the screen by a thin Qt worker). A lane is a model plus a `SamplingConfig`;
its sampler is whatever `engine.sample()` dispatches to, seeded from the config (so the same settings give
the same images in either face), and its steps are validated by the engine alone (steps > T is an error, not
silently clamped). Only uint8 snapshots leave a session (`SampleFrame`), so they may cross threads.

Lanes with the same seed and image shape start from the same x_T (the dispatcher draws it first from the
seed), so a comparison (DDPM vs DDIM, two checkpoints, two η) starts from the same noise; they advance in
lockstep by progress so they animate together.

"Average N draws" (the DDPM write-up's note that averaging several denoised draws trades variety for
sharpness): every image runs N chains that share its x_T but draw independent fresh noise z at each
ancestral step. The shown predicted x_0, and the final image, are the mean over the N chains, a Monte
Carlo estimate of E[x_0 | x_T]: cleaner, but the chains' differing details average away too. With N = 1
it is ordinary sampling; deterministic samplers (DDIM with η = 0) give N identical chains.

Steering (issue 20): a lane may ask a class-conditional model for a class by name (`class_name`), or for
"all" of them: one row of `count` images per class, every row from the same x_T, so the rows differ by class
alone. `sampling.guidance` is the classifier-free guidance scale w, or, with a `guide` checkpoint (a weaker model
of the same shape and data: an earlier checkpoint, another run), the autoguidance scale (`engine.guidance`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ddpm_studio.app.diffusers_model import is_diffusers_folder, load_diffusers_model
from ddpm_studio.app.posthoc import PosthocError, posthoc_state
from ddpm_studio.data.transforms import to_uint8
from ddpm_studio.engine import GaussianDiffusion, SamplerStep, SamplingConfig, draw_x_T, sample
from ddpm_studio.engine.precision import with_precision
from ddpm_studio.training.checkpoint import load_model, load_weights, resolve_checkpoint
from ddpm_studio.training.config import RunConfig
from ddpm_studio.training.devices import inference_dtype, resolve_device

ALL_CLASSES = "all"  # class_name asking for one row per class
EPS_DISPLAY_RANGE = 3.0  # ε ~ N(0, I): show ±3σ across black..white
MAX_FRAMES = 250  # frames kept per lane by default (spread evenly, first and last kept)


@dataclass(frozen=True)
class LaneSpec:
    """One sampling run: a checkpoint (a .safetensors file or a run folder: its latest checkpoint)."""

    label: str
    checkpoint: Path
    sampling: SamplingConfig
    average: int = 1  # N chains per image averaged for the shown x_0 and the final image
    class_name: str | None = None  # a class of a conditional model, ALL_CLASSES (a row each), or None (no class)
    guide: Path | None = None  # a weaker checkpoint: sampling.guidance is then the autoguidance scale
    ema_length: float | None = None  # σ_rel of the run's post-hoc EMA (app.posthoc); None: the checkpoint's EMA


@dataclass(frozen=True)
class SamplingPlan:
    """Known once every lane has started: how many frames each lane will give and its sampler steps."""

    labels: tuple[str, ...]
    frame_counts: tuple[int, ...]
    num_steps: tuple[int, ...]
    rows: tuple[tuple[str, ...], ...] = ()  # per lane: the class of each image row ("all classes"), else ()

    def row_names(self, lane: int) -> tuple[str, ...]:
        """The class names of `lane`'s image rows (one row per class), or () for an ordinary grid."""
        return self.rows[lane] if lane < len(self.rows) else ()


@dataclass(frozen=True)
class SampleFrame:
    """One kept reverse step of one lane, as uint8 (B, H, W, C) arrays."""

    lane: int
    frame: int  # 0-based position among this lane's kept frames
    index: int  # sampler step index, 0 .. num_steps - 1
    num_steps: int
    t: int
    xt: np.ndarray  # the state after this step; at the last step the images (the mean of N draws)
    x0: np.ndarray  # the predicted x_0 (the mean of N draws)
    eps: np.ndarray | None = field(default=None)  # the predicted noise of the first draw, if asked for


def kept_steps(num_steps: int, max_frames: int) -> list[int]:
    """Step indices that become frames: all of them, or `max_frames` spread evenly from first to last."""
    if num_steps <= max_frames or max_frames < 2:
        return list(range(num_steps)) if num_steps <= max(1, max_frames) else [num_steps - 1]
    return sorted({round(i * (num_steps - 1) / (max_frames - 1)) for i in range(max_frames)})


def to_uint8_batch(x: torch.Tensor, scale: float = 1.0) -> np.ndarray:
    """(B, C, H, W) in [-scale, scale] -> (B, H, W, C) uint8 (clipped), via `data.transforms.to_uint8`."""
    return to_uint8(x.detach().float().cpu() / scale)


class _Lane:
    """A started sampler generator of one lane, with its averaging and frame bookkeeping."""

    def __init__(self, number: int, spec: LaneSpec, steps: Iterator[SamplerStep], max_frames: int) -> None:
        self.number, self.spec, self.average = number, spec, max(1, spec.average)
        self._steps = steps
        self.pending: SamplerStep | None = next(steps)  # the engine validates the settings here
        self.num_steps = self.pending.num_steps
        self.kept = set(kept_steps(self.num_steps, max_frames))
        self.done_steps = 0
        self.frames_emitted = 0

    def progress(self) -> float:
        return self.done_steps / self.num_steps

    def next_step(self) -> SamplerStep | None:
        step, self.pending = self.pending, None
        step = step if step is not None else next(self._steps, None)
        if step is not None:
            self.done_steps += 1
        return step

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """(B·N, C, H, W) -> (B, C, H, W): the mean over each image's N chains."""
        return x.reshape(x.shape[0] // self.average, self.average, *x.shape[1:]).mean(dim=1)

    def first(self, x: torch.Tensor) -> torch.Tensor:
        """(B·N, C, H, W) -> (B, C, H, W): each image's first chain."""
        return x[:: self.average]


@dataclass(frozen=True)
class LoadedModel:
    """A network in eval mode (a checkpoint's EMA weights, or a diffusers model), its diffusion, the (C, H, W) it
    makes, the data it was trained on (None when unknown: a published model) and the file whose hash keys caches."""

    model: torch.nn.Module
    diffusion: GaussianDiffusion
    shape: tuple[int, int, int]
    data_source: str | None = None
    weights: Path | None = None
    config: RunConfig | None = None  # the run's configuration (class names); None: a published model

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names of a conditional model, in label order; () when unconditional."""
        return () if self.config is None else self.config.data.classes


def load_for_sampling(checkpoint: str | Path, device: str | torch.device, *,
                      precision: str = "auto", ema_length: float | None = None) -> LoadedModel:
    """The one model load of every inference use case (sampling, sweep, probe): a checkpoint file or run
    folder (its latest usable checkpoint, EMA weights), or a diffusers model folder (`app.diffusers_model`).
    `precision` is the network's dtype (`training.devices.inference_dtype`: "auto" = bf16 / fp16 on CUDA,
    float32 elsewhere); the samplers' own arithmetic stays in float32 / float64 (`engine.precision`).
    `ema_length` (σ_rel): the run's post-hoc EMA of that length instead of its EMA (`app.posthoc`; PosthocError,
    one line, for a run without snapshots or a length they cannot reconstruct)."""
    device = resolve_device(device)
    dtype = inference_dtype(precision, device)
    if is_diffusers_folder(checkpoint):
        if ema_length is not None:
            raise PosthocError(f"{Path(checkpoint).name} is a published model: it has no post-hoc EMA snapshots")
        found = load_diffusers_model(checkpoint, device=device)
        return LoadedModel(with_precision(found.model, device, dtype), found.diffusion, found.shape, None,
                           found.weights)
    state = posthoc_state(checkpoint, ema_length)[0] if ema_length is not None else None  # a bad length: no load
    model, diffusion, config = load_model(Path(checkpoint), device=device, ema=True)
    if state is not None:
        load_weights(model, state, name=f"post-hoc EMA {ema_length:g}")
        model.to(device)
    model.eval()
    shape = (config.model.in_channels, config.data.image_size, config.data.image_size)
    return LoadedModel(with_precision(model, device, dtype), diffusion, shape, config.data.source,
                       resolve_checkpoint(Path(checkpoint)), config)


def class_labels(classes: tuple[str, ...], class_name: str | None) -> tuple[int, ...]:
    """The labels of `class_name` among a model's `classes`: () for None, every class for ALL_CLASSES.
    ValueError (one line) for a class asked of an unconditional model or an unknown name."""
    if class_name is None:
        return ()
    if not classes:
        raise ValueError(f"class {class_name!r} asked of an unconditional model (it was trained without classes)")
    if class_name == ALL_CLASSES:
        return tuple(range(len(classes)))
    if class_name not in classes:
        shown = ", ".join(classes[:12]) + (", ..." if len(classes) > 12 else "")
        raise ValueError(f"unknown class {class_name!r}; the model's classes are {shown} (or {ALL_CLASSES})")
    return (classes.index(class_name),)


def steered(sampling: SamplingConfig, classes: tuple[str, ...], class_name: str | None) -> SamplingConfig:
    """`sampling` with the labels of `class_name`; for ALL_CLASSES, K rows of `sampling.count` images (row k of
    class k): count becomes K · count."""
    labels = class_labels(classes, class_name)
    if class_name != ALL_CLASSES:
        return replace(sampling, labels=labels) if labels else sampling
    rows = tuple(k for k in labels for _ in range(sampling.count))
    return replace(sampling, count=len(rows), labels=rows)


def guide_mismatch(main: RunConfig, weak: RunConfig) -> str | None:
    """Why `weak` cannot guide `main` (autoguidance needs the same images, process, output and data), or None."""
    checks = (("image shape", (main.data.channels, main.data.image_size), (weak.data.channels, weak.data.image_size)),
              ("timesteps T", main.diffusion.timesteps, weak.diffusion.timesteps),
              ("noise schedule", main.diffusion.schedule, weak.diffusion.schedule),
              ("objective", main.diffusion.objective, weak.diffusion.objective),
              ("data source", main.data.source, weak.data.source),
              ("classes", main.data.classes, weak.data.classes))
    for what, a, b in checks:
        if a != b:
            return f"the guide model differs in {what} ({_words(b)} vs the model's {_words(a)})"
    return None


def _words(value: object) -> str:
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return f"{value[0]}x{value[1]}x{value[1]}"
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "none"
    return str(value)


class SamplingSession:
    """Load each lane's model, start its sampler through `engine.sample()`, and step the lanes in lockstep.

    `models` (checkpoint path -> LoadedModel) is filled as models load; pass one session's `models` to the next
    session to sample again without loading again (chunked sampling, `app.chunked_sampling`)."""

    def __init__(self, lanes: tuple[LaneSpec, ...], *, device: str | torch.device = "auto",
                 max_frames: int = MAX_FRAMES, with_eps: bool = False,
                 models: dict[Path, LoadedModel] | None = None, precision: str = "auto") -> None:
        if not lanes:
            raise ValueError("nothing to sample: no lanes")
        self.specs, self.max_frames, self.with_eps = tuple(lanes), max_frames, with_eps
        self.device, self.precision = resolve_device(device), precision
        inference_dtype(precision, self.device)  # an unknown precision is said before any model loads
        self.models: dict[Path, LoadedModel] = {} if models is None else models
        self._lanes: list[_Lane] = []
        self._posthoc: dict[tuple[Path, float], LoadedModel] = {}  # (checkpoint, σ_rel) -> post-hoc EMA model

    def start(self) -> SamplingPlan:
        """Load the models, check they make the same image shape, and take each lane's first step."""
        loaded = []
        for spec in self.specs:
            spec.sampling.validate()
            found = self._load(spec.checkpoint) if spec.ema_length is None else self._load_posthoc(spec)
            guide = self._guide(found, spec.guide)
            loaded.append((found, steered(spec.sampling, found.classes, spec.class_name), guide))
        shapes = {found.shape for found, _, _ in loaded}
        if len(shapes) > 1:
            raise ValueError("the models make different image shapes "
                             f"({' vs '.join('x'.join(map(str, s)) for s in shapes)}); they cannot share x_T")
        self._lanes = [_Lane(i, spec, self._sampler(spec, config, found, guide), self.max_frames)
                       for i, (spec, (found, config, guide)) in enumerate(zip(self.specs, loaded))]
        rows = tuple(found.classes if spec.class_name == ALL_CLASSES else () for spec, (found, _, _)
                     in zip(self.specs, loaded))
        return SamplingPlan(tuple(s.label for s in self.specs), tuple(len(lane.kept) for lane in self._lanes),
                            tuple(lane.num_steps for lane in self._lanes), rows)

    def _load(self, checkpoint: Path) -> LoadedModel:
        path = Path(checkpoint)
        if path not in self.models:
            self.models[path] = load_for_sampling(path, self.device, precision=self.precision)
        return self.models[path]

    def _load_posthoc(self, spec: LaneSpec) -> LoadedModel:
        key = (Path(spec.checkpoint), float(spec.ema_length or 0.0))
        if key not in self._posthoc:
            self._posthoc[key] = load_for_sampling(key[0], self.device, precision=self.precision,
                                                   ema_length=spec.ema_length)
        return self._posthoc[key]

    def _guide(self, main: LoadedModel, checkpoint: Path | None) -> torch.nn.Module | None:
        """The autoguidance model, checked against the main one (ValueError naming the difference)."""
        if checkpoint is None:
            return None
        guide = self._load(checkpoint)
        problem = None if main.config is None or guide.config is None else guide_mismatch(main.config, guide.config)
        if problem is not None:
            raise ValueError(f"{Path(checkpoint).name} cannot guide this model: {problem}")
        return guide.model

    def _sampler(self, spec: LaneSpec, cfg: SamplingConfig, found: LoadedModel,
                 guide: torch.nn.Module | None) -> Iterator[SamplerStep]:
        """`engine.sample()`: it draws x_T from the seed itself; N draws share each image's x_T; the rows of
        ALL_CLASSES share theirs."""
        model, diffusion, shape, average = found.model, found.diffusion, found.shape, max(1, spec.average)
        rows = len(found.classes) if spec.class_name == ALL_CLASSES else 1
        if average == 1 and rows == 1:
            return sample(model, diffusion, (cfg.count, *shape), cfg, device=self.device, guide=guide)
        x_T = draw_x_T(cfg.seed, (cfg.count // rows, *shape)).repeat(rows, 1, 1, 1)  # (K·n, C, H, W)
        noise = x_T.repeat_interleave(average, dim=0)  # (B·N, C, H, W)
        return sample(model, diffusion, tuple(noise.shape), cfg, noise=noise, device=self.device, guide=guide)

    def frames(self, *, should_stop: Callable[[], bool] | None = None,
               on_step: Callable[[int, SamplerStep], None] | None = None) -> Iterator[SampleFrame]:
        """The kept frames of every lane, the lane furthest behind stepping first. Stops early (quietly)
        when `should_stop()` answers True; `on_step(lane, step)` sees every step (a progress bar)."""
        if not self._lanes:
            self.start()
        active = list(self._lanes)
        while active:
            if should_stop is not None and should_stop():
                return
            lane = min(active, key=_Lane.progress)  # lockstep by progress: compared lanes animate together
            step = lane.next_step()
            if step is None:
                active.remove(lane)
                continue
            if on_step is not None:
                on_step(lane.number, step)
            if step.index in lane.kept:
                yield self._snapshot(lane, step)
            if lane.done_steps >= lane.num_steps:
                active.remove(lane)

    def _snapshot(self, lane: _Lane, step: SamplerStep) -> SampleFrame:
        last = step.index == step.num_steps - 1
        xt = lane.mean(step.xt) if last else lane.first(step.xt)  # the final image is the average of N draws
        eps = to_uint8_batch(lane.first(step.eps_pred), EPS_DISPLAY_RANGE) if self.with_eps else None
        frame = SampleFrame(lane.number, lane.frames_emitted, step.index, step.num_steps, step.t,
                            to_uint8_batch(xt), to_uint8_batch(lane.mean(step.x0_pred)), eps)
        lane.frames_emitted += 1
        return frame
