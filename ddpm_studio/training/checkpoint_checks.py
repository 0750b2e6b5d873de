"""Checks of a checkpoint's content before anything is built from it or written from it.

Each check returns a one-line reason (or None), naming the first offending tensor; checkpoint.py and the
Learner turn a reason into a CheckpointError that also names the file. The checks exist because the code
after them trusts its input: `UNet(config)` allocates whatever the config declares (a 1 KB file could ask
for gigabytes), `load_state_dict` copies NaN weights without a word, and the fused CPU AdamW kernel reads
its moment buffers without checking their shapes (a wrong shape is a segfault, not an exception).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

from ddpm_studio.engine.unet import UNet
from ddpm_studio.engine.unet_config import UNetConfig
from ddpm_studio.errors_text import short_repr

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


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# AdamW options a checkpoint may not switch on: the Trainer never uses them, and their buffers are not there
# (amsgrad reads max_exp_avg_sq: KeyError), or they change the update silently (maximize, capturable)
_OFF_OPTIONS = ("amsgrad", "maximize", "capturable", "differentiable")


def _param_group_problem(group: Any) -> str | None:
    """What is wrong with one AdamW param_group as the Trainer writes it, else None."""
    if not isinstance(group, dict):
        return "not an object"
    params = group.get("params")
    if not isinstance(params, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in params):
        return "params is not a list of indices"
    for key, low in (("lr", 0.0), ("weight_decay", 0.0)):
        if key in group and not (_finite_number(group[key]) and group[key] >= low):
            return f"{key} must be a finite number >= {low}, got {short_repr(group[key], 40)}"
    if "eps" in group and not (_finite_number(group["eps"]) and group["eps"] > 0):
        return f"eps must be a finite number > 0, got {short_repr(group['eps'], 40)}"
    betas = group.get("betas", (0.9, 0.999))
    if not isinstance(betas, (list, tuple)) or len(betas) != 2 or not all(
            _finite_number(b) and 0.0 <= b < 1.0 for b in betas):
        return f"betas must be two numbers in [0, 1), got {short_repr(betas, 40)}"
    for key in _OFF_OPTIONS:
        if group.get(key, False) is not False:
            return f"{key} must be false, got {short_repr(group[key], 40)}"
    for key in ("foreach", "fused"):
        if group.get(key) not in (None, True, False):
            return f"{key} must be true, false or null, got {short_repr(group[key], 40)}"
    return None


def rng_state_problem(rngs: Any, world_size: int) -> str | None:
    """What is wrong with a checkpoint's per-rank random states ("rng": a list of {sampler, data, torch} byte
    tensors), else None (a list of another length is allowed: the streams restart then)."""
    if not isinstance(rngs, list) or not rngs:
        return "its random state is not a list of per-process states"
    if len(rngs) != world_size:
        return None
    for rank, state in enumerate(rngs):
        if not isinstance(state, dict):
            return f"the random state of process {rank} is not an object"
        for key in ("sampler", "data", "torch"):
            value = state.get(key)
            if not torch.is_tensor(value) or value.dtype != torch.uint8 or value.dim() != 1:
                return f"the random state of process {rank} lacks a usable {key!r} generator state"
    return None


def optimizer_state_problem(optimizer_state: Any, named_params: Iterable[tuple[str, Tensor]]) -> str | None:
    """What is wrong with an AdamW state_dict for these parameters (shapes, dtypes, finiteness), else None.

    Checked before `load_state_dict`: the fused kernels trust the buffers they are handed.
    """
    params = list(named_params)
    if not isinstance(optimizer_state, dict) or not isinstance(optimizer_state.get("state"), dict) \
            or not isinstance(optimizer_state.get("param_groups"), list):
        return "the optimizer state is not an optimizer state_dict"
    for number, group in enumerate(optimizer_state["param_groups"]):
        problem = _param_group_problem(group)
        if problem is not None:
            return f"parameter group {number}: {problem}"
    indices = [i for group in optimizer_state["param_groups"] for i in group["params"]]
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
