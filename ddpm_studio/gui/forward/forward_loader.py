"""Loading the forward view's x_0 off the GUI thread: decode and transform the selected images.

`load_images` is a `PoolJobs` job (the answer of a load that a newer one replaced is dropped). Images that fail
to decode are skipped and named in the error text; the others still load.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from ddpm_studio.data.decode import ImageDecodeError
from ddpm_studio.data.transforms import ImageTransform

log = logging.getLogger(__name__)


def load_images(source, indices: list[int], size: int, channels: int, _should_stop: Callable[[], bool],
                report: Callable[[tuple], None]) -> None:
    """Answers (kept indices, x0 (B, C, H, W) in [-1, 1] | None, error text); `channels` 1 is grey x_0 (and so
    grey ε), 3 is RGB."""
    transform = ImageTransform(size, channels)
    tensors, kept, errors = [], [], []
    for index in indices:
        try:
            tensors.append(transform(source.load(index)))
            kept.append(index)
        except ImageDecodeError as exc:
            errors.append(f"{exc.name or index}: {exc.reason}")
        except Exception as exc:  # reported in the view, and logged with the traceback
            log.exception("could not prepare image %d", index)
            errors.append(f"{index}: {type(exc).__name__}: {exc}")
    report((kept, torch.stack(tensors) if tensors else None, "; ".join(errors)))
