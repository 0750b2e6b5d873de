"""Steering as denoiser combinators: classifier-free guidance and autoguidance wrap the model, not the samplers.

Each combinator is again a model ``model(x_t, t) -> output`` in the network's own output space (ε, x_0 or v,
plus the variance channels when learned), so every row of the sampler table, SDEdit and the NFE counter work
with it unchanged (k-diffusion's CFG wrapper, EDM2's guided denoiser). The objectives' outputs are affine in
one another for a fixed x_t, so guiding the output is guiding ε and x̂_0 alike.

- :class:`ClassifierFreeGuidance` (Ho & Salimans 2022, eq. 6 written with w = 1 + their w):
  out = out(x_t, t, ∅) + w (out(x_t, t, c) - out(x_t, t, ∅)); both branches in one batched forward pass (the batch
  doubles, the step count does not). w = 1 is the conditional model, w = 0 the unconditional one, each by one
  plain call (bit for bit). Optional: a guidance interval (Kynkäänniemi et al. 2024: guide only for t_lo <= t <=
  t_hi, the conditional model elsewhere) and CFG-rescale (Lin et al. 2024, eq. 15-16).
- :class:`Autoguidance` (Karras et al. 2024, "Guiding a diffusion model with a bad version of itself", eq. 1 with
  D_0 a weaker model): out = out_weak + w (out_main - out_weak); two networks, two forward passes per step.

A learned variance is not guided: its channels come from the conditional (main) branch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ddpm_studio.engine.diffusion import Model

__all__ = ["Autoguidance", "ClassifierFreeGuidance", "Conditioned", "autoguided", "cfg", "labels_for", "steer"]


def _num_classes(model: Model) -> int:
    return int(getattr(model, "num_classes", 0))


def _split(out: Tensor, channels: int) -> tuple[Tensor, Tensor]:
    """(mean channels, variance channels) of a network output (B, C or 2C, ...) for images of `channels`."""
    return out[:, :channels], out[:, channels:]


class Conditioned(nn.Module):
    """``model(x_t, t, y=labels)`` as a ``model(x_t, t)``: a conditional network bound to its class labels."""

    def __init__(self, model: Model, labels: Tensor) -> None:
        super().__init__()
        self.model, self.labels = model, labels

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.model(x, t, self.labels.to(x.device))


class ClassifierFreeGuidance(nn.Module):
    """Guided output of a conditional network (module docstring); `labels` (B,) in 0..K-1."""

    def __init__(self, model: Model, labels: Tensor, scale: float, *, interval: tuple[int, int] | None = None,
                 rescale: float = 0.0) -> None:
        super().__init__()
        if _num_classes(model) < 1:
            raise ValueError("classifier-free guidance needs a class-conditional model; this one is unconditional")
        self.model, self.labels, self.scale = model, labels, float(scale)
        self.interval, self.rescale = interval, float(rescale)

    def _inside(self, t: Tensor) -> Tensor:
        if self.interval is None:
            return torch.ones(t.shape, dtype=torch.bool, device=t.device)
        low, high = self.interval
        return (t >= low) & (t <= high)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        labels = self.labels.to(x.device)
        inside = self._inside(t)
        if self.scale == 1.0 or not bool(inside.any()):
            return self.model(x, t, labels)  # plain conditional
        if self.scale == 0.0 and bool(inside.all()):
            return self.model(x, t)  # plain unconditional (y = None: the "no class" row)
        null = torch.full_like(labels, _num_classes(self.model))
        out = self.model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null]))  # one pass, batch 2B
        cond, uncond = out.chunk(2)
        (cond_mean, cond_var), (uncond_mean, _) = _split(cond, x.shape[1]), _split(uncond, x.shape[1])
        mean = uncond_mean + self.scale * (cond_mean - uncond_mean)  # Ho & Salimans eq. 6
        if self.rescale > 0:
            mean = rescaled(mean, cond_mean, self.rescale)
        guided = torch.cat([mean, cond_var], dim=1)
        if not bool(inside.all()):
            guided = torch.where(inside.view(-1, *([1] * (x.ndim - 1))), guided, cond)
        return guided


def rescaled(guided: Tensor, cond: Tensor, phi: float) -> Tensor:
    """CFG-rescale, Lin et al. 2024 eq. 15-16: x_rescaled = x_cfg · std(x_pos) / std(x_cfg) per sample, then
    φ x_rescaled + (1 - φ) x_cfg (it undoes the over-exposure large w gives)."""
    dims = tuple(range(1, guided.ndim))
    ratio = cond.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True).clamp_min(1e-12)
    return phi * (guided * ratio) + (1.0 - phi) * guided


class Autoguidance(nn.Module):
    """out_weak + w (out_main - out_weak) (Karras et al. 2024, eq. 1); both models ``model(x_t, t)``."""

    def __init__(self, main: Model, weak: Model, scale: float) -> None:
        super().__init__()
        self.main, self.weak, self.scale = main, weak, float(scale)

    @property
    def num_classes(self) -> int:
        return _num_classes(self.main)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if self.scale == 0.0:  # the weak model alone, one network (`SamplingConfig.batch_factor` counts 1) --
            weak = self.weak(x, t)
            if weak.shape[1] == x.shape[1]:  # -- unless a learned variance must come from the main model
                return weak
        else:
            weak = None
        main = self.main(x, t)
        if self.scale == 1.0:
            return main
        weak = self.weak(x, t) if weak is None else weak
        (main_mean, main_var), (weak_mean, _) = _split(main, x.shape[1]), _split(weak, x.shape[1])
        return torch.cat([weak_mean + self.scale * (main_mean - weak_mean), main_var], dim=1)


def cfg(model: Model, labels: Tensor, w: float, *, interval: tuple[int, int] | None = None,
        rescale: float = 0.0) -> ClassifierFreeGuidance:
    """Classifier-free guidance of `model` towards `labels` (B,) with scale `w` (design: ``cfg(model, labels, w)``)."""
    return ClassifierFreeGuidance(model, labels, w, interval=interval, rescale=rescale)


def autoguided(main: Model, weak: Model, w: float) -> Autoguidance:
    """`main` guided away from the weaker `weak` with scale `w` (design: ``autoguided(main, weak, w)``)."""
    return Autoguidance(main, weak, w)


def labels_for(labels: Sequence[int], batch: int, num_classes: int) -> Tensor | None:
    """The (B,) label tensor of a batch: one label for every image, or one per image (repeated when the batch
    holds N chains per image, ``repeat_interleave``); None for no labels. ValueError if a label is not a class."""
    if not labels:
        return None
    bad = [y for y in labels if not 0 <= y < num_classes]
    if bad:
        raise ValueError(f"class {bad[0]} is not one of the model's {num_classes} classes (0..{num_classes - 1})")
    y = torch.as_tensor(list(labels), dtype=torch.long)
    if len(labels) == 1:
        return y.expand(batch).clone()
    if batch % len(labels):
        raise ValueError(f"{len(labels)} class labels for a batch of {batch} images")
    return y.repeat_interleave(batch // len(labels))


def steer(model: Model, batch: int, *, labels: Sequence[int] = (), guidance: float = 1.0,
          interval: tuple[int, int] | None = None, rescale: float = 0.0, guide: Model | None = None) -> Model:
    """The model a sampler should call for these steering settings; `model` itself when there are none (so
    unsteered sampling is exactly today's). With `guide`, autoguidance of scale `guidance` (both networks
    conditioned on `labels` if given); else classifier-free guidance towards `labels`."""
    classes = _num_classes(model)
    if labels and classes < 1:
        raise ValueError("a class was asked of an unconditional model (it was trained without classes)")
    y = labels_for(labels, batch, classes)
    if guide is not None:
        if y is not None and _num_classes(guide) != classes:
            raise ValueError(f"the guide model has {_num_classes(guide)} classes, the model {classes}")
        main, weak = (model, guide) if y is None else (Conditioned(model, y), Conditioned(guide, y))
        return autoguided(main, weak, guidance)
    if y is None:
        if guidance != 1.0:
            raise ValueError("guidance needs a class to guide towards (or a guide model for autoguidance)")
        return model
    return cfg(model, y, guidance, interval=interval, rescale=rescale)
