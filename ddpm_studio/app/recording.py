"""The frames of one sampling session, per lane, and the pictures exported from them (grid, GIF frames, strip).

A run has one lane, or two that start from the same x_T to compare. Lanes can have different frame
counts (DDPM with T steps beside DDIM with 50): the lane with the most frames drives the player, and
`lane_frame` maps a player position onto every other lane by progress, so both lanes end together.
Qt-free: frames are `SampleFrame`s of uint8 arrays; the pictures are (H, W, 3) uint8 arrays.

Exported pictures follow an `ExportStyle`: a nearest-neighbour scale (0 = `exports.auto_scale`) and captions
that say what a picture is (`describe_lane`: sampler, steps, η, checkpoint; a GIF frame's step and t; a strip
column's t); in a comparison each half carries its own caption. A steered lane (issue 20) says its class and
guidance scale w (`steering_words`); "all classes" lays its images out one row per class, each row named at its
left. `snapshot()` is what an export on a worker thread reads, so a new sampling run may start meanwhile. The
`save_*` methods write through `app.exports` (atomic, and the GIF chunked with progress and cancel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddpm_studio.app import exports as export
from ddpm_studio.app.catalogue import model_name
from ddpm_studio.app.sampling import ALL_CLASSES, LaneSpec, SampleFrame, SamplingPlan
from ddpm_studio.engine import SAMPLERS

COLUMN_NAMES = ("x_t", "predicted x̂₀", "predicted ε̂")


@dataclass(frozen=True)
class ExportStyle:
    """How exported pictures look: nearest-neighbour `scale` (0: automatic) and whether they carry captions."""

    scale: int = 0
    captions: bool = True

    def factor(self, shape: Sequence[int]) -> int:
        """The scale for a picture of `shape` (H, W, ...)."""
        return self.scale if self.scale > 0 else export.auto_scale(shape)


def steering_words(spec: LaneSpec) -> str:
    """'class triangle · w = 2', 'all classes · w = 2', 'autoguided by run/step_00000400 · w = 2', '' (no
    steering): how a lane was steered, with the guidance interval and CFG-rescale when set."""
    cfg, parts = spec.sampling, []
    if spec.class_name is not None:
        parts.append("all classes" if spec.class_name == ALL_CLASSES else f"class {spec.class_name}")
    if spec.guide is not None:
        parts.append(f"autoguided by {model_name(spec.guide)}")
    if not parts:
        return ""
    parts.append(f"w = {cfg.guidance:g}")
    if cfg.interval is not None:
        parts.append(f"guided for t in [{cfg.interval[0]}, {cfg.interval[1]}]")
    if cfg.guidance_rescale > 0:
        parts.append(f"CFG-rescale {cfg.guidance_rescale:g}")
    return " · ".join(parts)


def describe_lane(spec: LaneSpec, num_steps: int) -> str:
    """'DDIM · 50 steps · η = 0 · class triangle · w = 2 · demo model (step 5000)': what made a lane's images,
    for captions."""
    cfg = spec.sampling
    parts = [SAMPLERS.label(cfg.method).split(" (")[0], f"{num_steps} steps"]
    if cfg.method == "ddim":
        parts.append(f"η = {cfg.eta:g}")
    if cfg.noise_scale != 1.0:
        parts.append(f"noise × {cfg.noise_scale:g}")
    if spec.average > 1:
        parts.append(f"mean of {spec.average} draws")
    parts.append(f"seed {cfg.seed}")
    steering = steering_words(spec)
    parts += [steering] if steering else []
    parts.append(model_name(spec.checkpoint))
    return " · ".join(parts)


class SamplerRecording:
    """Every frame streamed so far, per lane, mapped onto the reference lane's frame positions."""

    def __init__(self) -> None:
        self.plan: SamplingPlan | None = None
        self.frames: list[list[SampleFrame]] = []  # [lane][frame]
        self.reference = 0  # the lane with the most frames drives the player
        self.captions: tuple[str, ...] = ()  # per lane: what made it (`describe_lane`)

    def clear(self) -> None:
        """Forget the previous run (before a new one starts)."""
        self.plan, self.frames, self.reference, self.captions = None, [], 0, ()

    def begin(self, plan: SamplingPlan, captions: Sequence[str] | None = None) -> None:
        """Prepare one empty frame list per planned lane; `captions` say what made each lane (else its label)."""
        self.plan = plan
        self.frames = [[] for _ in plan.labels]
        self.reference = int(np.argmax(plan.frame_counts))
        self.captions = tuple(captions) if captions is not None else tuple(plan.labels)

    def snapshot(self) -> SamplerRecording:
        """A copy that later frames and a new run leave alone (the frames themselves are immutable)."""
        copy = SamplerRecording()
        copy.plan, copy.reference, copy.captions = self.plan, self.reference, self.captions
        copy.frames = [list(lane) for lane in self.frames]
        return copy

    def frame_count(self) -> int:
        """Player positions: the reference lane's frames so far."""
        return len(self.frames[self.reference]) if self.frames else 0

    def add(self, frame: SampleFrame) -> bool:
        """Keep `frame`; False when it belongs to no planned lane (a late frame of an older run)."""
        if frame.lane >= len(self.frames):
            return False
        self.frames[frame.lane].append(frame)
        return True

    def lane_frame(self, lane: int, index: int) -> SampleFrame | None:
        """The frame of `lane` shown at player position `index` (lanes map by progress)."""
        if lane >= len(self.frames) or not self.frames[lane] or self.plan is None:
            return None
        n_ref, n_lane = self.plan.frame_counts[self.reference], self.plan.frame_counts[lane]
        j = round(index * (n_lane - 1) / (n_ref - 1)) if n_ref > 1 else 0
        return self.frames[lane][min(j, len(self.frames[lane]) - 1)]

    def row_names(self, lane: int) -> tuple[str, ...]:
        """The class of each image row of `lane` ("all classes"), or () for an ordinary grid."""
        return self.plan.row_names(lane) if self.plan is not None else ()

    def columns(self, lane: int, batch: np.ndarray) -> int | None:
        """Grid columns for `lane`'s (B, H, W, C) batch: B / K with one row per class, else None (square)."""
        rows = len(self.row_names(lane))
        return max(1, batch.shape[0] // rows) if rows else None

    def grid(self, lane: int, batch: np.ndarray) -> np.ndarray:
        """`lane`'s (B, H, W, C) batch as one picture (`exports.tile`), one row per class for "all classes"."""
        return export.tile(batch, ncols=self.columns(lane, batch))

    def _named_rows(self, lane: int, picture: np.ndarray, image_height: int, scale: int) -> np.ndarray:
        """`picture` (grids of `lane` side by side, upscaled) with its class rows named at the left, if any."""
        names = self.row_names(lane)
        return export.label_grid_rows(picture, names, image_height=image_height, scale=scale) if names else picture

    def frames_at(self, index: int) -> list[SampleFrame]:
        """Each lane's frame at player position `index`, leaving out lanes with no frame yet."""
        frames = [self.lane_frame(lane, index) for lane in range(len(self.frames))]
        return [f for f in frames if f is not None]

    # -- pictures -------------------------------------------------------------------------------
    def composite(self, index: int) -> np.ndarray:
        """What the view shows at player position `index`, as one image: a row of panes per lane."""
        return export.compose([(f.xt, f.x0, f.eps) for f in self.frames_at(index)])

    def styled_composite(self, index: int, style: ExportStyle, scale: int) -> np.ndarray:
        """`composite(index)` upscaled, each lane's row under its caption (lane, then the columns' names)."""
        rows = []
        for lane in range(len(self.frames)):
            f = self.lane_frame(lane, index)
            if f is None:
                continue
            row = upscale_row([f.xt, f.x0] + ([f.eps] if f.eps is not None else []), scale,
                              ncols=self.columns(lane, f.xt))
            if style.captions:
                columns = " | ".join(COLUMN_NAMES[:2 + (f.eps is not None)])
                row = export.captioned(self._named_rows(lane, row, f.xt.shape[1], scale),
                                       [self._caption(lane), columns])
            rows.append(row)
        if not rows:
            raise ValueError("Nothing to export yet: sample first.")
        return export.vstack(rows)

    def frame_caption(self, index: int) -> str:
        """'step 12/50 · t = 480' of the reference lane at player position `index`."""
        f = self.lane_frame(self.reference, index)
        return f"step {f.index + 1}/{f.num_steps} · t = {f.t}" if f is not None else ""

    def _caption(self, lane: int) -> str:
        return self.captions[lane] if lane < len(self.captions) else f"lane {lane + 1}"

    # -- exports ----------------------------------------------------------------------------------
    def save_final_png(self, path: str | Path, style: ExportStyle = ExportStyle()) -> Path:
        """The final image grid of each lane (side by side, each captioned, when comparing) as PNG."""
        last = self.frame_count() - 1
        finals = [(lane, f.xt) for lane in range(len(self.frames)) if (f := self.lane_frame(lane, last)) is not None]
        if last < 0 or not finals:
            raise ValueError("Nothing to export yet: sample first.")
        grids = [(lane, self.grid(lane, xt)) for lane, xt in finals]
        scale = style.factor(export.hstack([g for _, g in grids]).shape)
        if style.captions:
            panels = [(self._named_rows(i, export.upscale(g, scale), xt.shape[1], scale), self._caption(i))
                      for (i, g), (_, xt) in zip(grids, finals)]
            return export.save_png(path, export.labelled_panels(panels))
        return export.save_png(path, export.hstack([g for _, g in grids]), scale=scale)

    def save_gif(self, path: str | Path, *, fps: float, style: ExportStyle = ExportStyle(),
                 progress: export.Progress | None = None, should_stop: export.StopCheck | None = None) -> Path:
        """The whole animation, one GIF frame per player position, each with its step and t (chunked)."""
        count = self.frame_count()
        if count == 0:
            raise ValueError("Nothing to export yet: sample first.")
        scale = style.factor(self.composite(0).shape)
        frames = _LazyFrames(self, style, scale)
        captions = [self.frame_caption(i) for i in range(count)] if style.captions else None
        return export.save_gif(path, frames, fps=fps, captions=captions, progress=progress, should_stop=should_stop)

    def save_strip(self, path: str | Path, indices: list[int], key: str,
                   style: ExportStyle = ExportStyle()) -> Path:
        """`strips` as PNG: each column headed by its t, each lane by its caption."""
        return export.save_png(path, self.strips(indices, key, style))

    def strips(self, indices: list[int], key: str, style: ExportStyle | None = None) -> np.ndarray:
        """Ho et al. Fig. 6 style: `key` ("xt" or "x0") at `indices` left to right, 4 samples down, per lane.

        Without a style: native size, no captions. With one: upscaled, columns headed "t = ...", lanes captioned.
        """
        if not indices:
            raise ValueError("Nothing to export yet: sample first.")
        strips = []
        for lane in range(len(self.frames)):
            frames = [f for f in (self.lane_frame(lane, i) for i in indices) if f is not None]
            batches, rows = [getattr(f, key) for f in frames], 4
            names = self.row_names(lane)
            if names and batches:  # "all classes": the first image of each class, a row each
                per_class = self.columns(lane, batches[0]) or 1
                batches, rows = [b[::per_class] for b in batches], len(names)
            if style is None:
                strips.append(export.make_strip(batches, rows=rows))
                continue
            scale = style.factor(export.make_strip(batches, rows=rows).shape)
            labels = [f"t = {f.t}" for f in frames] if style.captions else None
            strip = export.make_strip(batches, rows=rows, scale=scale, column_labels=labels)
            if names and style.captions:  # each class named left of its row, under the columns' headings
                body = export.tile(batches[0][:rows], ncols=1).shape[0] * scale
                strip = export.label_grid_rows(strip, names, image_height=batches[0].shape[1], scale=scale,
                                               top=strip.shape[0] - body)
            what = "predicted x̂₀" if key == "x0" else "x_t"
            strips.append(export.captioned(strip, f"{what} · {self._caption(lane)}") if style.captions else strip)
        return export.vstack(strips)


def upscale_row(batches: Sequence[np.ndarray], scale: int, gap: int = 6, ncols: int | None = None) -> np.ndarray:
    """Grids of (B, H, W, C) batches (`ncols` columns, None: square) side by side, each nearest-upscaled (the
    gaps scale too)."""
    return export.hstack([export.upscale(export.tile(b, ncols=ncols), scale) for b in batches], gap=gap * scale)


class _LazyFrames(Sequence):
    """The styled GIF frames, composed only when the encoder reaches each one (on the exporting thread)."""

    def __init__(self, recording: SamplerRecording, style: ExportStyle, scale: int) -> None:
        self._recording, self._style, self._scale = recording, style, scale

    def __len__(self) -> int:
        return self._recording.frame_count()

    def __getitem__(self, index):  # Sequence protocol: an int index only
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._recording.styled_composite(index, self._style, self._scale)
