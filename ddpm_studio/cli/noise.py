"""`ddpm-studio noise`: the forward process q(x_t | x_0) on real images, as a grid of x_t for several t."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ddpm_studio.data import DataSourceError, ImageTransform, decode_image, open_source, to_uint8
from ddpm_studio.engine import SCHEDULE_NAMES, DiffusionConfig, GaussianDiffusion, q_sample
from ddpm_studio.training.previews import grid_image


def _parse_int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one value")
    return values


def _noise_inputs(spec: str, rows: int, transform: ImageTransform) -> torch.Tensor:
    """(R, C, H, W) images in [-1, 1] from an image file, a folder, a .zip or builtin:<name>."""
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix.lower() != ".zip":
        return transform(decode_image(path, name=path.name))[None]
    source = open_source(spec)
    images = [transform(source.load(i)) for i in range(min(rows, len(source)))]
    if not images:
        raise DataSourceError(f"{spec} holds no images")
    return torch.stack(images)


def cmd_noise(args: argparse.Namespace) -> int:
    """x_t ~ q(x_t | x_0) (Ho et al. eq. 4) for each t, one row per image and schedule, with fixed noise."""
    transform = ImageTransform(args.size, args.channels)
    x0 = _noise_inputs(args.image, args.rows, transform)  # (R, C, H, W)
    bad = [t for t in args.t if not 0 <= t < args.timesteps]
    if bad:
        raise ValueError(f"t={bad[0]} is out of range 0..{args.timesteps - 1} for T={args.timesteps}")
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(args.seed))
    tiles = []
    for image, eps in zip(x0, noise):
        for name in args.schedule.split(","):
            schedule = GaussianDiffusion(DiffusionConfig(schedule=name.strip(), timesteps=args.timesteps)).schedule
            for t in args.t:
                xt = q_sample(schedule, image[None], torch.tensor([t]), eps[None])
                tiles.append(to_uint8(xt)[0])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    grid_image(np.stack(tiles), ncols=len(args.t)).save(out)
    print(out)
    return 0


def add_noise(sub: Any) -> None:
    n = sub.add_parser("noise", help="the forward process on an image: a grid of x_t for several t")
    n.add_argument("image", help="image file, folder, .zip or builtin:<name>")
    n.add_argument("--t", type=_parse_int_list, default=[0, 100, 250, 500, 999], help="comma-separated t")
    n.add_argument("--schedule", default="cosine", help=f"one or more (comma-separated) of {', '.join(SCHEDULE_NAMES)}")
    n.add_argument("--timesteps", type=int, default=1000)
    n.add_argument("--size", type=int, default=64)
    n.add_argument("--channels", type=int, choices=(1, 3), default=3)
    n.add_argument("--rows", type=int, default=5, help="images taken from a folder/zip/builtin source")
    n.add_argument("--seed", type=int, default=0)
    n.add_argument("--out", default="noise.png")
    n.set_defaults(func=cmd_noise)
