"""DistributedDataParallel helpers for `torchrun --nproc_per_node N -m ddpm_studio train ...`.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; we join the process group (NCCL on CUDA, gloo on CPU).
Every rank trains on its shard of each epoch (DistributedSampler); rank 0 alone writes files and events.
Collectives here are called by every rank at the same step, so they never deadlock.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the job (a single process is rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    """WORLD_SIZE as set by torchrun (1 when not launched by it)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def current() -> DistInfo:
    """The DistInfo of an initialised process group, or the single-process one."""
    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local)
    return DistInfo()


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun job when WORLD_SIZE > 1 (NCCL for CUDA, gloo for CPU); else a 1-process DistInfo."""
    if env_world_size() <= 1 or not dist.is_available():
        return DistInfo()
    if dist.is_initialized():
        return current()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    info = current()
    log.info("joined %s process group: rank %d of %d", backend, info.rank, info.world_size)
    return info


def device_for(info: DistInfo, device: torch.device) -> torch.device:
    """Under DDP on CUDA each process uses the GPU of its local rank."""
    if info.enabled and device.type == "cuda":
        return torch.device("cuda", info.local_rank)
    return device


def cleanup() -> None:
    """Leave the process group (no-op outside DDP)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _backend_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_mean(value: float) -> float:
    """The mean of a float over all ranks (the value itself outside DDP). NaN on any rank stays NaN."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_backend_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / dist.get_world_size()


def any_rank(flag: bool) -> bool:
    """True if `flag` is True on any rank (so a stop request on one rank stops all at the same step)."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=_backend_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather_to_main(obj: Any) -> list[Any] | None:
    """Every rank's `obj` on rank 0 (a list indexed by rank), None on the other ranks."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def all_gather(obj: Any) -> list[Any]:
    """Every rank's `obj` on every rank (a list indexed by rank); `[obj]` outside DDP."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_from_main(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (e.g. the run folder it created)."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
