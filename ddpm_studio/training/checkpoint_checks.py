"""Checks of a checkpoint's content before anything is built from it or written from it.

Each check returns a one-line reason (or None), naming the first offending tensor; checkpoint.py and the
Learner turn a reason into a CheckpointError that also names the file. The checks exist because the code
after them trusts its input: `UNet(config)` allocates whatever the config declares (a 1 KB file could ask
for gigabytes), `load_state_dict` copies NaN weights without a word, and the fused CPU AdamW kernel reads
its moment buffers without checking their shapes (a wrong shape is a segfault, not an exception).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

from ddpm_studio.engine.unet import UNet
from ddpm_studio.engine.unet_config import UNetConfig

MAX_PARAMETERS = 2_000_000_000  # far above every preset (ddpm128: 33 M); a bound on what a file may ask for

Shapes = Mapping[str, tuple[int, ...]]


def first_non_finite(state: Mapping[str, Tensor]) -> str | None:
    """The name of the first floating-point tensor holding a NaN or ±inf, else None."""
    for name, tensor in state.items():
        if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def expected_shapes(config: UNetConfig) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of the UNet `config` describes, built on the meta device (no memory allocated)."""
    with torch.device("meta"):
        model = UNet(config)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def parameter_count(shapes: Shapes) -> int:
    count = 0
    for shape in shapes.values():
        n = 1
        for dim in shape:
            n *= int(dim)
        count += n
    return count


def architecture_mismatch(own: Shapes, stored: Shapes) -> str | None:
    """'k shape mismatch(es), e.g. ...; missing ...; unexpected ...' between a model's and stored shapes."""
    missing = [k for k in own if k not in stored]
    unexpected = [k for k in stored if k not in own]
    mismatched = [k for k in own if k in stored and tuple(own[k]) != tuple(stored[k])]
    parts = []
    if mismatched:
        k = mismatched[0]
        parts.append(f"{len(mismatched)} shape mismatch(es), e.g. {k}: {tuple(stored[k])} in the file vs "
                     f"{tuple(own[k])} in the model")
    if missing:
        parts.append(f"{len(missing)} missing tensor(s), e.g. {missing[0]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[0]}")
    return "; ".join(parts) or None


def stored_weights_mismatch(config: UNetConfig, stored: Mapping[str, Shapes]) -> str | None:
    """Whether the stored weight groups ("model", "ema") fit the UNet `config` describes; checked from shapes
    alone, before any weight is read or any real network is built."""
    own = expected_shapes(config)
    count = parameter_count(own)
    if count > MAX_PARAMETERS:
        return f"its configuration describes a UNet of {count:,} parameters (at most {MAX_PARAMETERS:,})"
    for group, shapes in stored.items():
        if shapes:
            reason = architecture_mismatch(own, shapes)
            if reason:
                return f"its {group} weights do not fit the model its configuration describes: {reason}"
    return None


def optimizer_state_problem(optimizer_state: Any, named_params: Iterable[tuple[str, Tensor]]) -> str | None:
    """What is wrong with an AdamW state_dict for these parameters (shapes, dtypes, finiteness), else None.

    Checked before `load_state_dict`: the fused kernels trust the buffers they are handed.
    """
    params = list(named_params)
    if not isinstance(optimizer_state, dict) or not isinstance(optimizer_state.get("state"), dict) \
            or not isinstance(optimizer_state.get("param_groups"), list):
        return "the optimizer state is not an optimizer state_dict"
    indices = [i for group in optimizer_state["param_groups"] if isinstance(group, dict)
               for i in group.get("params", [])]
    if sorted(indices) != list(range(len(params))):
        return f"the optimizer state covers {len(indices)} parameters, the model has {len(params)}"
    for index, buffers in optimizer_state["state"].items():
        if not isinstance(index, int) or not 0 <= index < len(params) or not isinstance(buffers, dict):
            return f"the optimizer state has an entry {index!r} for no parameter"
        name, param = params[index]
        for key, value in buffers.items():
            if not torch.is_tensor(value):
                if not isinstance(value, (int, float)):
                    return f"{key} of parameter {name} is a {type(value).__name__}, not a tensor"
                continue
            if key == "step":
                if value.numel() != 1 or not bool(torch.isfinite(value.float()).all()):
                    return f"step of parameter {name} is not one finite number"
                continue
            if tuple(value.shape) != tuple(param.shape):
                return f"{key} of parameter {name} has shape {tuple(value.shape)}, the parameter {tuple(param.shape)}"
            if value.dtype != param.dtype:
                return f"{key} of parameter {name} is {value.dtype}, the parameter {param.dtype}"
            if not bool(torch.isfinite(value).all()):
                return f"{key} of parameter {name} holds NaN or inf"
    return None
