"""The 2-D lab's figures as pictures, drawn with Pillow (matplotlib is not a dependency): point clouds, sampler
trajectories as paths, the learned field as segments x_t → x̂_0, and the loss curve. The CLI's `lab` writes them
through `app.exports.save_png`; the GUI draws the same things live with pyqtgraph."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ddpm_studio.app.lab import Field, LossPoint, Trajectory
from ddpm_studio.app.sweep_plot import SAMPLER_COLOURS, _font

DATA_COLOUR = (170, 170, 170)
EXTENT = 1.6  # the panels show [-EXTENT, EXTENT]²: the data's [-1, 1] and the noise around it


class _Panel:
    """A square canvas mapping [-EXTENT, EXTENT]² to pixels (y up), with a title line."""

    def __init__(self, size: int, title: str) -> None:
        self.size, self.top = size, 22
        self.image = Image.new("RGB", (size, size + self.top), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.draw.text((6, 4), title, fill=(0, 0, 0), font=_font(14))
        self.draw.rectangle([0, self.top, size - 1, size + self.top - 1], outline=(200, 200, 200))

    def xy(self, points: np.ndarray) -> np.ndarray:
        scale = self.size / (2 * EXTENT)
        return np.stack([(points[:, 0] + EXTENT) * scale, self.top + (EXTENT - points[:, 1]) * scale], 1)

    def dots(self, points: np.ndarray, colour: tuple[int, int, int], radius: float = 1.5) -> None:
        for x, y in self.xy(points):
            self.draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)

    def lines(self, paths: np.ndarray, colour: tuple[int, int, int]) -> None:
        """paths: (S, N, 2), one polyline per point."""
        for n in range(paths.shape[1]):
            self.draw.line([tuple(p) for p in self.xy(paths[:, n])], fill=colour, width=1)

    def segments(self, starts: np.ndarray, ends: np.ndarray, colour: tuple[int, int, int]) -> None:
        for (x0, y0), (x1, y1) in zip(self.xy(starts), self.xy(ends)):
            self.draw.line([(x0, y0), (x1, y1)], fill=colour, width=1)
            self.draw.ellipse([x1 - 1.5, y1 - 1.5, x1 + 1.5, y1 + 1.5], fill=colour)


def _colour(method: str) -> tuple[int, int, int]:
    return SAMPLER_COLOURS.get(method, (90, 60, 160))


def trajectory_panel(data: np.ndarray, trajectory: Trajectory, distance: float, floor: float, *,
                     paths: int = 40, size: int = 360, model: str | None = None) -> np.ndarray:
    """The data (grey), ``paths`` trajectories from x_T to x_0 and every sample, titled with the distance (and
    the twin ``model`` that sampled, e.g. "objective=eps")."""
    choice = trajectory.choice
    title = f"{choice.label}, {trajectory.nfe} NFE: SWD {distance:.3f} (floor {floor:.3f})"
    panel = _Panel(size, title if model is None else f"[{model}] {title}")
    panel.dots(data, DATA_COLOUR, 1.2)
    faint = tuple(int(c + (255 - c) * 0.55) for c in _colour(choice.method))
    paths = paths if len(trajectory.timesteps) <= 60 else paths // 3  # long stochastic paths: fewer of them
    panel.lines(trajectory.paths[:, :paths], faint)  # type: ignore[arg-type]
    panel.dots(trajectory.samples, _colour(choice.method), 1.6)
    return np.asarray(panel.image)


def field_panel(cloud: np.ndarray, field: Field, num_timesteps: int, *, size: int = 360,
                scale: float = 0.3) -> np.ndarray:
    """The forward cloud at t (grey) and the field: a segment from each grid point x_t towards its x̂_0."""
    panel = _Panel(size, f"t = {field.t} of {num_timesteps}: x_t (grey) and x_t -> x0 prediction (x{scale:g})")
    panel.dots(cloud, DATA_COLOUR, 1.2)
    ends = field.positions + scale * (field.x0 - field.positions)
    panel.segments(field.positions, ends, (0, 114, 178))
    return np.asarray(panel.image)


def loss_panel(history: Sequence[LossPoint], *, size: int = 360) -> np.ndarray:
    """The training loss against the step (linear axes, minimum and maximum written on the axis)."""
    panel = _Panel(size, "training loss")
    if len(history) >= 2:
        steps = np.array([p.step for p in history], dtype=float)
        loss = np.array([p.loss for p in history], dtype=float)
        low, high = float(loss.min()), float(loss.max())
        span = max(high - low, 1e-9)
        margin = 30
        xs = margin + (steps - steps[0]) / max(steps[-1] - steps[0], 1) * (size - 2 * margin)
        ys = panel.top + margin + (high - loss) / span * (size - 2 * margin)
        panel.draw.line(list(zip(xs.tolist(), ys.tolist())), fill=(0, 0, 0), width=1)
        font = _font(12)
        panel.draw.text((4, panel.top + margin - 14), f"{high:.3f}", fill=(90, 90, 90), font=font)
        panel.draw.text((4, panel.top + size - margin + 2), f"{low:.3f}   step {int(steps[-1])}",
                        fill=(90, 90, 90), font=font)
    return np.asarray(panel.image)
