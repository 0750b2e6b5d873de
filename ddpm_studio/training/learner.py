"""The network being trained and everything that updates it: the UNet (wrapped in DDP under torchrun), its
EMA, AdamW, the fp16 grad scaler, and one optimiser step of the engine's loss (Ho et al. Algorithm 1).

The Learner draws nothing at random itself: x_0, t and ε come in (the Trainer's seeded streams, rng.py),
so the same inputs give the same update. It knows nothing of runs, events or the training loop.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from ddpm_studio.engine.diffusion import GaussianDiffusion
from ddpm_studio.engine.unet import build_unet
from ddpm_studio.training import distributed
from ddpm_studio.training.checkpoint import CheckpointError, load_weights
from ddpm_studio.training.checkpoint_checks import optimizer_state_problem
from ddpm_studio.training.config import RunConfig
from ddpm_studio.training.devices import amp_dtype
from ddpm_studio.training.distributed import DistInfo
from ddpm_studio.training.ema import EMA

# channels_last per device type: on CPU within noise of NCHW for the tiny UNet (bench/train_step.py, 2026-11),
# faster for its convolutions (oneDNN); on CUDA the layout tensor-core convolutions want
_CHANNELS_LAST = {"cpu": True, "cuda": True, "mps": False}


class NonFiniteLoss(Exception):
    """The loss (or the gradient norm) is NaN or Inf."""


def make_adamw(model: torch.nn.Module, device: torch.device, lr: float,
               weight_decay: float) -> torch.optim.Optimizer:
    """AdamW with the fused kernel where torch has one for `device` (CPU and CUDA), else multi-tensor (foreach).

    The fused and the per-tensor kernels compute the same update (Loshchilov & Hutter, Algorithm 2) in one pass
    over all parameters instead of ~10 small ops per tensor, which on CPU is most of the optimiser's cost.
    """
    params = list(model.parameters())
    if device.type in ("cpu", "cuda"):
        try:
            return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
        except (RuntimeError, TypeError, ValueError):  # an older torch without the fused kernel here
            pass
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)


class Learner:
    """ε_θ, its EMA and its optimiser on one device; `step` takes one optimiser step on a batch."""

    def __init__(self, config: RunConfig, device: torch.device, dist: DistInfo) -> None:
        tc = config.training
        self.device, self.grad_clip = device, tc.grad_clip
        self.last_grad_norm: float | None = None  # of the last step (step() sets it)
        self.amp_dtype = amp_dtype(tc.mixed_precision, device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.diffusion = GaussianDiffusion(config.diffusion)
        with torch.random.fork_rng(devices=[]):  # same initial weights on every rank, global RNG untouched
            torch.manual_seed(tc.seed)
            self.model = build_unet(config.model).to(device)
        self.memory_format = torch.channels_last if _CHANNELS_LAST.get(device.type, True) else None
        if self.memory_format is not None:
            self.model = self.model.to(memory_format=self.memory_format)
        self.ema = EMA(self.model, tc.ema_decay, warmup=tc.ema_warmup, sigma_rel=tc.ema_sigma_rel)
        self.net: torch.nn.Module = self.model
        if dist.enabled:
            ids = [device.index] if device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = make_adamw(self.model, device, tc.lr, tc.weight_decay)
        self._params = [p for p in self.model.parameters() if p.requires_grad]

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        """A (B, C, H, W) CPU tensor on the training device, in the network's memory format."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=self.memory_format) if self.memory_format is not None else x

    def step(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, lr: float, *,
             number: int, y: torch.Tensor | None = None,
             augment_labels: torch.Tensor | None = None) -> tuple[float, torch.Tensor]:
        """One optimiser step on L = mean_b loss(x0_b, t_b, ε_b) (Ho et al. Algorithm 1, lines 2-5).

        `x0` and `noise` are (B, C, H, W) on the device, `t` (B,) on the CPU; `number` (1-based) names the step
        in a NonFiniteLoss; `y` (B,) are a conditional net's class labels (after dropout); `augment_labels`
        (B, D) the augmentation vector of each x_0 (data/augment.py) for a net conditioned on it.
        Returns the loss (averaged over ranks under DDP) and the per-sample losses (B,) on CPU.
        """
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.net.train()
        autocast = (torch.autocast("cuda", dtype=self.amp_dtype) if self.amp_dtype is not None
                    else contextlib.nullcontext())
        with autocast:
            extra = {} if y is None else {"y": y.to(self.device)}
            if augment_labels is not None:
                extra["augment_labels"] = augment_labels.to(self.device)
            net = functools.partial(self.net, **extra) if extra else self.net
            terms = self.diffusion.training_losses(net, x0, t.to(self.device), noise=noise)
        per_sample = terms.loss.float()  # (B,)
        loss = per_sample.mean()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        norm = (torch.nn.utils.clip_grad_norm_(self._params, self.grad_clip, foreach=True) if self.grad_clip > 0
                else torch.zeros((), device=loss.device))
        # the step's one host sync: the loss (for events) and the norm (divergence check) together
        value, norm_value = torch.stack([loss.detach(), norm.detach().float()]).tolist()
        value = distributed.all_reduce_mean(value)
        if not math.isfinite(value):
            raise NonFiniteLoss(f"the loss became {value} at step {number}")
        if self.scaler is None and not math.isfinite(norm_value):
            raise NonFiniteLoss(f"the gradient norm became {norm_value} at step {number}")
        # the global gradient norm before clipping (the history logs it); None when clipping is off (not computed)
        self.last_grad_norm = norm_value if self.grad_clip > 0 and math.isfinite(norm_value) else None
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.ema.update(self.model)
        return value, per_sample.detach().cpu()

    def release_memory(self) -> None:
        """Drop the gradients (and the CUDA cache) after an out-of-memory error."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def state(self) -> dict[str, Any]:
        """The optimiser, grad scaler and EMA update count (the weights go into the checkpoint's tensors)."""
        return {"ema_updates": self.ema.updates, "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def load_state(self, model_state: dict[str, torch.Tensor], ema_state: dict[str, torch.Tensor],
                   state: dict[str, Any], *, name: str, state_name: str | None = None) -> None:
        """Restore the weights, the EMA and what `state()` saved (KeyError/ValueError/RuntimeError if unusable).

        Every optimiser tensor is checked against its parameter first (CheckpointError naming `state_name` and
        the tensor): the fused AdamW kernel would read a wrong-shaped moment buffer out of bounds.
        """
        problem = optimizer_state_problem(state["optimizer"], self.model.named_parameters())
        if problem is not None:
            raise CheckpointError(f"{state_name or name} cannot be resumed: {problem}")
        load_weights(self.model, model_state, name=name)
        self.ema.load_state_dict(ema_state, state["ema_updates"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
