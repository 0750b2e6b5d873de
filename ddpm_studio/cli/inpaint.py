"""`ddpm-studio inpaint`: fill a masked region of images with a model (plain replacement and RePaint), write the
grids and the measured errors (masked region, seam, copies of training images)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from ddpm_studio.app import exports
from ddpm_studio.app.catalogue import CLASS_DEMO, DEMO, resolve_model
from ddpm_studio.app.inpainting import MODES, InpaintSettings, inpainting_grid, load_images, run_inpainting
from ddpm_studio.app.inpainting_masks import MASK_PRESETS, check_mask, preset_mask, read_mask
from ddpm_studio.app.sampling import load_for_sampling
from ddpm_studio.atomic import atomic_write_text
from ddpm_studio.cli.common import add_common
from ddpm_studio.cli.sweep import int_list
from ddpm_studio.engine import SAMPLERS


def cmd_inpaint(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    model = resolve_model(args.model, args.runs_dir)
    loaded = load_for_sampling(model, args.device)
    channels, size, _ = loaded.shape
    mask = preset_mask(args.mask, size, seed=args.seed) if args.mask in MASK_PRESETS else read_mask(args.mask)
    mask = check_mask(mask, size, scale=args.scale_mask)
    images = load_images(args.images, list(args.index), loaded.shape)
    modes = MODES if args.mode == "both" else (args.mode,)
    settings = InpaintSettings(method=args.method, steps=args.steps, jump_length=args.jump, resample=args.resample,
                               fills=args.count, seed=args.seed, modes=modes)
    outcome = run_inpainting(model, images, mask, settings, device=args.device, check_copies=not args.no_copy_check)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{'MODE':<8} {'NFE':>6} {'MASKED MSE':>11} {'SEAM MSE':>9} {'COPIES':>7}   "
          f"({settings.method}, {settings.steps} steps; RePaint: jump {settings.jump_length}, "
          f"{settings.resample} runs; {settings.fills} fills x {images.shape[0]} images)")
    report: dict[str, Any] = {"model": str(model), "images": args.images, "indices": list(args.index),
                              "mask": args.mask, "method": settings.method, "steps": settings.steps,
                              "jump_length": settings.jump_length, "resample": settings.resample, "modes": {}}
    for result in outcome.results:
        summary = result.summary()
        copies = f"{summary['copied_share']:.2f}" if "copied_share" in summary else "-"
        print(f"{result.mode:<8} {result.nfe:>6} {summary['masked_mse']:>11.4f} {summary['seam_mse']:>9.4f} "
              f"{copies:>7}")
        path = exports.save_png(out / f"inpaint_{result.mode}.png", inpainting_grid(outcome, result.mode),
                                scale=args.scale)
        print(f"wrote {path}")
        report["modes"][result.mode] = {**summary, "masked_mse_per_fill": result.masked_mse.tolist(),
                                        "seam_mse_per_fill": result.seam_mse.tolist()}
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def add_inpaint(sub: Any) -> None:
    p = sub.add_parser("inpaint", help="fill a masked region of images (replacement and RePaint), with its errors")
    d = InpaintSettings()
    p.add_argument("model", help=f"checkpoint file, run folder or name, '{DEMO}', '{CLASS_DEMO}', or a diffusers "
                                 "pipeline folder")
    p.add_argument("images", help="folder, .zip, builtin:<name> (with --index) or one image file")
    p.add_argument("--index", type=int_list, default=(0, 1, 2, 3), help="images of the data set to fill")
    p.add_argument("--mask", default="half-left", help=f"{', '.join(MASK_PRESETS)}, or a PNG (white = fill)")
    p.add_argument("--scale-mask", action="store_true", help="scale a mask PNG of another size to the model's")
    p.add_argument("--count", type=int, default=d.fills, help="fills per image, from different seeds")
    p.add_argument("--mode", choices=(*MODES, "both"), default="both")
    p.add_argument("--method", choices=SAMPLERS, default=d.method)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--jump", type=int, default=d.jump_length, help="RePaint: sampler steps per segment")
    p.add_argument("--resample", type=int, default=d.resample, help="RePaint: runs of each segment")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-copy-check", action="store_true", help="skip the nearest-training-image check")
    p.add_argument("--out", default="inpaint", help="output folder for the grids")
    p.add_argument("--scale", type=int, default=4, help="pixel upscaling of the grids")
    p.add_argument("--json", default=None, help="write the errors as JSON here")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    add_common(p)
    p.set_defaults(func=cmd_inpaint)
