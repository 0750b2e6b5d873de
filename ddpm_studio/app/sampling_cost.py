"""What a sampling run will cost before it starts: one network evaluation measured on this machine, then scaled.

A published 256 px model (35-114 M parameters) takes seconds per network evaluation per image on a CPU, so 64
images with DDPM's 1000 steps is days: the Sampler and `sample` say so before they start. The figure is
measured, not guessed from the parameter count: a forward pass after a first one that sets the kernels up, on a
small batch (one image for a big network), on the device the run will use.

    seconds ≈ s_eval · count · NFE · batch_factor     (batch_factor 2 when guidance doubles the batch)

The warning is a sentence for a person; `estimate_seconds` is the number behind it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ddpm_studio.app.sampling import LoadedModel, load_for_sampling

__all__ = ["MEASURE_FROM_SIDE", "WARN_SECONDS", "EvalCost", "cost_warning", "estimate_seconds", "format_seconds",
           "measure_eval", "measure_model"]

MEASURE_FROM_SIDE = 128  # the Sampler measures models of this image side or more when they are chosen
WARN_SECONDS = 60.0  # a run estimated to take longer than this is said before it starts
MEASURED_BATCH = 16  # the batch of the second pass (a chunk is 256 images: the estimate errs high)
_BIG_NETWORK_S = 2.0  # a network slower than this on one image is measured on one image again, not a batch


@dataclass(frozen=True)
class EvalCost:
    """One network evaluation of one image, measured: seconds, the image side, the device."""

    seconds: float
    side: int
    device: str


def measure_eval(loaded: LoadedModel, device: str | torch.device, count: int = 1) -> EvalCost:
    """Seconds per image of one evaluation of `loaded.model` at a middle timestep (no gradients). A first pass on
    one image sets the kernels up and is not counted; the second, on min(count, MEASURED_BATCH) images (a small
    network's cost is mostly per batch, not per image) or on one image for a big network, gives the figure."""
    device = torch.device(device)
    t_mid = loaded.diffusion.num_timesteps // 2

    def timed(batch: int) -> float:
        x = torch.zeros((batch, *loaded.shape), device=device)
        t = torch.full((batch,), t_mid, dtype=torch.long, device=device)
        start = time.perf_counter()
        with torch.no_grad():
            loaded.model(x, t)
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the kernels run asynchronously: wait for them before reading the clock
        return (time.perf_counter() - start) / batch

    first = timed(1)  # includes the kernels' one-time set-up: not the figure
    batch = max(1, min(count, MEASURED_BATCH)) if first < _BIG_NETWORK_S else 1
    return EvalCost(timed(batch), loaded.shape[-1], device.type)


def measure_model(path: str | Path, device: str | torch.device, count: int = 1) -> EvalCost:
    """Load the model at `path` (a checkpoint, run or diffusers folder) and `measure_eval` it: a background job's
    work (a 256 px model takes seconds to load and to evaluate)."""
    loaded = load_for_sampling(path, device)
    return measure_eval(loaded, next(loaded.model.parameters()).device, count)


def estimate_seconds(cost: EvalCost, count: int, nfe: int, batch_factor: int = 1) -> float:
    """s_eval · count · NFE · batch_factor (module docstring); batching makes the real figure somewhat lower."""
    return cost.seconds * count * nfe * batch_factor


def format_seconds(seconds: float) -> str:
    """42 -> '42 s', 600 -> '10 min', 9000 -> '2.5 h', 200000 -> '2.3 days'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def cost_warning(cost: EvalCost, count: int, nfe: int, batch_factor: int = 1) -> str | None:
    """One line when the run is estimated to take more than WARN_SECONDS, else None."""
    seconds = estimate_seconds(cost, count, nfe, batch_factor)
    if seconds <= WARN_SECONDS:
        return None
    doubled = " × 2 (guidance)" if batch_factor == 2 else ""
    return (f"{count} image(s) at {cost.side} px × {nfe} NFE{doubled}: about {format_seconds(seconds)} on the "
            f"{cost.device.upper()} (one evaluation of one image took {cost.seconds:.2f} s here); lower the count "
            f"or the NFE to make it shorter")
