"""`ddpm-studio sample` and `export`: images from a trained model, and an EMA-only weights file for sampling."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ddpm_studio.cli.common import add_common, resolve_model_path
from ddpm_studio.cli.progress import ProgressBar
from ddpm_studio.data import to_uint8
from ddpm_studio.engine import SamplingConfig, sample
from ddpm_studio.training.checkpoint import export_for_sampling, load_model
from ddpm_studio.training.previews import grid_image


def _save_png(array: np.ndarray, path: Path) -> None:
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)


def cmd_sample(args: argparse.Namespace) -> int:
    sampling = SamplingConfig(method=args.method, steps=args.steps, eta=args.eta, variance=args.variance,
                              clip_x0=not args.no_clip, noise_scale=args.noise_scale, seed=args.seed,
                              count=args.count)
    sampling.validate()
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model, diffusion, config = load_model(resolve_model_path(args.checkpoint, args.runs_dir), device=device)
    shape = (args.count, config.data.channels, config.data.image_size, config.data.image_size)
    frames: list[Image.Image] = []
    steps = diffusion.num_timesteps if args.method == "ddpm" else args.steps
    every = max(1, steps // max(1, args.gif_frames))
    bar = ProgressBar(steps, args.method, enabled=not args.quiet)
    last = None
    for last in sample(model, diffusion, shape, sampling, device=device):
        bar.update(last.index + 1)
        if args.gif and (last.index % every == 0 or last.index + 1 == last.num_steps):
            frames.append(grid_image(to_uint8(last.xt.float().clamp(-1, 1)), ncols=args.ncols))
    bar.close()
    assert last is not None
    images = to_uint8(last.xt.float())  # (N, H, W, C)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    grid_image(images, ncols=args.ncols).save(out / "grid.png")
    for i, image in enumerate(images):
        _save_png(image, out / f"sample_{i:03d}.png")
    if frames:
        frames += [frames[-1]] * 10  # linger on the result
        frames[0].save(out / "reverse.gif", save_all=True, append_images=frames[1:], duration=60, loop=0)
    print(out)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    out = export_for_sampling(resolve_model_path(args.checkpoint, args.runs_dir), Path(args.out))
    print(out)
    return 0


def add_sample(sub: Any) -> None:
    s = sub.add_parser("sample", help="sample images from a checkpoint, a run or 'demo'")
    s.add_argument("checkpoint", help="checkpoint file, run folder or name, or 'demo'")
    s.add_argument("--method", choices=("ddpm", "ddim"), default="ddim")
    s.add_argument("--steps", type=int, default=50, help="DDIM steps (DDPM uses all T)")
    s.add_argument("--eta", type=float, default=0.0)
    s.add_argument("--variance", choices=("fixed_small", "fixed_large"), default="fixed_small")
    s.add_argument("--noise-scale", type=float, default=1.0)
    s.add_argument("--no-clip", action="store_true", help="do not clip the predicted x_0 to [-1, 1]")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--count", type=int, default=16)
    s.add_argument("--ncols", type=int, default=None)
    s.add_argument("--out", default="samples", help="output folder")
    s.add_argument("--gif", action="store_true", help="also write reverse.gif of the reverse process")
    s.add_argument("--gif-frames", type=int, default=50)
    s.add_argument("--device", default="auto")
    add_common(s)
    s.set_defaults(func=cmd_sample)


def add_export(sub: Any) -> None:
    e = sub.add_parser("export", help="write an EMA-only weights file for sampling (e.g. the demo model)")
    e.add_argument("checkpoint", help="checkpoint file, run folder or name")
    e.add_argument("out", help="output .safetensors path")
    e.add_argument("--runs-dir", type=Path, default=None)
    e.set_defaults(func=cmd_export)
