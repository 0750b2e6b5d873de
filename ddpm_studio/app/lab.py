"""The 2-D lab's use case: train a point denoiser with the image engine and look at everything it does.

Nothing here is a second implementation: the loss is ``GaussianDiffusion.training_losses``, the optimiser is
the Trainer's AdamW (``training.learner.make_adamw``), the average is ``training.ema.EMA``, every sampler run
is ``engine.sample`` (a row of ``SAMPLERS`` on its grid from ``grids``, x_T from ``engine.draw_x_T``), the
field is ``GaussianDiffusion.predict`` and the distance is the sliced Wasserstein distance of
``evaluation.swd`` on the points themselves. A class-conditional lab trains with the Trainer's label dropout
(``training.rng.RandomStreams.drop_labels``) through ``engine.guidance.Conditioned``, and every guided run is
``engine.guidance.steer`` (classifier-free guidance, or autoguidance by an earlier EMA snapshot of the same
network). The lab only chooses the network (``engine.point_mlp``) and the data (``data.points``).

A :class:`Lab` is used by one thread at a time (the view runs each call as one task on one runner); what it
returns are numpy arrays and frozen dataclasses that may cross threads.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ddpm_studio.data.points import PointSet, load_points
from ddpm_studio.engine import SAMPLERS, DiffusionConfig, GaussianDiffusion, SamplingConfig, draw_x_T, sample
from ddpm_studio.engine.forward import q_sample
from ddpm_studio.engine.guidance import Conditioned, steer
from ddpm_studio.engine.point_mlp import PointMLP, PointMLPConfig
from ddpm_studio.evaluation.swd import sliced_wasserstein
from ddpm_studio.training.ema import EMA
from ddpm_studio.training.learner import make_adamw
from ddpm_studio.training.rng import RandomStreams

__all__ = ["DEFAULT_TRAIN_STEPS", "Field", "Lab", "LabConfig", "LossPoint", "SamplerChoice", "Trajectory",
           "class_spread", "lab_diffusion_config", "mass_levels"]


TWIN_SETTINGS = ("schedule", "objective")  # what a twin lab may change (Lab.twin)
DEFAULT_TRAIN_STEPS = 2000  # one "Train" of the tab and `ddpm-studio lab`: the moons' samples on the data (bench/)


def lab_diffusion_config() -> DiffusionConfig:
    """The lab's diffusion: the image defaults (cosine, v) on a shorter T, so DDPM's T steps draw in a blink."""
    return DiffusionConfig(timesteps=200)


@dataclass
class LabConfig:
    """A lab session: which points, which network, which diffusion and how to train it."""

    data: str = "moons"  # a data.points spec: moons, gmm?modes=8, letter:A, csv:PATH, ...
    points: int = 2000  # points drawn from the distribution (a CSV gives its own)
    data_seed: int = 0
    model: PointMLPConfig = field(default_factory=PointMLPConfig)
    diffusion: DiffusionConfig = field(default_factory=lab_diffusion_config)
    batch_size: int = 256
    lr: float = 2e-3
    ema_decay: float = 0.99  # the warm-up EMA of the image Trainer (training.ema)
    seed: int = 0  # initial weights and the training draws (points, t, ε)
    clip_x0: bool = True  # samplers clip x̂_0 to [-1, 1], as for images (the points live there too)
    conditional: bool = False  # condition on the data's labels (K = its label count, set on model.num_classes)
    class_dropout: float = 0.1  # the Trainer's label dropout: how often a label is replaced by ∅ (CFG's training)
    guide_step: int = 300  # the EMA at this step is kept as autoguidance's weaker model (Karras et al. 2024)

    def validate(self) -> None:
        self.model.validate()
        self.diffusion.validate()
        if self.model.learned_variance != self.diffusion.learned_variance:
            raise ValueError("model.learned_variance must match diffusion.learned_variance")
        for name in ("points", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"{name} must be an integer >= 2, got {value!r}")
        if not self.lr > 0 or not 0 <= self.ema_decay <= 1:
            raise ValueError("lr must be > 0 and ema_decay in [0, 1]")
        if not 0 <= self.class_dropout <= 1:
            raise ValueError(f"class_dropout must be in [0, 1], got {self.class_dropout!r}")
        if isinstance(self.guide_step, bool) or not isinstance(self.guide_step, int) or self.guide_step < 1:
            raise ValueError(f"guide_step must be an integer >= 1, got {self.guide_step!r}")


@dataclass(frozen=True)
class SamplerChoice:
    """One lane of the comparison: a SAMPLERS row, its NFE budget (DDPM: always T), DDIM's η and the steering:
    guidance scale w (1: none), CFG (towards ``klass``, or every class in turn when None) or autoguidance."""

    method: str = "ddim"
    nfe: int = 20
    eta: float = 0.0
    guidance: float = 1.0  # w of engine.guidance (CFG: w = 1 is the conditional model; autoguidance: the main one)
    autoguide: bool = False  # guide by the lab's earlier snapshot instead of by the unconditional branch
    klass: int | None = None  # the class a conditional lab samples; None: sample i gets class i mod K

    def sampling_config(self, num_timesteps: int, *, seed: int, count: int, clip_x0: bool) -> SamplingConfig:
        row = SAMPLERS.lookup(self.method)
        config = SamplingConfig(method=self.method, eta=self.eta, seed=seed, count=count, clip_x0=clip_x0,
                                steps=num_timesteps if row.fixed_length else 1)
        return config if row.fixed_length else config.with_nfe(min(self.nfe, row.cost(num_timesteps)),
                                                               num_timesteps)

    @property
    def steered(self) -> bool:
        return self.guidance != 1.0 or self.autoguide

    @property
    def label(self) -> str:
        text = SAMPLERS.lookup(self.method).short_label + (f" η={self.eta:g}" if self.eta else "")
        if self.autoguide:
            text += f", autoguidance w={self.guidance:g}"
        elif self.guidance != 1.0:
            text += f", CFG w={self.guidance:g}"
        return text + (f", class {self.klass}" if self.klass is not None else "")


@dataclass(frozen=True)
class LossPoint:
    step: int
    loss: float  # mean of the training losses since the previous point


@dataclass(frozen=True)
class Trajectory:
    """Every state of one sampler run: ``paths[0]`` is x_T, ``paths[k]`` the k-th SamplerStep's xt."""

    choice: SamplerChoice
    nfe: int
    timesteps: tuple[int, ...]
    paths: np.ndarray  # (S + 1, N, 2)
    x0_preds: np.ndarray  # (S, N, 2)
    labels: np.ndarray | None = None  # (N,) the class each sample was drawn for (a conditional lab)

    @property
    def samples(self) -> np.ndarray:  # (N, 2)
        return self.paths[-1]


@dataclass(frozen=True)
class Field:
    """The network's view at timestep t on a grid of points x_t: its ε̂, x̂_0 and score −ε̂/√(1−ᾱ_t)."""

    t: int
    positions: np.ndarray  # (G*G, 2)
    eps: np.ndarray  # (G*G, 2)
    x0: np.ndarray  # (G*G, 2)
    score: np.ndarray  # (G*G, 2)


class Lab:
    """One point set, one PointMLP with its EMA and optimiser, trained and probed through the image engine."""

    def __init__(self, config: LabConfig, data: PointSet | None = None) -> None:
        config.validate()
        self.config = config
        self.data = data if data is not None else load_points(config.data, config.points, config.data_seed)
        self.diffusion = GaussianDiffusion(config.diffusion)
        self._x0 = torch.from_numpy(self.data.points)
        self._y: torch.Tensor | None = None
        self._twins: dict[str, Lab] = {}
        self.model_config = config.model
        if config.conditional:
            if self.data.labels is None:
                raise ValueError(f"{self.data.spec} has no labels to condition on; choose a labelled set "
                                 "(gmm, moons, spiral, rings or a CSV with a label column)")
            if int(self.data.labels.min()) < 0:
                raise ValueError(f"{self.data.spec}: class labels must be >= 0, got {int(self.data.labels.min())}")
            self._y = torch.from_numpy(self.data.labels)
            self.model_config = replace(config.model, num_classes=int(self.data.labels.max()) + 1)
        self.reset()

    @property
    def num_classes(self) -> int:
        """K of a conditional lab (0: unconditional)."""
        return self.model_config.num_classes

    # ---- training --------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Fresh weights, EMA, optimiser and training draws (the same seed gives the same run)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            self.model = PointMLP(self.model_config)
        self.ema = EMA(self.model, self.config.ema_decay)
        self.optimizer = make_adamw(self.model, torch.device("cpu"), self.config.lr, 0.0)
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.streams = RandomStreams(self.config.seed)  # its sampler stream draws the label dropout
        self.guide: PointMLP | None = None  # the EMA snapshot at guide_step: autoguidance's weaker model
        self.step = 0
        self.history: list[LossPoint] = []
        for twin in self._twins.values():
            twin.reset()

    def twin(self, change: str) -> Lab:
        """This lab's twin for ``change`` (``"schedule=linear"``, ``"objective=eps"``): the same points, seed,
        network and training with one diffusion setting changed, made once and kept, so that two schedules or two
        objectives can be sampled side by side from the same x_T. Two models: training both costs twice."""
        name, _, value = change.partition("=")
        if name not in TWIN_SETTINGS or not value:
            raise ValueError(f"a twin changes one of {', '.join(TWIN_SETTINGS)} (e.g. schedule=linear), "
                             f"got {change!r}")
        if change not in self._twins:
            self._twins[change] = Lab(with_changes(self.config, **{name: value}), self.data)
        return self._twins[change]

    def train(self, steps: int, *, should_stop: Callable[[], bool] = lambda: False,
              report: Callable[[LossPoint], None] | None = None, every: int = 10) -> list[LossPoint]:
        """``steps`` optimiser steps (Ho et al. Algorithm 1) unless ``should_stop``; a LossPoint every ``every``."""
        points: list[LossPoint] = []
        total, count = 0.0, 0
        for _ in range(steps):
            if should_stop():
                break
            total += self._train_step()
            count += 1
            if count == every:
                points.append(self._record(total / count, report))
                total, count = 0.0, 0
        if count:
            points.append(self._record(total / count, report))
        return points

    def _train_step(self) -> float:
        g, n, batch = self.generator, len(self.data), self.config.batch_size
        index = torch.randint(0, n, (batch,), generator=g)
        x0 = self._x0[index]
        t = torch.randint(0, self.diffusion.num_timesteps, (batch,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        self.model.train()
        model = self.model
        if self._y is not None:  # Ho & Salimans Algorithm 1: some labels become ∅ (row K), as the Trainer does
            model = Conditioned(self.model, self.streams.drop_labels(self._y[index], self.config.class_dropout,
                                                                     self.num_classes))
        loss = self.diffusion.training_losses(model, x0, t, noise=noise).loss.mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.ema.update(self.model)
        self.step += 1
        if self.step == self.config.guide_step:
            self.guide = copy.deepcopy(self.denoiser)
        return float(loss.detach())

    def _record(self, loss: float, report: Callable[[LossPoint], None] | None) -> LossPoint:
        point = LossPoint(self.step, loss)
        self.history.append(point)
        if report is not None:
            report(point)
        return point

    @property
    def denoiser(self) -> PointMLP:
        """The EMA network, the one that samples (as for images)."""
        return self.ema.module  # type: ignore[return-value]

    # ---- the forward process ---------------------------------------------------------------------------

    def forward_cloud(self, t: int, *, count: int | None = None, seed: int = 0) -> np.ndarray:
        """The data at timestep t, x_t ~ q(x_t | x_0) (eq. 4), with one fixed noise per seed (a slider reuses it)."""
        x0 = self._x0[: count or len(self.data)]
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
        tt = torch.full((x0.shape[0],), self._check_t(t), dtype=torch.long)
        return q_sample(self.diffusion.schedule_for(x0), x0, tt, noise).numpy()

    def forward_clouds(self, *, count: int | None = None, seed: int = 0, schedule: str | None = None) -> np.ndarray:
        """x_t for every t at once, (T, N, 2) float32, with one fixed noise: what a t slider scrubs through.
        ``schedule`` swaps the schedule (same T) to compare paths to noise."""
        diffusion = self.diffusion if schedule is None else GaussianDiffusion(
            replace(self.config.diffusion, schedule=schedule))
        x0 = self._x0[: count or len(self.data)]
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
        schedule_x = diffusion.schedule_for(x0)
        clouds = [q_sample(schedule_x, x0, torch.full((x0.shape[0],), t, dtype=torch.long), noise)
                  for t in range(diffusion.num_timesteps)]
        return torch.stack(clouds).numpy()

    def _check_t(self, t: int) -> int:
        if not 0 <= t < self.diffusion.num_timesteps:
            raise ValueError(f"t must be in 0..{self.diffusion.num_timesteps - 1}, got {t}")
        return int(t)

    def density(self, *, grid: int = 96, extent: float = 1.6, blur: float = 1.5) -> np.ndarray:
        """The data's density on a grid×grid lattice over [-extent, extent]² (x index first, like
        ``np.histogram2d``): a binned Gaussian kernel density estimate (the histogram smoothed by a Gaussian of
        ``blur`` cells, σ = blur · 2·extent/grid); it sums to 1 over the lattice."""
        edges = np.linspace(-extent, extent, grid + 1)
        hist, _, _ = np.histogram2d(self.data.points[:, 0], self.data.points[:, 1], bins=(edges, edges))
        radius = max(1, int(3 * blur))
        kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / blur) ** 2)
        kernel /= kernel.sum()
        for axis in (0, 1):
            hist = np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), axis, hist)
        return (hist / hist.sum()).astype(np.float32)

    # ---- the reverse process ---------------------------------------------------------------------------

    def x_T(self, count: int, seed: int = 0) -> torch.Tensor:
        return draw_x_T(seed, (count, self.config.model.dim))

    @torch.no_grad()
    def trajectories(self, choice: SamplerChoice, *, count: int = 500, seed: int = 0,
                     x_T: torch.Tensor | None = None) -> Trajectory:
        """Run ``choice`` through ``engine.sample`` from x_T (default ``draw_x_T(seed)``), keeping every xt.

        Passing the same ``x_T`` with another ``seed`` keeps the start and changes only the fresh noise z."""
        shape = (count, self.config.model.dim)
        config = choice.sampling_config(self.diffusion.num_timesteps, seed=seed, count=count,
                                        clip_x0=self.config.clip_x0)
        start = self.x_T(count, seed) if x_T is None else x_T
        self.denoiser.eval()
        labels = self.sample_labels(choice, count)
        model = self.steered(choice, count, labels)
        states, x0_preds, timesteps = [start.numpy()], [], []
        for step in sample(model, self.diffusion, shape, config, noise=start):
            states.append(step.xt.numpy())
            x0_preds.append(step.x0_pred.numpy())
            timesteps.append(step.t)
        return Trajectory(choice=choice, nfe=config.nfe(self.diffusion.num_timesteps), timesteps=tuple(timesteps),
                          paths=np.stack(states), x0_preds=np.stack(x0_preds),
                          labels=None if labels is None else np.asarray(labels, dtype=np.int64))

    def sample_labels(self, choice: SamplerChoice, count: int) -> list[int] | None:
        """The class of each of ``count`` samples: ``choice.klass`` for all, else i mod K; None unconditional."""
        if not self.num_classes:
            if choice.klass is not None:
                raise ValueError("a class was asked of an unconditional lab; tick 'class-conditional' and retrain")
            return None
        if choice.klass is not None:
            return [choice.klass] * count
        return [i % self.num_classes for i in range(count)]

    def steered(self, choice: SamplerChoice, count: int, labels: list[int] | None = None):
        """The model the sampler calls: ``engine.guidance.steer`` of the EMA network for the choice's guidance
        (CFG towards ``labels``, or autoguidance by the snapshot at guide_step), the network itself if none."""
        guide = None
        if choice.guidance != 1.0 and not choice.autoguide and not self.num_classes:
            raise ValueError("classifier-free guidance (w != 1) needs a class-conditional lab: tick "
                             "'class-conditional' on labelled points, or use autoguidance")
        if choice.autoguide:
            guide = self.guide
            if guide is None:
                raise ValueError(f"autoguidance needs the earlier snapshot taken at step {self.config.guide_step}; "
                                 f"train past it first (now at step {self.step})")
        return steer(self.denoiser, count, labels=labels or (), guidance=choice.guidance, guide=guide)

    @torch.no_grad()
    def field(self, t: int, *, grid: int = 21, extent: float = 1.5) -> Field:
        """ε̂, x̂_0 and the score at timestep t on a grid×grid lattice over [-extent, extent]²."""
        axis = torch.linspace(-extent, extent, grid)
        xs, ys = torch.meshgrid(axis, axis, indexing="xy")
        xt = torch.stack([xs.reshape(-1), ys.reshape(-1)], 1)
        tt = torch.full((xt.shape[0],), self._check_t(t), dtype=torch.long)
        self.denoiser.eval()
        prediction = self.diffusion.predict(self.denoiser, xt, tt, clip_x0=False)
        sigma = float(self.diffusion.schedule.sqrt_one_minus_alphas_cumprod[t])
        return Field(t=t, positions=xt.numpy(), eps=prediction.eps.numpy(), x0=prediction.x0.numpy(),
                     score=(-prediction.eps / sigma).numpy())

    # ---- how close are the samples -----------------------------------------------------------------------

    def distance(self, samples: np.ndarray, *, seed: int = 0) -> float:
        """Sliced Wasserstein distance (evaluation.swd) between ``samples`` and as many training points."""
        reference = self._subset(len(samples), seed)[0]
        return swd_points(samples, reference, seed=seed)

    def floor(self, count: int = 500, *, seed: int = 0) -> float:
        """The data-vs-data floor: the same distance between two disjoint subsets of the data (with replacement
        when the data has fewer than 2·count points)."""
        a, b = self._subset(count, seed + 1)
        return swd_points(a, b, seed=seed)

    def _subset(self, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        n = len(self.data)
        if 2 * count <= n:
            order = rng.permutation(n)
            return self.data.points[order[:count]], self.data.points[order[count:2 * count]]
        return self.data.points[rng.integers(0, n, count)], self.data.points[rng.integers(0, n, count)]

    def nearest_data_distance(self, samples: np.ndarray) -> np.ndarray:
        """Each sample's distance to its nearest training point (N,): memorisation shows as zeros."""
        d = torch.cdist(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), self._x0)
        return d.min(dim=1).values.numpy()


def swd_points(a: np.ndarray, b: np.ndarray, *, seed: int = 0, directions: int = 256, repeats: int = 4) -> float:
    """SWD between two equal-size point sets: evaluation.swd's projections on the raw coordinates."""
    generator = torch.Generator().manual_seed(seed)
    return sliced_wasserstein(torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32),
                              generator, directions=directions, repeats=repeats)


def mass_levels(density: np.ndarray, masses: tuple[float, ...] = (0.25, 0.5, 0.75, 0.95)) -> np.ndarray:
    """The density levels whose superlevel sets hold ``masses`` of the probability (highest-density regions):
    the contour at ``levels[i]`` encloses the densest cells that together carry ``masses[i]``. Ascending masses
    give descending levels."""
    values = np.sort(density.ravel())[::-1]
    cumulative = np.cumsum(values) / values.sum()
    index = np.searchsorted(cumulative, np.asarray(masses, dtype=np.float64))
    return values[np.minimum(index, len(values) - 1)]


def class_spread(samples: np.ndarray, labels: np.ndarray) -> float:
    """The mean over classes of the samples' RMS distance to their own class's mean: how much of each mode the
    samples cover (mode dropping under strong guidance shows as a smaller number)."""
    spreads = [float(np.sqrt(((samples[labels == k] - samples[labels == k].mean(0)) ** 2).sum(1).mean()))
               for k in np.unique(labels)]
    return float(np.mean(spreads))


def with_changes(config: LabConfig, **diffusion: object) -> LabConfig:
    """A copy of ``config`` with DiffusionConfig fields changed (schedule=..., objective=...)."""
    return replace(config, diffusion=replace(config.diffusion, **diffusion))
