"""This rank's batches: which images each step reads, and reading them.

The order is a pure function of (seed, epoch, rank) through DistributedSampler (also with one process),
so a resumed run reads exactly the batches the uninterrupted run would have read. Any failure to read a
batch becomes one `DataError` with a one-line reason.

Under DDP a rank whose batch fails must not simply leave: the others would wait for it in the backward's
gradient all-reduce until the process group times out. `batch_on_every_rank` makes the ranks agree first
(one all-reduce of a flag per step), so a failure on any rank is raised on all of them, naming that rank.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, DistributedSampler

from ddpm_studio.errors_text import one_line
from ddpm_studio.training import distributed
from ddpm_studio.training.distributed import DistInfo


class DataError(Exception):
    """Reading a batch from the dataset failed."""


class BatchSource:
    """The (B, C, H, W) batches of one rank, augmented with `generator` (crops and flips)."""

    def __init__(self, dataset: Dataset, dist: DistInfo, *, seed: int, batch_size: int,
                 generator: torch.Generator) -> None:
        self.dataset, self.dist, self.seed, self.batch_size = dataset, dist, seed, batch_size
        self.generator = generator
        self._epoch_cache: tuple[int, list[int]] | None = None

    def epoch_indices(self, epoch: int) -> list[int]:
        """This rank's shuffled share of `epoch`: a pure function of (seed, epoch, rank)."""
        if self._epoch_cache is None or self._epoch_cache[0] != epoch:
            sampler = DistributedSampler(self.dataset, num_replicas=self.dist.world_size, rank=self.dist.rank,
                                         shuffle=True, seed=self.seed, drop_last=False)
            sampler.set_epoch(epoch)
            self._epoch_cache = (epoch, list(sampler))
        return self._epoch_cache[1]

    def _chosen(self, epoch: int, index: int) -> list[int]:
        b = self.batch_size
        indices = self.epoch_indices(epoch)
        return indices[index * b:(index + 1) * b] if len(indices) >= b else indices

    def labels(self, epoch: int, index: int) -> torch.Tensor:
        """The class labels (B,) of batch `index` of `epoch` (-1 = unlabelled); the dataset must have `labels`."""
        return self.dataset.labels.index_select(0, torch.as_tensor(self._chosen(epoch, index), dtype=torch.long))

    def batch(self, epoch: int, index: int) -> torch.Tensor:
        """Batch `index` of `epoch`, in [-1, 1]; DataError if the dataset cannot deliver it."""
        chosen = self._chosen(epoch, index)
        try:
            batch_fn = getattr(self.dataset, "batch", None)
            if batch_fn is not None:
                return batch_fn(chosen, generator=self.generator)
            items = [self.dataset[i] for i in chosen]
            return torch.stack([x[0] if isinstance(x, (tuple, list)) else x for x in items])
        except Exception as exc:
            raise DataError(one_line(exc)) from exc

    def batch_on_every_rank(self, epoch: int, index: int) -> torch.Tensor:
        """`batch`, once every rank has read its own: under DDP a DataError on any rank is raised on all ranks
        with the failing rank's reason. In a single process it is `batch`, with no collective."""
        if not self.dist.enabled:
            return self.batch(epoch, index)
        try:
            x, problem = self.batch(epoch, index), None
        except DataError as exc:
            x, problem = None, str(exc)
        if distributed.any_rank(problem is not None):  # the one extra collective per step: an int32 MAX
            raise DataError(describe_failures(distributed.all_gather(problem)))
        return x


def describe_failures(problems: list[str | None]) -> str:
    """One line naming the first failing rank and its reason (`problems` is indexed by rank, None = fine)."""
    failed = [(rank, problem) for rank, problem in enumerate(problems) if problem is not None]
    rank, problem = failed[0]
    others = f" (and {len(failed) - 1} more rank{'s' if len(failed) > 2 else ''})" if len(failed) > 1 else ""
    return f"on rank {rank}{others}: {problem}"
