"""`ddpm-studio` headless commands: train, sample, noise, runs, export.

Each command parses flags into the same typed configs the GUI edits, then calls the training/engine
layers. Long work shows a progress bar on stderr; results go to files (their paths on stdout). On a
bad input the command exits non-zero with one line: "ddpm-studio: error: <reason>" (no traceback).
Multi-process training: `torchrun --nproc_per_node N -m ddpm_studio train ...` (rank 0 writes files).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, TextIO

import numpy as np
import torch
from PIL import Image

from ddpm_studio.data import (
    BUILTIN_DATASETS, DataConfig, DataLoadCancelled, DataSourceError, ImageDecodeError, ImageTransform,
    decode_image, load_dataset, open_source, to_uint8,
)
from ddpm_studio.engine import (
    SCHEDULE_NAMES, UNET_PRESETS, DiffusionConfig, GaussianDiffusion, SamplingConfig, q_sample, sample,
)
from ddpm_studio.training import distributed
from ddpm_studio.training.checkpoint import CheckpointError, export_for_sampling, load_model
from ddpm_studio.training.config import RunConfig, TrainingConfig
from ddpm_studio.training.events import EpochEndEvent, FailedEvent, FinishedEvent, StepEvent, TrainingEvent
from ddpm_studio.training.previews import grid_image
from ddpm_studio.training.runs import DEMO_CHECKPOINT, Run, RunError, create_run, list_runs, open_run, runs_root
from ddpm_studio.training.trainer import Trainer

PROG = "ddpm-studio"
EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
USER_ERRORS = (CheckpointError, RunError, DataSourceError, DataLoadCancelled, ImageDecodeError, ValueError, OSError)


class ProgressBar:
    """A one-line progress bar on stderr: redrawn in place on a terminal (at most 10 Hz); elsewhere (a log file,
    a pipe) a plain line at the start, then at most one every `log_interval_s` seconds, and the final one."""

    def __init__(self, total: int | None, label: str, *, stream: TextIO | None = None, enabled: bool = True,
                 log_interval_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.label, self.stream, self.enabled = total, label, stream or sys.stderr, enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_interval_s, self._clock = log_interval_s, clock
        self._last_draw: float | None = None
        self._pending: str | None = None  # the latest state, when it has not been written yet

    def update(self, done: int, info: str = "") -> None:
        if not self.enabled:
            return
        now = self._clock()
        final = self.total is not None and done >= self.total
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
            text = f"{self.label} [{bar}] {done}/{self.total} {info}".rstrip()
        else:
            text = f"{self.label} {done} {info}".rstrip()
        self._pending = text
        interval = 0.1 if self.tty else self.log_interval_s
        if final or self._last_draw is None or now - self._last_draw >= interval:
            self._write(text)
            self._last_draw = now

    def _write(self, text: str) -> None:
        self.stream.write("\r" + text[:150].ljust(80) if self.tty else text + "\n")
        self.stream.flush()
        self._pending = None

    def close(self) -> None:
        """End the bar: on a terminal, move to a new line; elsewhere write the last state if it is not out yet."""
        if not self.enabled:
            return
        if self._pending is not None:
            self._write(self._pending)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# ---- train ---------------------------------------------------------------------------------------------

def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Build and validate the RunConfig a `train` command line describes."""
    if args.preset not in UNET_PRESETS:
        raise ValueError(f"unknown preset {args.preset!r}; choose one of {', '.join(UNET_PRESETS)}")
    model = replace(UNET_PRESETS[args.preset], in_channels=args.channels, learned_variance=args.learned_variance)
    if args.base_channels is not None:
        model = replace(model, base_channels=args.base_channels)
    diffusion = DiffusionConfig(schedule=args.schedule, timesteps=args.timesteps, objective=args.objective,
                                loss=args.loss, learned_variance=args.learned_variance)
    data = DataConfig(source=args.data, image_size=args.size, channels=args.channels, hflip=not args.no_hflip,
                      random_crop=args.random_crop)
    max_steps = args.steps if args.steps is not None else (None if args.epochs is not None else 2000)
    training = TrainingConfig(
        batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup, grad_clip=args.grad_clip,
        ema_decay=args.ema_decay, max_steps=max_steps, epochs=args.epochs, max_minutes=args.minutes,
        device=args.device,
        mixed_precision=args.mixed_precision, preview_every_epochs=args.preview_every,
        preview_count=args.preview_count, checkpoint_every_steps=args.checkpoint_every, keep_last=args.keep_last,
        seed=args.seed, num_threads=args.threads)
    config = RunConfig(model=model, diffusion=diffusion, data=data, training=training)
    config.validate()
    return config


def _resumed_config(args: argparse.Namespace, run: Run) -> RunConfig:
    """The run's own config, with only the length (--steps/--epochs) and --device taken from the command line."""
    training = run.config.training
    if args.steps is not None or args.epochs is not None:
        training = replace(training, max_steps=args.steps, epochs=args.epochs)
    if args.minutes is not None:
        training = replace(training, max_minutes=args.minutes)
    if args.device != "auto":
        training = replace(training, device=args.device)
    config = replace(run.config, training=training)
    config.validate()
    return config


class _TrainReporter:
    """Turns training events into a progress bar and remembers how training ended."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: ProgressBar | None = None
        self.outcome: FinishedEvent | FailedEvent | None = None

    def __call__(self, event: TrainingEvent) -> None:
        if isinstance(event, StepEvent):
            if self.bar is None:
                self.bar = ProgressBar(event.total_steps, "train", enabled=not self.quiet)
            self.bar.update(event.step, f"epoch {event.epoch} loss {event.loss:.4f} {event.images_per_s:.0f} img/s")
        elif isinstance(event, EpochEndEvent):
            logging.getLogger(PROG).info("epoch %d ended at step %d", event.epoch, event.step)
        elif isinstance(event, (FinishedEvent, FailedEvent)):
            self.outcome = event
            if self.bar is not None:
                self.bar.close()


def cmd_train(args: argparse.Namespace) -> int:
    dist = distributed.init_distributed(args.device)
    quiet = args.quiet or not dist.is_main
    try:
        if args.resume:
            run = open_run(args.resume, root=args.runs_dir)
            run.config = config = _resumed_config(args, run)
            if dist.is_main:
                run.save_config()
        else:
            config = config_from_args(args)
            run = create_run(config, root=args.runs_dir, name=args.name) if dist.is_main else None
        path = distributed.broadcast_from_main(str(run.path) if run is not None else None)
        run = run if run is not None else Run(path=Path(path), config=config)
        bar = ProgressBar(None, "decode", enabled=not quiet)
        dataset = load_dataset(config.data, on_progress=lambda done, total: (
            setattr(bar, "total", total), bar.update(done)))
        bar.close()
        if dataset.problems and not quiet:
            print(f"{PROG}: skipped {len(dataset.problems)} unreadable file(s) (see the log)", file=sys.stderr)
        trainer = Trainer.resume(run, dataset) if args.resume else Trainer(config, dataset, run)
        reporter = _TrainReporter(quiet)
        interrupted = _run_with_stop_on_signal(trainer, reporter)
    finally:
        distributed.cleanup()
    return _train_outcome(reporter.outcome, run, interrupted, dist.is_main)


def _run_with_stop_on_signal(trainer: Trainer, reporter: _TrainReporter) -> bool:
    """Run the trainer; the first Ctrl-C / SIGTERM asks it to stop (checkpoint first), a second one aborts."""
    hits = []

    def handler(signum: int, frame: Any) -> None:
        if hits:
            raise KeyboardInterrupt
        hits.append(signum)
        print(f"\n{PROG}: stopping after this step (press Ctrl-C again to abort)...", file=sys.stderr)
        trainer.request_stop()

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread: no signal handling
            pass
    try:
        trainer.run(reporter)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return bool(hits)


def _train_outcome(outcome: FinishedEvent | FailedEvent | None, run: Run, interrupted: bool, main: bool) -> int:
    if not main:
        return 0
    if isinstance(outcome, FailedEvent):
        print(f"{PROG}: error: training failed ({outcome.kind}): {outcome.message}", file=sys.stderr)
        return EXIT_ERROR
    print(run.path)
    if isinstance(outcome, FinishedEvent) and outcome.reason == "stopped":
        print(f"{PROG}: stopped at step {outcome.step}; continue with: {PROG} train --resume {run.path}",
              file=sys.stderr)
        return EXIT_INTERRUPTED if interrupted else 0
    return 0


# ---- sample --------------------------------------------------------------------------------------------

def resolve_model_path(spec: str, runs_dir: Path | None) -> Path:
    """A checkpoint file or run folder path, a run name under the runs folder, or "demo"."""
    if spec == "demo":
        if not DEMO_CHECKPOINT.exists():
            raise CheckpointError(f"the demo model is not installed (expected {DEMO_CHECKPOINT})")
        return DEMO_CHECKPOINT
    path = Path(spec).expanduser()
    if path.exists():
        return path
    candidate = (Path(runs_dir) if runs_dir is not None else runs_root()) / spec
    if candidate.exists():
        return candidate
    raise CheckpointError(f"no checkpoint, run folder or run named {spec!r}")


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


# ---- noise ---------------------------------------------------------------------------------------------

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


# ---- runs, export --------------------------------------------------------------------------------------

def cmd_runs(args: argparse.Namespace) -> int:
    root = Path(args.runs_dir) if args.runs_dir is not None else runs_root()
    infos = list_runs(root)
    if not infos:
        print(f"no runs in {root}", file=sys.stderr)
        return 0
    width = max(4, *(len(i.name) for i in infos))
    print(f"{'NAME':<{width}}  {'STEP':>7}  {'LOSS':>8}  {'DATE':<16}  DATA")
    for info in infos:
        loss = f"{info.last_loss:.4f}" if info.last_loss is not None else "-"
        print(f"{info.name:<{width}}  {info.step:>7}  {loss:>8}  {info.date:%Y-%m-%d %H:%M}  "
              f"{info.source} {info.image_size}px")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    out = export_for_sampling(resolve_model_path(args.checkpoint, args.runs_dir), Path(args.out))
    print(out)
    return 0


# ---- parser --------------------------------------------------------------------------------------------

def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs-dir", type=Path, default=None, help="folder of runs (default: the user data folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="train a model (torchrun --nproc_per_node N -m ddpm_studio train ... for DDP)")
    d, m, t = DiffusionConfig(), DataConfig(), TrainingConfig()
    p.add_argument("--data", default=m.source, help=f"image folder, .zip, or builtin:{'|'.join(BUILTIN_DATASETS)}")
    p.add_argument("--size", type=int, default=m.image_size, help="image side in pixels")
    p.add_argument("--channels", type=int, choices=(1, 3), default=3)
    p.add_argument("--no-hflip", action="store_true", help="no random horizontal flips")
    p.add_argument("--random-crop", action="store_true")
    p.add_argument("--preset", default="tiny", help=f"UNet preset: {', '.join(UNET_PRESETS)}")
    p.add_argument("--base-channels", type=int, default=None)
    p.add_argument("--schedule", choices=SCHEDULE_NAMES, default=d.schedule)
    p.add_argument("--timesteps", type=int, default=d.timesteps, help="T")
    p.add_argument("--loss", choices=("l2", "l1", "huber"), default=d.loss)
    p.add_argument("--objective", choices=("eps", "x0", "v"), default=d.objective)
    p.add_argument("--learned-variance", action="store_true", help="Improved DDPM L_hybrid")
    p.add_argument("--batch-size", type=int, default=t.batch_size)
    p.add_argument("--lr", type=float, default=t.lr)
    p.add_argument("--warmup", type=int, default=t.warmup_steps, help="warm-up steps")
    p.add_argument("--grad-clip", type=float, default=t.grad_clip)
    p.add_argument("--ema-decay", type=float, default=t.ema_decay)
    p.add_argument("--steps", type=int, default=None, help=f"optimiser steps (default {t.max_steps})")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--minutes", type=float, default=None, help="also stop after this many minutes of training (the run's total)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--mixed-precision", choices=("auto", "no", "bf16", "fp16"), default=t.mixed_precision)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=t.seed)
    p.add_argument("--preview-every", type=int, default=t.preview_every_epochs, help="epochs (0 = never)")
    p.add_argument("--preview-count", type=int, default=t.preview_count)
    p.add_argument("--checkpoint-every", type=int, default=t.checkpoint_every_steps, help="steps")
    p.add_argument("--keep-last", type=int, default=t.keep_last, help="checkpoints kept")
    p.add_argument("--name", default=None, help="run folder name (default: date-data-size)")
    p.add_argument("--resume", default=None, metavar="RUN", help="continue a run (folder or name)")
    _add_common(p)
    p.set_defaults(func=cmd_train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Denoising diffusion models, headless.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
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
    _add_common(s)
    s.set_defaults(func=cmd_sample)
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
    r = sub.add_parser("runs", help="list training runs")
    _add_common(r)
    r.set_defaults(func=cmd_runs)
    e = sub.add_parser("export", help="write an EMA-only weights file for sampling (e.g. the demo model)")
    e.add_argument("checkpoint", help="checkpoint file, run folder or name")
    e.add_argument("out", help="output .safetensors path")
    e.add_argument("--runs-dir", type=Path, default=None)
    e.set_defaults(func=cmd_export)
    return parser


def _one_line(exc: BaseException) -> str:
    text = getattr(exc, "reason", None) if isinstance(exc, ImageDecodeError) and not str(exc) else str(exc)
    lines = (text or type(exc).__name__).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 error, 2 bad arguments, 130 interrupted)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except USER_ERRORS as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
