"""`ddpm-studio sample` and `export`: images from a trained model, and an EMA-only weights file for sampling."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ddpm_studio.app import exports
from ddpm_studio.app.catalogue import DEMO, resolve_model
from ddpm_studio.app.sampling import LaneSpec, SamplingSession
from ddpm_studio.cli.common import add_common
from ddpm_studio.cli.progress import ProgressBar
from ddpm_studio.engine import SamplingConfig
from ddpm_studio.engine.config import DDPM_VARIANCES, SAMPLING_METHODS
from ddpm_studio.training.checkpoint import export_for_sampling


def cmd_sample(args: argparse.Namespace) -> int:
    sampling = SamplingConfig(method=args.method, steps=args.steps, eta=args.eta, variance=args.variance,
                              clip_x0=not args.no_clip, noise_scale=args.noise_scale, seed=args.seed,
                              count=args.count)
    lane = LaneSpec(args.method, resolve_model(args.checkpoint, args.runs_dir), sampling)
    session = SamplingSession((lane,), device=args.device, max_frames=args.gif_frames if args.gif else 1)
    bar = ProgressBar(session.start().num_steps[0], args.method, enabled=not args.quiet)
    frames = list(session.frames(on_step=lambda _lane, step: bar.update(step.index + 1)))
    bar.close()
    images = frames[-1].xt  # (N, H, W, C) uint8
    out = Path(args.out)
    exports.save_png(out / "grid.png", exports.tile(images, ncols=args.ncols))
    exports.save_images(out, images)
    if args.gif:
        exports.save_gif(out / "reverse.gif", [exports.tile(f.xt, ncols=args.ncols) for f in frames])
    print(out)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    out = export_for_sampling(resolve_model(args.checkpoint, args.runs_dir), Path(args.out))
    print(out)
    return 0


def add_sample(sub: Any) -> None:
    s = sub.add_parser("sample", help=f"sample images from a checkpoint, a run or '{DEMO}'")
    d = SamplingConfig()
    s.add_argument("checkpoint", help=f"checkpoint file, run folder or name, or '{DEMO}'")
    s.add_argument("--method", choices=SAMPLING_METHODS, default=d.method)
    s.add_argument("--steps", type=int, default=d.steps, help="sampler steps (DDPM uses all T)")
    s.add_argument("--eta", type=float, default=d.eta)
    s.add_argument("--variance", choices=DDPM_VARIANCES, default=d.variance)
    s.add_argument("--noise-scale", type=float, default=d.noise_scale)
    s.add_argument("--no-clip", action="store_true", help="do not clip the predicted x_0 to [-1, 1]")
    s.add_argument("--seed", type=int, default=d.seed)
    s.add_argument("--count", type=int, default=d.count)
    s.add_argument("--ncols", type=int, default=None)
    s.add_argument("--out", default="samples", help="output folder")
    s.add_argument("--gif", action="store_true", help="also write reverse.gif of the reverse process")
    s.add_argument("--gif-frames", type=int, default=exports.GIF_FRAMES)
    s.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    add_common(s)
    s.set_defaults(func=cmd_sample)


def add_export(sub: Any) -> None:
    e = sub.add_parser("export", help=f"write an EMA-only weights file for sampling (e.g. the {DEMO} model)")
    e.add_argument("checkpoint", help="checkpoint file, run folder or name")
    e.add_argument("out", help="output .safetensors path")
    e.add_argument("--runs-dir", type=Path, default=None)
    e.set_defaults(func=cmd_export)
