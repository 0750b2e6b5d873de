"""Choosing the EMA length after training (EDM2 post-hoc EMA, `training.posthoc_ema`): the weights of a run at
any σ_rel, reconstructed from its posthoc/ snapshots and cached in this process.

Both faces come here: `ddpm-studio sample RUN --ema-length S` and the Sampler's "EMA length" control go through
`app.sampling.load_for_sampling(..., ema_length=S)`, which calls `posthoc_state`; the EMA sweep
(`app.ema_sweep`) too. A checkpoint file is reconstructed at its run's last snapshot not after its step (every
checkpoint writes one; the thinning of older snapshots may move an old checkpoint's to the grid point before it).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from torch import Tensor

from ddpm_studio.training.checkpoint import CheckpointError, read_checkpoint_config, resolve_checkpoint
from ddpm_studio.training.posthoc_ema import (
    POSTHOC_DIR,
    SIGMA_REL_BOUNDS,
    PosthocError,
    list_snapshots,
    reconstruct_weights,
    reconstructable_range,
)

__all__ = ["SIGMA_REL_BOUNDS", "PosthocError", "posthoc_folder", "posthoc_range", "posthoc_state"]

_CACHE_SIZE = 4  # reconstructions kept in this process (a tiny UNet's is ~3.4 MB, "small"'s ~32 MB)
_CACHE: OrderedDict[tuple, tuple[dict[str, Tensor], int]] = OrderedDict()
_RANGES: dict[tuple, tuple[float, float]] = {}  # (folder, step, snapshots) -> reconstructable σ_rel range


def posthoc_folder(checkpoint: str | Path) -> Path:
    """The posthoc/ folder of the run a checkpoint file or run folder belongs to."""
    path = resolve_checkpoint(Path(checkpoint))
    run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return run / POSTHOC_DIR


def posthoc_range(checkpoint: str | Path) -> tuple[float, float] | None:
    """The σ_rel range the run's snapshots can reconstruct, or None for a run (or file) without snapshots: a folder
    listing and, for a run with snapshots, one header and ~60 small least-squares solves (~10 ms), cached."""
    try:
        folder = posthoc_folder(checkpoint)
        found = list_snapshots(folder)
        if not found:
            return None
        step = read_checkpoint_config(resolve_checkpoint(Path(checkpoint)))[1]
        key = (str(folder.resolve()), step, tuple(s for s, _ in found if s <= step))
        if key not in _RANGES:
            _RANGES[key] = reconstructable_range(folder, grid=60, upto_step=step)
        return _RANGES[key]
    except (PosthocError, CheckpointError, OSError, ValueError):
        return None


def posthoc_state(checkpoint: str | Path, sigma_rel: float) -> tuple[dict[str, Tensor], int]:
    """The weights of a power EMA of `sigma_rel` of the run of `checkpoint`, at its last snapshot not after the
    checkpoint's step (PosthocError, one line, without snapshots or for a length out of range); cached per (run,
    σ_rel, snapshots on disk)."""
    path = resolve_checkpoint(Path(checkpoint))
    folder = posthoc_folder(path)
    step = read_checkpoint_config(path)[1]
    found = [s for s, _ in list_snapshots(folder) if s <= step]
    key = (str(folder.resolve()), float(sigma_rel), step, tuple(found))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    result = reconstruct_weights(folder, float(sigma_rel), upto_step=step)
    _CACHE[key] = result
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result
