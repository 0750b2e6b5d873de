"""The frames of one sampling session, per lane, and the pictures exported from them (grid, GIF frames, strip).

A run has one lane, or two that start from the same x_T to compare. Lanes can have different frame
counts (DDPM with T steps beside DDIM with 50): the lane with the most frames drives the player, and
`lane_frame` maps a player position onto every other lane by progress, so both lanes end together.
Qt-free: frames are `SampleFrame`s of uint8 arrays; the pictures are (H, W, 3) uint8 arrays.
"""

from __future__ import annotations

import numpy as np

from ddpm_studio.app import exports as export
from ddpm_studio.app.sampling import SampleFrame, SamplingPlan


class SamplerRecording:
    """Every frame streamed so far, per lane, mapped onto the reference lane's frame positions."""

    def __init__(self) -> None:
        self.plan: SamplingPlan | None = None
        self.frames: list[list[SampleFrame]] = []  # [lane][frame]
        self.reference = 0  # the lane with the most frames drives the player

    def clear(self) -> None:
        """Forget the previous run (before a new one starts)."""
        self.plan, self.frames, self.reference = None, [], 0

    def begin(self, plan: SamplingPlan) -> None:
        """Prepare one empty frame list per planned lane."""
        self.plan = plan
        self.frames = [[] for _ in plan.labels]
        self.reference = int(np.argmax(plan.frame_counts))

    def add(self, frame: SampleFrame) -> bool:
        """Keep `frame`; False when it belongs to no planned lane (a late frame of an older run)."""
        if frame.lane >= len(self.frames):
            return False
        self.frames[frame.lane].append(frame)
        return True

    def lane_count(self) -> int:
        return len(self.frames)

    def lane_frame(self, lane: int, index: int) -> SampleFrame | None:
        """The frame of `lane` shown at player position `index` (lanes map by progress)."""
        if lane >= len(self.frames) or not self.frames[lane] or self.plan is None:
            return None
        n_ref, n_lane = self.plan.frame_counts[self.reference], self.plan.frame_counts[lane]
        j = round(index * (n_lane - 1) / (n_ref - 1)) if n_ref > 1 else 0
        return self.frames[lane][min(j, len(self.frames[lane]) - 1)]

    def frames_at(self, index: int) -> list[SampleFrame]:
        """Each lane's frame at player position `index`, leaving out lanes with no frame yet."""
        frames = [self.lane_frame(lane, index) for lane in range(len(self.frames))]
        return [f for f in frames if f is not None]

    # -- pictures -------------------------------------------------------------------------------
    def composite(self, index: int) -> np.ndarray:
        """What the view shows at player position `index`, as one image: a row of panes per lane."""
        return export.compose([(f.xt, f.x0, f.eps) for f in self.frames_at(index)])

    def final_grids(self, last: int) -> np.ndarray:
        """The image grid of each lane at player position `last`, side by side when comparing."""
        grids = [export.tile(f.xt) for f in self.frames_at(last)]
        if last < 0 or not grids:
            raise ValueError("Nothing to export yet: sample first.")
        return export.hstack(grids)

    def strips(self, indices: list[int], key: str) -> np.ndarray:
        """Ho et al. Fig. 6 style: `key` ("xt" or "x0") at `indices` left to right, 4 samples down, per lane."""
        if not indices:
            raise ValueError("Nothing to export yet: sample first.")
        strips = []
        for lane in range(len(self.frames)):
            frames = [self.lane_frame(lane, i) for i in indices]
            strips.append(export.make_strip([getattr(f, key) for f in frames if f is not None], rows=4))
        return export.vstack(strips)
