"""The one device policy: what "auto" means, whether CUDA is usable, the CUDA autocast dtype, and recognising
out-of-memory errors. Training, sampling and both faces ask here (nowhere else decides a device).

On CUDA the Trainer uses autocast with bf16 where the GPU supports it (no loss scaling needed), else fp16
with a GradScaler; CPU and MPS train in float32. Sampling runs the network in the same dtype by default
(`inference_dtype`: "auto"), and a user may ask for bf16 / fp16 anywhere or for float32 ("no").
"""

from __future__ import annotations

import logging

import torch

__all__ = ["DEVICE_CHOICES", "PRECISIONS", "amp_dtype", "bf16_supported", "cuda_available", "inference_dtype",
           "is_out_of_memory", "resolve_device"]

log = logging.getLogger(__name__)

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")  # offered by the forms; "cuda:N" and "mps" also work


def cuda_available() -> bool:
    """True when a CUDA device is usable; a broken driver counts as none (logged, never raised)."""
    try:
        return torch.cuda.is_available()
    except Exception:
        log.exception("CUDA detection failed; using the CPU")
        return False


def bf16_supported() -> bool:
    """True when the CUDA device computes in bfloat16."""
    return cuda_available() and torch.cuda.is_bf16_supported()


def resolve_device(name: str | torch.device | None) -> torch.device:
    """Resolve "auto" to CUDA if available, else MPS, else CPU; a named device must be available."""
    if isinstance(name, torch.device):
        return name
    name = (name or "auto").strip().lower()
    if name == "auto":
        if cuda_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps") if mps is not None and mps.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not cuda_available():
        raise ValueError("CUDA was requested but no CUDA device is available; use --device cpu")
    return device


CPU_OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "not enough memory")  # CUDA/MPS, CPU allocator


def is_out_of_memory(exc: BaseException) -> bool:
    """MemoryError, torch.cuda.OutOfMemoryError, or a RuntimeError of an allocator that ran out (CUDA, MPS and
    the CPU's "DefaultCPUAllocator: can't allocate memory")."""
    return isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)) or (
        isinstance(exc, RuntimeError) and any(text in str(exc).lower() for text in CPU_OUT_OF_MEMORY))


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype on CUDA (bf16 where supported, else fp16); None (float32) on CPU/MPS or mode "no"."""
    if device.type != "cuda" or mode == "no":
        return None
    if mode == "bf16" or (mode == "auto" and bf16_supported()):
        return torch.bfloat16
    return torch.float16


PRECISIONS: tuple[str, ...] = ("auto", "no", "bf16", "fp16")  # the network's dtype when sampling


def inference_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The dtype the network samples in (None: float32). "auto" is the Trainer's choice (bf16 or fp16 on CUDA,
    float32 elsewhere); "bf16" / "fp16" are honoured on every device (autocast; slow on most CPUs)."""
    if mode not in PRECISIONS:
        raise ValueError(f"unknown precision {mode!r}; use one of {', '.join(PRECISIONS)}")
    if mode == "auto":
        return amp_dtype("auto", device)
    return {"no": None, "bf16": torch.bfloat16, "fp16": torch.float16}[mode]
