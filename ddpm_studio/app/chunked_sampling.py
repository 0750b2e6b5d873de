"""Many samples from one model load: the CLI's `sample --count N` and the scorers' sample sets, in chunks.

Two chunkings, for two needs, both with x_T from the engine's own draw (`engine.draw_x_T`):
- :func:`sample_in_chunks` (the `sample` command, up to 50,000 images): chunk k is an ordinary sampling run of
  at most `chunk` images with seed + k · CHUNK_SEED_STRIDE (chunk 0 is exactly `sample --count chunk`), so memory
  stays that of one chunk; the model loads once for all chunks.
- :func:`final_images` (evaluation, the sweep): one x_T for all `count` images, sampled `batch_size` at a time,
  so a (sampler, steps) cell and another one start from the same noise, image by image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ddpm_studio.app.sampling import LaneSpec, LoadedModel, SampleFrame, SamplingSession
from ddpm_studio.engine import SamplerStep, SamplingConfig, draw_x_T, sample

CHUNK = 256  # images sampled at once by `sample`: memory stays that of one chunk whatever --count is
CHUNK_SEED_STRIDE = 1_000_003  # chunk k > 0 draws from seed + k · stride (chunk 0 from the seed itself)


@dataclass(frozen=True)
class Chunk:
    """One chunk of a chunked run: its position and its kept frames (the last holds its images)."""

    index: int
    first: int  # the number of the chunk's first image among all
    frames: list[SampleFrame]


def chunk_sizes(count: int, size: int = CHUNK) -> list[int]:
    """The batch sizes of `count` images sampled `size` at a time."""
    return [min(size, count - start) for start in range(0, count, size)]


def sample_in_chunks(checkpoint: Path, sampling: SamplingConfig, *, chunk: int = CHUNK,
                     device: str | torch.device = "auto", first_chunk_frames: int = 1,
                     on_step: Callable[[int, SamplerStep], None] | None = None, class_name: str | None = None,
                     guide: Path | None = None, precision: str = "auto",
                     models: dict[Path, LoadedModel] | None = None) -> Iterator[Chunk]:
    """`sampling.count` images of `checkpoint` in chunks of at most `chunk`, one model load for all of them.

    The first chunk keeps `first_chunk_frames` frames (a GIF of the reverse process), the others only their
    images. `on_step(chunk_index, step)` sees every sampler step. `class_name` and `guide` steer every chunk
    (`LaneSpec`); with "all" a chunk of n holds one row of n per class. `precision`: the network's dtype
    (`load_for_sampling`); `models` may hold the model already loaded (by path), e.g. to measure its cost first."""
    models = {} if models is None else models
    first = 0
    for k, count in enumerate(chunk_sizes(sampling.count, chunk)):
        config = replace(sampling.for_images(first if class_name is None else 0, count),
                         seed=sampling.seed + k * CHUNK_SEED_STRIDE)
        lane = LaneSpec(config.method, Path(checkpoint), config, class_name=class_name, guide=guide)
        session = SamplingSession((lane,), device=device, max_frames=first_chunk_frames if k == 0 else 1,
                                  models=models, precision=precision)
        session.start()
        step_hook = None if on_step is None else (lambda _lane, step, k=k: on_step(k, step))
        frames = list(session.frames(on_step=step_hook))
        yield Chunk(k, first, frames)
        first += frames[-1].xt.shape[0] if frames else count


def final_images(model: torch.nn.Module, diffusion, shape: tuple[int, ...], config: SamplingConfig, *,
                 batch_size: int, device: torch.device, should_stop: Callable[[], bool] = lambda: False,
                 on_step: Callable[[int, SamplerStep], None] | None = None,
                 guide: torch.nn.Module | None = None) -> torch.Tensor | None:
    """`config.count` final images (N, C, H, W) in [-1, 1] from one x_T (`draw_x_T(config.seed, ...)`), sampled
    `batch_size` at a time (batch b's fresh noise from seed + its first index). None when `should_stop()`
    answered True between two steps. `on_step(batch_count, step)` sees every step; `guide` is an autoguidance
    model (`engine.sample`)."""
    x_T = draw_x_T(config.seed, (config.count, *shape))
    out = []
    for first in range(0, config.count, batch_size):
        noise = x_T[first:first + batch_size]
        batch = replace(config.for_images(first, noise.shape[0]), seed=config.seed + first)
        last = None
        for last in sample(model, diffusion, tuple(noise.shape), batch, noise=noise.to(device), device=device,
                           guide=guide):
            if should_stop():
                return None
            if on_step is not None:
                on_step(noise.shape[0], last)
        assert last is not None
        out.append(last.xt.detach().float().cpu().clamp(-1.0, 1.0))
    return torch.cat(out)
