"""`ddpm-studio probe`: what a model keeps of an image noised to t (SDEdit grid and error vs t), its DDIM
inversion, and the interpolation between two images through their inverted noises."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from ddpm_studio.app import exports
from ddpm_studio.app.catalogue import CLASS_DEMO, DEMO, resolve_model
from ddpm_studio.app.probe import (
    INTERPOLATION_FRAMES,
    PICTURE_SCALE,
    PROBE_IMAGES,
    ProbeSettings,
    inversion_strip,
    run_probe,
    save_interpolation,
    sdedit_grid,
)
from ddpm_studio.app.sweep import model_data_source
from ddpm_studio.atomic import atomic_write_text
from ddpm_studio.cli.arguments import bounded_int, int_list, positive_int, seed, threads
from ddpm_studio.cli.common import add_common
from ddpm_studio.data.sources import open_source
from ddpm_studio.engine import SAMPLERS


def image_names(source: str, indices: list[int]) -> list[str]:
    """`#index name` of each probed image (the file name in its folder or archive)."""
    keys = open_source(source).keys()
    return [f"#{i} {keys[i]}" if 0 <= i < len(keys) else f"#{i}" for i in indices]


def cmd_probe(args: argparse.Namespace) -> int:
    if args.interpolate and len(args.index) < 2:
        raise ValueError("interpolation needs two images: give --index A,B")
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = ProbeSettings(t_values=tuple(args.t or ()), method=args.method, steps=args.steps,
                             inversion_steps=args.inversion_steps, seed=args.seed)  # () -> the model's default row
    checkpoint = resolve_model(args.model, args.runs_dir)
    outcome = run_probe(checkpoint, args.data, list(args.index), settings,
                        device=args.device, inversion=bool(args.inversion),
                        interpolation=args.frames if args.interpolate else None)
    assert outcome is not None  # nothing stops it
    settings, result = outcome.settings, outcome.sdedit
    names = image_names(args.data or model_data_source(checkpoint), list(args.index))
    print(f"{'t':>5} {'MSE':>8} {'LAYOUT':>8} {'DETAIL':>8}   (SDEdit, {settings.method}, {settings.steps} steps, "
          f"mean over {len(names)} image(s))")
    for t, mse, layout, detail in result.mean_errors():
        print(f"{t:>5} {mse:>8.4f} {layout:>8.4f} {detail:>8.4f}")
    report: dict[str, Any] = {"t": list(result.t_values), "method": settings.method, "steps": settings.steps,
                              "images": list(args.index), "mse": result.mse.tolist(),
                              "mse_layout": result.mse_layout.tolist(), "mse_detail": result.mse_detail.tolist()}
    report["image_names"] = names
    inv = outcome.inversion
    if inv is not None:
        print(f"DDIM inversion ({inv.steps} steps) reconstruction MSE:")
        for name, value in zip(names, inv.mse.tolist(), strict=False):
            print(f"  {value:.5f}  {name}")
        report["inversion"] = {"steps": inv.steps, "mse": inv.mse.tolist()}
    wrote = [(exports.save_png(args.out, sdedit_grid(result, scale=args.scale)), "the SDEdit grid")]
    if inv is not None and args.inversion:
        wrote.append((exports.save_png(args.inversion, inversion_strip(inv, scale=args.scale)),
                      "x_0 | x_T | reconstruction"))
    if inv is not None and outcome.frames is not None:
        wrote.append((save_interpolation(outcome.frames, args.interpolate, scale=args.scale * 2),
                      f"the interpolation {names[0]} -> {names[1]}"))
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(report, indent=2) + "\n")
        wrote.append((Path(args.json), "the errors (JSON)"))
    for path, what in wrote:
        print(f"wrote {path} ({what})")
    return 0


def add_probe(sub: Any) -> None:
    p = sub.add_parser("probe", help="noise images to t and back (SDEdit), DDIM inversion and interpolation")
    d = ProbeSettings()
    p.add_argument("model", help=f"checkpoint file, run folder or name, '{DEMO}' or '{CLASS_DEMO}'")
    p.add_argument("--data", default=None, help="folder, .zip or builtin:<name> (default: the model's training data)")
    p.add_argument("--index", type=int_list, default=tuple(range(PROBE_IMAGES)), help="images of the data set to probe")
    p.add_argument("--t", type=int_list, default=None, help="0-based timesteps to noise to "
                   f"(default {','.join(map(str, d.t_values))} for T = 1000, the same fractions of T otherwise)")
    p.add_argument("--method", choices=SAMPLERS, default=d.method, help="the reverse sampler from t")
    p.add_argument("--steps", type=positive_int, default=d.steps, help="reverse steps from each t (at most t + 1)")
    p.add_argument("--seed", type=seed, default=d.seed)
    p.add_argument("--out", default="probe.png", help="the SDEdit grid (PNG)")
    p.add_argument("--inversion", default=None, help="write x_0 | x_T | reconstruction (PNG) here")
    p.add_argument("--inversion-steps", type=positive_int, default=d.inversion_steps)
    p.add_argument("--interpolate", default=None, help="write the slerp interpolation between the first two "
                   "images here (.gif animates it, .png is a strip)")
    p.add_argument("--frames", type=bounded_int(2, 1000), default=INTERPOLATION_FRAMES, help="interpolation frames")
    p.add_argument("--scale", type=bounded_int(1, 64), default=PICTURE_SCALE, help="pixel upscaling of the pictures")
    p.add_argument("--json", default=None, help="write the errors as JSON here")
    p.add_argument("--threads", type=threads, default=None, help="torch CPU threads")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    add_common(p)
    p.set_defaults(func=cmd_probe)
