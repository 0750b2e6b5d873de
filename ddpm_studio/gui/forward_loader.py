"""Loading the forward view's x_0 off the GUI thread: decode and transform the selected images.

`LoadImagesTask` runs once on a `QThreadPool` and reports through `LoadSignals.loaded` with the
generation it was started for, so the view can drop the answer of a load that a newer one replaced.
Images that fail to decode are skipped and named in the error text; the others still load.
"""

from __future__ import annotations

import logging

import torch
from PySide6.QtCore import QObject, QRunnable, Signal

from ddpm_studio.data.decode import ImageDecodeError
from ddpm_studio.data.transforms import ImageTransform

log = logging.getLogger(__name__)


class LoadSignals(QObject):
    loaded = Signal(int, object, object, str)  # generation, indices, x0 tensor | None, error


class LoadImagesTask(QRunnable):
    """Decode and transform the selected images off the GUI thread."""

    def __init__(self, signals: LoadSignals, generation: int, source, indices: list[int], size: int,
                 channels: int = 3) -> None:
        super().__init__()
        self.signals, self.generation, self.source, self.indices, self.size = signals, generation, source, indices, size
        self.channels = channels  # 1: grey x_0 (and so grey ε), 3: RGB

    def run(self) -> None:
        transform = ImageTransform(self.size, self.channels)
        tensors, kept, errors = [], [], []
        for index in self.indices:
            try:
                tensors.append(transform(self.source.load(index)))
                kept.append(index)
            except ImageDecodeError as exc:
                errors.append(f"{exc.name or index}: {exc.reason}")
            except Exception as exc:  # reported in the view, and logged with the traceback
                log.exception("could not prepare image %d", index)
                errors.append(f"{index}: {type(exc).__name__}: {exc}")
        x0 = torch.stack(tensors) if tensors else None  # (B, C, H, W) in [-1, 1]
        try:
            self.signals.loaded.emit(self.generation, kept, x0, "; ".join(errors))
        except RuntimeError:
            pass  # the view is gone
