"""Loss by timestep: a running mean of the per-sample loss in ~10 buckets of t, for the "loss vs t" plot.

With ε-prediction the per-sample L_simple (Ho et al. eq. 14) is largest at small t, where x_t is mostly
x_0 and the little noise in it is hard to tell apart; the curve shows where the network still struggles.

The tracker's state is stored with the run as a small JSON file (timestep_loss.json, written by the
recorder whenever the history is flushed), so a reopened run shows its bars and a resumed run keeps
accumulating them:

    {"format": "ddpm-studio.timestep-loss/1", "step": 1200, "edges": [0, 100, ..., 1000],
     "means": [0.071, ..., null], "counts": [3711, ..., 0]}

`means` is null for a bucket no sample has reached yet; `counts` is the number of samples folded in.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import torch
from torch import Tensor

TIMESTEP_LOSS_FORMAT = "ddpm-studio.timestep-loss/1"


@dataclass(frozen=True)
class TimestepLossRecord:
    """A snapshot of the tracker: bucket i covers [edges[i], edges[i+1])."""

    step: int  # the last step folded in
    edges: tuple[int, ...]  # len = buckets + 1, from 0 to T
    means: tuple[float, ...]  # running mean per bucket, NaN where no sample has arrived
    counts: tuple[int, ...]  # samples folded into each bucket

    def to_json(self) -> str:
        means = [None if math.isnan(m) else m for m in self.means]
        return json.dumps({"format": TIMESTEP_LOSS_FORMAT, "step": self.step, "edges": list(self.edges),
                           "means": means, "counts": list(self.counts)})

    @classmethod
    def from_json(cls, text: str) -> TimestepLossRecord:
        """Inverse of `to_json`; ValueError with a one-line reason on a damaged or foreign file."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(data, dict) or data.get("format") != TIMESTEP_LOSS_FORMAT:
            raise ValueError(f"not a loss-by-timestep record (expected format {TIMESTEP_LOSS_FORMAT!r})")
        try:
            record = cls(step=int(data["step"]), edges=tuple(int(e) for e in data["edges"]),
                         means=tuple(math.nan if m is None else float(m) for m in data["means"]),
                         counts=tuple(int(c) for c in data["counts"]))
        except KeyError as exc:
            raise ValueError(f"the record lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"malformed record: {exc}") from None
        buckets = len(record.edges) - 1
        if buckets < 1 or len(record.means) != buckets or len(record.counts) != buckets:
            raise ValueError(f"{len(record.edges)} edges do not fit {len(record.means)} means / "
                             f"{len(record.counts)} counts")
        return record


class TimestepLossTracker:
    """Exponential running mean (factor `momentum` per batch) of the loss in each bucket of t."""

    def __init__(self, timesteps: int, buckets: int = 10, momentum: float = 0.9) -> None:
        n = max(1, min(buckets, timesteps))
        edges = sorted({round(i * timesteps / n) for i in range(n + 1)})
        self.edges: tuple[int, ...] = tuple(edges)  # 0 = edges[0] < ... < edges[-1] = T
        self.momentum = momentum
        self._means = [math.nan] * (len(edges) - 1)
        self._counts = [0] * (len(edges) - 1)

    def update(self, t: Tensor, per_sample_loss: Tensor) -> None:
        """Fold one batch in: `t` (B,) long, `per_sample_loss` (B,) float, both on CPU."""
        bucket = torch.bucketize(t, torch.tensor(self.edges[1:-1]), right=True)  # (B,) in 0..n-1
        for b in bucket.unique().tolist():
            chosen = per_sample_loss[bucket == b]
            value = float(chosen.mean())
            if not math.isfinite(value):
                continue
            old = self._means[b]
            self._means[b] = value if math.isnan(old) else self.momentum * old + (1 - self.momentum) * value
            self._counts[b] += int(chosen.numel())

    def means(self) -> tuple[float, ...]:
        """Running mean per bucket (NaN for a bucket not seen yet)."""
        return tuple(self._means)

    def record(self, step: int) -> TimestepLossRecord:
        """A snapshot to store with the run."""
        return TimestepLossRecord(step=step, edges=self.edges, means=tuple(self._means), counts=tuple(self._counts))

    def restore(self, record: TimestepLossRecord) -> None:
        """Continue from a stored snapshot (ValueError if it was made with other buckets)."""
        if record.edges != self.edges:
            raise ValueError(f"stored buckets {record.edges} differ from this run's {self.edges}")
        self._means, self._counts = list(record.means), list(record.counts)
