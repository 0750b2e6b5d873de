"""Inference in reduced precision: a network run under `torch.autocast`, its output handed back in float32.

Sampling keeps the sampler's own arithmetic (x_t, the schedule's coefficients, the solver's history) in float32 /
float64 and runs only the network in bf16 or fp16 — the split diffusers' pipelines make with `torch_dtype` and
the Trainer makes with autocast. On a GPU that halves the network's memory traffic; the samples move by the
network's rounding error only (tests/engine/test_precision.py bounds it on CPU, bench/cuda_check.py on CUDA).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["AutocastModel", "with_precision"]


class AutocastModel(nn.Module):
    """``model(x_t, t, *rest)`` under ``torch.autocast(device_type, dtype)``, the output cast back to x_t's dtype.

    Attributes the samplers and guidance read from a network (``num_classes``) are the wrapped network's."""

    def __init__(self, model: nn.Module, device_type: str, dtype: torch.dtype) -> None:
        super().__init__()
        self.model, self.device_type, self.dtype = model, device_type, dtype

    @property
    def num_classes(self) -> int:
        return int(getattr(self.model, "num_classes", 0))

    def forward(self, x: Tensor, t: Tensor, *rest: Tensor | None) -> Tensor:
        with torch.autocast(self.device_type, dtype=self.dtype):
            out = self.model(x, t, *rest)
        return out.to(x.dtype)


def with_precision(model: nn.Module, device: torch.device, dtype: torch.dtype | None) -> nn.Module:
    """`model` itself for float32 (dtype None), else the network under autocast in `dtype` on `device`."""
    return model if dtype is None else AutocastModel(model, device.type, dtype).eval()
