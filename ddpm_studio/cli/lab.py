"""`ddpm-studio lab`: the 2-D lab headless -- train a point denoiser, compare samplers from one x_T, write the
figure (lab.png) and the metrics (metrics.json). One call into ``app.lab_report.run_lab``."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

import torch

from ddpm_studio.app.lab import DEFAULT_TRAIN_STEPS, LabConfig, SamplerChoice
from ddpm_studio.app.lab_presets import PRESETS, get_preset
from ddpm_studio.app.lab_report import run_lab
from ddpm_studio.cli.progress import ProgressBar
from ddpm_studio.engine import SAMPLERS, SCHEDULE_NAMES
from ddpm_studio.engine.config import OBJECTIVES


def sampler_choice(text: str) -> SamplerChoice:
    """``METHOD[:NFE[:W]]``, e.g. ``dpmpp_2m:3``, ``ddpm``, ``ddim:25:5`` (CFG w = 5) or ``ddim:25:a2``
    (autoguidance w = 2 by the lab's earlier snapshot)."""
    method, _, rest = text.partition(":")
    nfe, _, scale = rest.partition(":")
    if method not in SAMPLERS:
        raise argparse.ArgumentTypeError(f"sampler must be one of {', '.join(SAMPLERS)}, got {method!r}")
    try:
        steps = int(nfe) if nfe else SamplerChoice().nfe
    except ValueError:
        raise argparse.ArgumentTypeError(f"NFE must be an integer, got {nfe!r}") from None
    auto = scale.startswith("a")
    try:
        w = float(scale[1:] if auto else scale) if scale else 1.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"guidance must be a number (a prefix: autoguidance), got {scale!r}") from None
    return SamplerChoice(method, steps, guidance=w, autoguide=auto)


def cmd_lab(args: argparse.Namespace) -> int:
    preset = get_preset(args.preset) if args.preset else None
    config = preset.config if preset else LabConfig()
    diffusion = config.diffusion
    for name in ("schedule", "objective", "timesteps"):
        if getattr(args, name) is not None:
            diffusion = replace(diffusion, **{name: getattr(args, name)})
    if args.conditional:
        config = replace(config, conditional=True)
    config = replace(config, diffusion=diffusion, seed=args.seed,
                     **{k: v for k, v in (("data", args.data), ("points", args.points)) if v is not None})
    steps = args.steps if args.steps is not None else (preset.train_steps if preset else DEFAULT_TRAIN_STEPS)
    choices = args.sampler or ([preset.left, preset.right] if preset else [SamplerChoice(), SamplerChoice("ddpm")])
    if args.threads:
        torch.set_num_threads(args.threads)
    bar = ProgressBar(steps, "training", enabled=steps > 0)
    result = run_lab(config, steps, choices, args.out, count=args.count, seed=args.seed,
                     caption=preset.caption if preset else None, twin=args.twin,
                     report=lambda p: bar.update(p.step, f"loss {p.loss:.4f}"))
    print(f"floor (data vs data) SWD {result.floor:.4f}")
    for name, distance in result.distances.items():
        print(f"{name}: SWD {distance:.4f} ({distance / max(result.floor, 1e-12):.2f}x the floor)")
    print(result.figure)
    print(result.metrics)
    return 0


def add_lab(sub: Any) -> None:
    d = LabConfig()
    p = sub.add_parser("lab", help="the 2-D lab: train on points, compare samplers, write a figure and metrics")
    p.add_argument("--data", default=None,
                   help=f"point set: moons, gmm?modes=8, swiss, spiral, checkerboard, rings, letter:A, "
                        f"image:PATH or csv:PATH (default {d.data})")
    p.add_argument("--points", type=int, default=None, help=f"points drawn (default {d.points})")
    p.add_argument("--steps", type=int, default=None,
                   help=f"training steps (default: the preset's, else {DEFAULT_TRAIN_STEPS})")
    p.add_argument("--sampler", type=sampler_choice, action="append",
                   help="METHOD[:NFE[:W]], repeatable (default: ddim:20 and ddpm, all from the same x_T); W is a "
                        "guidance scale: ddim:25:5 is CFG w=5 (needs --conditional), ddim:25:a2 autoguidance w=2")
    p.add_argument("--conditional", action="store_true",
                   help="condition on the data's labels (gmm, moons, spiral, rings, a CSV's third column) with "
                        "label dropout, for classifier-free guidance")
    p.add_argument("--schedule", choices=SCHEDULE_NAMES, default=None)
    p.add_argument("--objective", choices=OBJECTIVES, default=None)
    p.add_argument("--timesteps", type=int, default=None, help=f"T (default {d.diffusion.timesteps})")
    p.add_argument("--twin", default=None, metavar="SETTING=VALUE",
                   help="also train a second model with one setting changed (schedule=linear, objective=eps; "
                        "twice the time) and run every sampler on both from the same x_T")
    p.add_argument("--preset", choices=[q.name for q in PRESETS], default=None)
    p.add_argument("--count", type=int, default=500, help="samples per sampler")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: a tiny MLP gains nothing from more)")
    p.add_argument("--out", default="lab", help="folder for lab.png and metrics.json")
    p.set_defaults(func=cmd_lab)
