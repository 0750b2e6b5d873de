"""`ddpm-studio noise`: the forward process q(x_t | x_0) on real images, as a grid of x_t for several t."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from ddpm_studio.app import exports
from ddpm_studio.app.forward import check_ts, forward_grid, spread_of_t
from ddpm_studio.cli.arguments import int_list
from ddpm_studio.data import DataConfig, DataSourceError, ImageTransform, decode_image, open_source
from ddpm_studio.data.config import CHANNELS
from ddpm_studio.engine import SCHEDULE_NAMES, DiffusionConfig, make_schedule
from ddpm_studio.training.config import check_timesteps

ROWS = 5  # images taken from a folder / zip / builtin source: the write-up's 5 x 5 figure


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
    if args.rows < 1:
        raise ValueError(f"--rows must be at least 1, got {args.rows}")
    if Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a folder; give the grid's file name, for instance noise.png")
    DiffusionConfig(timesteps=args.timesteps).validate()  # T >= 1 before any t is checked against it
    check_timesteps(args.timesteps)  # and bounded: the schedules are O(T)
    ts = args.t if args.t is not None else spread_of_t(args.timesteps)
    check_ts(ts, args.timesteps)
    x0 = _noise_inputs(args.image, args.rows, ImageTransform(args.size, args.channels))  # (R, C, H, W)
    schedules = [make_schedule(name.strip(), args.timesteps) for name in args.schedule.split(",")]
    grid = forward_grid(x0, schedules, ts, args.seed)  # (R · S, len(ts), H, W, C)
    out = exports.save_png(args.out, exports.tile(grid.reshape(-1, *grid.shape[2:]), ncols=len(ts)))
    print(out)
    return 0


def add_noise(sub: Any) -> None:
    n = sub.add_parser("noise", help="the forward process on an image: a grid of x_t for several t")
    d, m = DiffusionConfig(), DataConfig()
    n.add_argument("image", help="image file, folder, .zip or builtin:<name>")
    n.add_argument("--t", type=int_list, default=None,
                   help="comma-separated t in 0..T (0 is the image itself; default: an even spread)")
    n.add_argument("--schedule", default=d.schedule,
                   help=f"one or more (comma-separated) of {', '.join(SCHEDULE_NAMES)}")
    n.add_argument("--timesteps", type=int, default=d.timesteps, help="T")
    n.add_argument("--size", type=int, default=m.image_size)
    n.add_argument("--channels", type=int, choices=CHANNELS, default=m.channels)
    n.add_argument("--rows", type=int, default=ROWS, help="images taken from a folder/zip/builtin source")
    n.add_argument("--seed", type=int, default=0, help="seed of each image's fixed noise")
    n.add_argument("--out", default="noise.png")
    n.set_defaults(func=cmd_noise)
