"""The 2-D lab's background work as `TaskRunner` tasks, and the snapshots they send the view.

The :class:`~ddpm_studio.app.lab.Lab` (its model, EMA, optimiser) is handed from one task to the next on one
runner, so one thread at a time uses it; the view never calls it. What the view wants to see (the t of the
slider, the two lanes' samplers) is a :class:`LabRequest` it replaces whole (one attribute assignment, atomic
in Python) and the training task reads between steps. What comes back are frozen :class:`LabSnapshot` s of
numbers and numpy arrays.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyqtgraph.functions as fn

from ddpm_studio.app.lab import Field, Lab, LabConfig, LossPoint, SamplerChoice, Trajectory, class_spread, mass_levels
from ddpm_studio.data.points import PointSet
from ddpm_studio.gui.lab.lab_plot import EXTENT

SNAPSHOT_S = 0.1  # the field and the loss while training: 10 per second
LANES_S = 1.0  # the lanes' trajectories while training: once a second
CHUNK = 10  # training steps between looks at the clock and the request
LOOK_SHARE = 4.0  # after a look of d seconds, train at least 4·d seconds before the next


@dataclass(frozen=True)
class LabRequest:
    """What the view shows: the slider's t, each lane's sampler (None: the lane shows the forward process under
    ``schedules[i]``), the number of points and the seed of x_T (shared by both lanes), and the right lane's model:
    None for the lab's own, or a twin (``Lab.twin``: "schedule=linear", "objective=eps") trained alongside."""

    t: int
    lanes: tuple[SamplerChoice | None, SamplerChoice | None]
    schedules: tuple[str | None, str | None] = (None, None)
    count: int = 500
    seed: int = 0
    twin: str | None = None


@dataclass(frozen=True)
class Lane:
    trajectory: Trajectory | None  # None: a forward-process lane
    clouds: np.ndarray | None  # (T, N, 2) the forward process under this lane's schedule
    distance: float
    twin: str | None = None  # the twin model this lane sampled ("schedule=linear"), None: the lab's own
    step: int = 0  # that model's training step
    spread: float | None = None  # a conditional lab's per-class spread of the samples (app.lab.class_spread)


@dataclass(frozen=True)
class LabSnapshot:
    step: int
    losses: tuple[LossPoint, ...]  # new since the previous snapshot of this task
    field: Field | None = None
    lanes: tuple[Lane, Lane] | None = None


@dataclass(frozen=True)
class LabOpened:
    """A new lab: its data, the forward process for every t, and the distance's floor."""

    lab: Lab  # passed back into the next tasks, never used by the GUI thread
    points: np.ndarray  # (N, 2)
    labels: np.ndarray | None
    clouds: np.ndarray  # (T, N, 2)
    density: np.ndarray  # (G, G) the data's smoothed histogram over the plots' [-1.6, 1.6]², x index first
    contours: tuple[np.ndarray, np.ndarray]  # x, y of the density's contour lines, NaN-separated (plot coordinates)
    floor: float
    num_timesteps: int
    snapshot: LabSnapshot
    data_spread: float | None = None  # the data's per-class spread (labelled data), what a lane's spread is against


def open_task(config: LabConfig, request: Callable[[], LabRequest],
              data: PointSet | None = None) -> Callable[..., LabOpened]:
    """A new Lab for ``config`` (on ``data`` when given: points drawn with the mouse) and its first look."""
    def run(should_stop: Callable[[], bool], report: Callable[..., None]) -> LabOpened:
        lab = Lab(config, data)
        clouds = lab.forward_clouds()
        wanted = request()
        density = lab.density(extent=EXTENT)
        return LabOpened(lab=lab, points=lab.data.points, labels=lab.data.labels, clouds=clouds,
                         density=density, contours=density_contours(density, EXTENT),
                         floor=lab.floor(min(wanted.count, 500)), num_timesteps=lab.diffusion.num_timesteps,
                         data_spread=(class_spread(lab.data.points, lab.data.labels)
                                      if lab.data.labels is not None else None),
                         snapshot=look(lab, wanted, lanes=True))
    return run


def density_contours(density: np.ndarray, extent: float,
                     masses: tuple[float, ...] = (0.25, 0.5, 0.75, 0.95)) -> tuple[np.ndarray, np.ndarray]:
    """The contour lines of a (G, G) density (x index first) over [-extent, extent]² at the levels enclosing
    ``masses`` of it (``app.lab.mass_levels``), as NaN-separated x, y for one ``connect="finite"`` curve.
    Marching squares (pyqtgraph's ``isocurve``) in Python: run on the worker, never on the GUI thread."""
    cell = 2 * extent / density.shape[0]
    xs: list[float] = []
    ys: list[float] = []
    padded = np.pad(density, 1)  # closed curves where the density touches the frame
    for level in mass_levels(density, masses):
        for line in fn.isocurve(padded, float(level), connected=True):
            coords = np.asarray(line, dtype=np.float64) - 1.0  # undo the padding; pixel i spans [i, i + 1]
            xs += (-extent + coords[:, 0] * cell).tolist() + [np.nan]
            ys += (-extent + coords[:, 1] * cell).tolist() + [np.nan]
    return np.asarray(xs), np.asarray(ys)


def look(lab: Lab, request: LabRequest, *, lanes: bool, losses: tuple[LossPoint, ...] = ()) -> LabSnapshot:
    """The field at the request's t and (when ``lanes``) both lanes from one x_T."""
    t = min(request.t, lab.diffusion.num_timesteps - 1)
    return LabSnapshot(step=lab.step, losses=losses, field=lab.field(t), lanes=_lanes(lab, request) if lanes else None)


def _lanes(lab: Lab, request: LabRequest) -> tuple[Lane, Lane]:
    x_T = lab.x_T(request.count, request.seed)
    out = []
    for i, (choice, schedule) in enumerate(zip(request.lanes, request.schedules)):
        if choice is None:
            out.append(Lane(trajectory=None, clouds=lab.forward_clouds(schedule=schedule), distance=float("nan")))
            continue
        twin = request.twin if i == 1 else None
        model = lab if twin is None else lab.twin(twin)
        trajectory = model.trajectories(choice, count=request.count, seed=request.seed, x_T=x_T)
        spread = None if trajectory.labels is None else class_spread(trajectory.samples, trajectory.labels)
        out.append(Lane(trajectory=trajectory, clouds=None, distance=model.distance(trajectory.samples), twin=twin,
                        step=model.step, spread=spread))
    return out[0], out[1]


def look_task(lab: Lab, request: LabRequest, *, lanes: bool) -> Callable[..., LabSnapshot]:
    return lambda should_stop, report: look(lab, request, lanes=lanes)


def train_task(lab: Lab, steps: int, request: Callable[[], LabRequest]) -> Callable[..., LabSnapshot]:
    """Train up to ``steps`` more steps (a cancel pauses: the lab keeps its state), reporting the loss and the
    field up to 10 times a second and the lanes up to once a second; the result is the final look with both lanes.

    Looking never takes more than a fifth of the worker's time: after a look that took d seconds the next one
    waits at least 4·d (DDPM's T steps on a busy machine can take a second), so training keeps going.

    When the right lane samples a twin (another schedule or objective), the twin trains chunk for chunk after the
    lab up to the same step (so two models cost twice the time; a twin chosen late catches up)."""
    def run(should_stop: Callable[[], bool], report: Callable[..., None]) -> LabSnapshot:
        pending: list[LossPoint] = []
        next_look = next_lanes = time.monotonic()
        target = lab.step + steps
        while not should_stop():
            twin = lab.twin(request().twin) if request().twin else None
            if lab.step >= target and (twin is None or twin.step >= target):
                break
            if lab.step < target:
                pending += lab.train(min(CHUNK, target - lab.step), every=CHUNK)
            if twin is not None and twin.step < lab.step:
                twin.train(min(CHUNK, lab.step - twin.step), every=CHUNK)
            start = time.monotonic()
            if start >= next_look:
                with_lanes = start >= next_lanes
                report(look(lab, request(), lanes=with_lanes, losses=tuple(pending)), True)
                pending, now = [], time.monotonic()
                cost = now - start
                if with_lanes:
                    next_lanes, next_look = now + max(LANES_S, LOOK_SHARE * cost), now + SNAPSHOT_S
                else:
                    next_look = now + max(SNAPSHOT_S, LOOK_SHARE * cost)
        return look(lab, request(), lanes=True, losses=tuple(pending))
    return run
