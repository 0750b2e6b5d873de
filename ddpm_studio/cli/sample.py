"""`ddpm-studio sample` and `export`: images from a trained model, and an EMA-only weights file for sampling."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ddpm_studio.app import exports
from ddpm_studio.app.catalogue import CLASS_DEMO, DEMO, resolve_model
from ddpm_studio.app.chunked_sampling import CHUNK, chunk_sizes, sample_in_chunks
from ddpm_studio.app.diffusers_model import is_diffusers_folder, read_timesteps
from ddpm_studio.app.sampling import ALL_CLASSES, load_for_sampling
from ddpm_studio.app.sampling_cost import cost_warning, measure_eval
from ddpm_studio.cli.arguments import bounded_int, positive_int, seed
from ddpm_studio.cli.common import add_common, choose_checkpoint
from ddpm_studio.cli.progress import ProgressBar
from ddpm_studio.engine import DDPM_VARIANCES, SAMPLERS, SamplingConfig
from ddpm_studio.training.checkpoint import (
    CheckpointError,
    export_for_sampling,
    load_checkpoint,
    read_checkpoint_config,
)
from ddpm_studio.training.devices import PRECISIONS, resolve_device

MAX_COUNT = 50_000  # images one `sample` writes at most (the customary FID sample size)


def cmd_sample(args: argparse.Namespace) -> int:
    """Sample --count images in chunks of CHUNK (`app.chunked_sampling`, one model load): each chunk's images are
    written before the next one starts. grid.png (and reverse.gif) show the first chunk; --count <= CHUNK gives
    the images of one batch."""
    if not 1 <= args.count <= MAX_COUNT:
        raise ValueError(f"--count must be in 1..{MAX_COUNT}, got {args.count}")
    device = resolve_device(args.device)  # a bad --device is the first thing said
    model = choose_checkpoint(resolve_model(args.model, args.runs_dir), args.checkpoint)
    if is_diffusers_folder(model):  # a published diffusers pipeline or UNet2DModel folder
        timesteps = read_timesteps(model)
    else:
        if model.is_dir():  # the run's latest usable checkpoint, once (a damaged newer one is warned about once)
            model = load_checkpoint(model, with_state=False).path
        try:
            timesteps = read_checkpoint_config(model)[0].diffusion.timesteps  # the header alone
        except CheckpointError:  # the full check says so too, naming a usable older checkpoint if there is one
            timesteps = load_checkpoint(model, with_state=False).config.diffusion.timesteps
    steps = SamplingConfig(method=args.method).with_nfe(args.nfe, timesteps).steps if args.nfe else args.steps
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder for the images")
    sampling = SamplingConfig(method=args.method, steps=steps, eta=args.eta, variance=args.variance,
                              clip_x0=not args.no_clip, noise_scale=args.noise_scale, seed=args.seed,
                              count=args.count, guidance=args.guidance, guidance_rescale=args.guidance_rescale,
                              guidance_interval=_interval(args.guidance_interval))
    guide = _guide_checkpoint(args)
    loaded = load_for_sampling(model, device, precision=args.precision,  # once, for the estimate and every chunk
                               ema_length=args.ema_length)
    images = args.count * (len(loaded.classes) if args.class_name == ALL_CLASSES else 1)
    steered = guide is not None or args.class_name is not None  # CFG towards a class, or autoguidance
    warning = cost_warning(measure_eval(loaded, device, images), images, sampling.nfe(timesteps),
                           sampling.batch_factor(guide=steered))
    if warning:
        print(f"ddpm-studio: {warning}", file=sys.stderr)
    ncols = args.ncols or (args.count if args.class_name == ALL_CLASSES else None)
    sizes, total = chunk_sizes(args.count), sampling.nfe(timesteps)
    bars: dict[int, ProgressBar] = {}

    def on_step(k: int, step) -> None:
        if k not in bars:
            label = args.method if len(sizes) == 1 else f"{args.method} {sum(sizes[:k + 1])}/{args.count}"
            bars[k] = ProgressBar(total, f"{label} (NFE)", enabled=not args.quiet)
        bars[k].update(round((step.index + 1) * total / step.num_steps))

    chunks = sample_in_chunks(model, sampling, device=device, first_chunk_frames=args.gif_frames if args.gif else 1,
                              on_step=on_step, class_name=args.class_name, guide=guide, precision=args.precision,
                              models={Path(model): loaded})
    for chunk in chunks:
        bars[chunk.index].close()
        images = chunk.frames[-1].xt  # (count, H, W, C) uint8
        if chunk.index == 0:
            exports.save_png(out / "grid.png", exports.tile(images, ncols=ncols))
            if args.gif:
                exports.save_gif(out / "reverse.gif", [exports.tile(f.xt, ncols=ncols) for f in chunk.frames])
        for i, image in enumerate(images, start=chunk.first):
            exports.save_png(out / f"sample_{i:03d}.png", image)
    print(out)
    return 0


def _interval(text: str | None) -> tuple[int, ...]:
    """--guidance-interval LO,HI -> (LO, HI); None -> () (every step)."""
    if text is None:
        return ()
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--guidance-interval takes two timesteps LO,HI, got {text!r}") from None


def _guide_checkpoint(args: argparse.Namespace) -> Path | None:
    """--guide: a checkpoint file, or a run (its latest usable checkpoint)."""
    if args.guide is None:
        return None
    guide = resolve_model(args.guide, args.runs_dir)
    return load_checkpoint(guide, with_state=False).path if guide.is_dir() else guide


def cmd_export(args: argparse.Namespace) -> int:
    out = export_for_sampling(choose_checkpoint(resolve_model(args.model, args.runs_dir), args.checkpoint),
                              Path(args.out))
    print(out)
    return 0


def add_sample(sub: Any) -> None:
    s = sub.add_parser("sample", help=f"sample images from a checkpoint, a run or '{DEMO}', '{CLASS_DEMO}'")
    d = SamplingConfig()
    s.add_argument("model", metavar="MODEL",
                   help=f"checkpoint file, run folder or name, '{DEMO}', '{CLASS_DEMO}', or a diffusers pipeline "
                        "folder")
    s.add_argument("--checkpoint", default=None, metavar="step_N",
                   help="which checkpoint of the run (default: the latest usable one)")
    s.add_argument("--method", choices=SAMPLERS, default=d.method)
    s.add_argument("--steps", type=positive_int, default=d.steps, help="sampler steps (DDPM uses all T)")
    s.add_argument("--nfe", type=positive_int, default=None, help="network evaluations to spend instead of --steps "
                   "(Heun: 2 per step but the last, so an even budget spends one less; DDPM: only T)")
    s.add_argument("--eta", type=float, default=d.eta)
    s.add_argument("--variance", choices=DDPM_VARIANCES, default=d.variance)
    s.add_argument("--noise-scale", type=float, default=d.noise_scale)
    s.add_argument("--no-clip", action="store_true", help="do not clip the predicted x_0 to [-1, 1]")
    s.add_argument("--seed", type=seed, default=d.seed)
    s.add_argument("--count", type=int, default=d.count,
                   help=f"images (at most {MAX_COUNT}, made {CHUNK} at a time)")
    s.add_argument("--class", dest="class_name", default=None, metavar=f"NAME|{ALL_CLASSES}",
                   help="a class of a class-conditional model, or 'all': one row of --count images per class, "
                        "every row from the same noise")
    s.add_argument("--guidance", type=float, default=d.guidance,
                   help="guidance scale w: classifier-free towards --class (1 = the plain conditional model, 0 = "
                        "unconditional), or autoguidance with --guide; it doubles the batch, not the steps (NFE)")
    s.add_argument("--guidance-rescale", type=float, default=d.guidance_rescale,
                   help="CFG-rescale phi in 0..1 (Lin et al. 2024); 0 = off")
    s.add_argument("--guidance-interval", default=None, metavar="LO,HI",
                   help="guide only at timesteps LO <= t <= HI (Kynkaanniemi et al. 2024); elsewhere the plain "
                        "conditional model (default: every step)")
    s.add_argument("--guide", default=None, metavar="CHECKPOINT",
                   help="autoguidance: a weaker model of the same shape and data (an earlier checkpoint file, or "
                        "another run) to guide away from with --guidance")
    s.add_argument("--ncols", type=positive_int, default=None, help="grid columns (default: --count with --class all)")
    s.add_argument("--out", default="samples", help="output folder")
    s.add_argument("--gif", action="store_true", help="also write reverse.gif of the reverse process")
    s.add_argument("--gif-frames", type=bounded_int(2, 10_000), default=exports.GIF_FRAMES)
    s.add_argument("--ema-length", type=float, default=None, metavar="SIGMA_REL",
                   help="sample the run's post-hoc EMA of this relative length (EDM2; such as 0.05 or 0.1) instead "
                        "of its EMA: needs a run trained with --posthoc-ema")
    s.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    s.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="the network's dtype: auto (bf16, or fp16, on CUDA; float32 elsewhere), no (float32), bf16, "
                        "fp16; the sampler's own arithmetic stays in float32/float64")
    add_common(s)
    s.set_defaults(func=cmd_sample)


def add_export(sub: Any) -> None:
    e = sub.add_parser("export", help=f"write an EMA-only weights file for sampling (e.g. the {DEMO} model)")
    e.add_argument("model", metavar="MODEL", help="checkpoint file, run folder or name")
    e.add_argument("--checkpoint", default=None, metavar="step_N",
                   help="which checkpoint of the run (default: the latest usable one)")
    e.add_argument("out", help="output .safetensors path")
    e.add_argument("--runs-dir", type=Path, default=None)
    e.set_defaults(func=cmd_export)
