"""`ddpm-studio train`: a new run from flags, or `--resume RUN`; under torchrun, one process per rank.

The flags fill the same RunConfig the GUI's form edits. The first Ctrl-C / SIGTERM asks the Trainer to stop
(it writes a checkpoint first); the run's folder is printed on stdout, and how to continue it on stderr.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ddpm_studio.app.data_proposal import follow_data
from ddpm_studio.app.logs import current_log_file
from ddpm_studio.app.run_table import preset_name
from ddpm_studio.app.training import RUN_COMPLETE, TrainingJob, TrainingSession, prepare, run_complete_message
from ddpm_studio.atomic import atomic_write_text
from ddpm_studio.cli.arguments import bounded_int, threads
from ddpm_studio.cli.common import EXIT_ERROR, EXIT_INTERNAL, EXIT_INTERRUPTED, PROG, add_common
from ddpm_studio.cli.progress import ProgressBar
from ddpm_studio.data import BUILTIN_DATASETS, DataConfig
from ddpm_studio.data.config import CHANNELS
from ddpm_studio.data.labels import LABEL_MODES
from ddpm_studio.engine import SCHEDULE_NAMES, UNET_PRESETS, DiffusionConfig
from ddpm_studio.engine.config import OBJECTIVES
from ddpm_studio.engine.losses import LOSS_NAMES
from ddpm_studio.engine.unet import count_parameters
from ddpm_studio.engine.unet_config import BLOCK_TYPES, DEFAULT_PRESET
from ddpm_studio.training import distributed
from ddpm_studio.training.config import (
    AUGMENT_MODES,
    AUTO_AUGMENT_BELOW,
    AUTO_RECIPE_MIN_STEPS,
    LR_SCHEDULES,
    MAX_IMAGES,
    MIXED_PRECISION_MODES,
    SMALL_SET_EMA_SIGMA_REL,
    RunConfig,
    TrainingConfig,
)
from ddpm_studio.training.events import (
    FailedEvent,
    FinishedEvent,
    PreviewEvent,
    StepEvent,
    TrainingEvent,
    ValidationEvent,
)
from ddpm_studio.training.runs import Run
from ddpm_studio.training.validation import MIN_TRAINING_IMAGES, MIN_VALIDATION_IMAGES, VALIDATION_SHARE

log = logging.getLogger("ddpm_studio.cli")
PROBLEMS_FILE = "problems.txt"  # every skipped data file of the run's last data load, one "name: reason" a line
PROBLEM_LINES = 10  # of them shown on stderr


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Build and validate the RunConfig a `train` command line describes."""
    if args.preset not in UNET_PRESETS:
        raise ValueError(f"unknown preset {args.preset!r}; choose one of {', '.join(UNET_PRESETS)}")
    data, _shape = follow_data(DataConfig(source=args.data, random_crop=args.random_crop, labels=args.labels),
                               args.preset,
                               image_size=args.size, channels=args.channels, hflip=args.hflip)
    model = replace(UNET_PRESETS[args.preset], in_channels=data.channels, learned_variance=args.learned_variance)
    if args.base_channels is not None:
        model = replace(model, base_channels=args.base_channels)
    if args.block is not None:
        model = replace(model, block=args.block)
    diffusion = DiffusionConfig(schedule=args.schedule, timesteps=args.timesteps, objective=args.objective,
                                loss=args.loss, learned_variance=args.learned_variance)
    default_steps = TrainingConfig().max_steps
    max_steps = args.steps if args.steps is not None else (
        None if args.epochs is not None or args.minutes is not None else default_steps)
    training = TrainingConfig(
        batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup, lr_schedule=args.lr_schedule,
        lr_min_ratio=args.lr_min_ratio, grad_clip=args.grad_clip,
        ema_decay=args.ema_decay, posthoc_ema=args.posthoc_ema, max_steps=max_steps, epochs=args.epochs,
        max_minutes=args.minutes, device=args.device,
        mixed_precision=args.mixed_precision, preview_every_epochs=args.preview_every or 0,
        preview_time_share=0.0 if args.preview_every == 0 else args.preview_share,
        preview_count=args.preview_count, checkpoint_every_steps=args.checkpoint_every, keep_last=args.keep_last,
        seed=args.seed, num_threads=args.threads, class_dropout=args.class_dropout, augment=args.augment,
        augment_p=args.augment_p, validation_images=args.validation_images)
    config = RunConfig(model=model, diffusion=diffusion, data=data, training=training)
    config.validate()
    return config


class _TrainReporter:
    """Turns training events into a progress bar and remembers how training ended."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: ProgressBar | None = None
        self.outcome: FinishedEvent | FailedEvent | None = None
        self.validation: ValidationEvent | None = None  # the latest validation loss, shown on the bar

    def __call__(self, event: TrainingEvent) -> None:
        if isinstance(event, StepEvent):
            if self.bar is None:
                self.bar = ProgressBar(event.total_steps, "train", enabled=not self.quiet)
            self.bar.total = event.total_steps  # a --minutes run knows its total once the budget is planned
            val = f" val {self.validation.loss:.4f}" if self.validation is not None else ""
            self.bar.update(event.step, f"epoch {event.epoch} loss {event.loss:.4f}{val} "
                                        f"{event.images_per_s:.0f} img/s")
        elif isinstance(event, ValidationEvent):
            self.validation = event
            logging.getLogger(PROG).info("validation loss %.5f at step %d (%d held-out images)", event.loss,
                                         event.step, event.images)
        elif isinstance(event, PreviewEvent):
            logging.getLogger(PROG).info("preview at step %d (epoch %d)", event.step, event.epoch)
        elif isinstance(event, (FinishedEvent, FailedEvent)):
            self.outcome = event
            if self.bar is not None:
                self.bar.close()
            if self.validation is not None and not self.quiet:
                v = self.validation
                print(f"{PROG}: validation loss {v.loss:.4f} at step {v.step} ({v.images} held-out images, fixed "
                      f"noise, {len(v.timesteps)} timesteps)", file=sys.stderr)


# the flags a resume takes; every other one describes a new run, and is refused with --resume (never ignored)
RESUME_FLAGS = frozenset({"resume", "runs_dir", "quiet", "steps", "epochs", "minutes", "device", "func", "verbose",
                          "command", "new_run_defaults", "tensorboard"})


def _check_resume_flags(args: argparse.Namespace) -> None:
    """ValueError naming the first flag given with --resume that a resume cannot honour (the run keeps its own)."""
    defaults: dict[str, Any] = args.new_run_defaults
    changed = [dest for dest, default in defaults.items()
               if dest not in RESUME_FLAGS and getattr(args, dest, default) != default]
    if changed:
        flag = "--" + changed[0].replace("_", "-")
        raise ValueError(f"{flag} cannot be used with --resume: a resumed run keeps its own settings (only --steps, "
                         f"--epochs, --minutes and --device may change)")


def _job(args: argparse.Namespace) -> TrainingJob:
    """A new run from the flags, or --resume RUN with only --steps/--epochs, --minutes and --device taken."""
    if not args.resume:
        config = config_from_args(args)
        _say_data_choice(args, config.data)
        return TrainingJob(config=config, runs_dir=args.runs_dir, name=args.name, tensorboard=args.tensorboard)
    _check_resume_flags(args)
    return TrainingJob(resume=args.resume, runs_dir=args.runs_dir, max_steps=args.steps, epochs=args.epochs,
                       max_minutes=args.minutes, device=args.device if args.device != "auto" else None,
                       tensorboard=args.tensorboard)


def _say_data_choice(args: argparse.Namespace, data: DataConfig) -> None:
    """One line on stderr (unless --quiet) with the data's size, channels and flip, and which followed the data."""
    followed = [flag for flag, value in (("--size", args.size), ("--channels", args.channels),
                                         ("--hflip/--no-hflip", args.hflip)) if value is None]
    if args.quiet or not followed:
        return
    print(f"{PROG}: data {data.source}: {data.image_size}x{data.image_size}, {data.channels} channel(s), "
          f"flip {'on' if data.hflip else 'off'} (from the data: {', '.join(followed)} not given)", file=sys.stderr)


def model_line(trainer: Any) -> str:
    """The network a run trains, in one line: preset, levels down to the bottleneck, parameters."""
    config = trainer.config
    model, size = config.model, config.data.image_size
    name = preset_name(model)
    bottleneck = size // model.size_multiple
    mults = ",".join(str(m) for m in model.channel_mults)
    params = count_parameters(trainer.model)
    return (f"model: {name} UNet, width {model.base_channels}, {model.levels} levels (mults {mults}: a "
            f"{bottleneck}×{bottleneck} bottleneck at {size} px), {params:,} parameters")


class _DefaultsFormatter(argparse.HelpFormatter):
    """Adds "(default: X)" to an option's help, except where the help already says it or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)".lstrip()


def cmd_train(args: argparse.Namespace) -> int:
    dist = distributed.init_distributed(args.device)
    quiet = args.quiet or not dist.is_main
    try:
        bar = ProgressBar(None, "decode", enabled=not quiet)
        session = prepare(_job(args), is_main=dist.is_main, share_path=distributed.broadcast_from_main,
                          on_progress=lambda done, total: (setattr(bar, "total", total), bar.update(done)))
        bar.close()
        if dist.is_main:
            _report_problems(session)
            if not quiet:
                print(f"{PROG}: {model_line(session.trainer)}", file=sys.stderr)
            if session.validation_note and not quiet:  # the held-out split, or why there is none
                print(f"{PROG}: {session.validation_note}", file=sys.stderr)
        reporter = _TrainReporter(quiet)
        interrupted = _run_with_stop_on_signal(session, reporter)
    finally:
        distributed.cleanup()
    return _train_outcome(reporter.outcome, session.run, interrupted, dist.is_main, current_log_file())


def _report_problems(session: TrainingSession) -> None:
    """Every skipped data file with its reason: in problems.txt in the run folder and the log file, and on
    stderr (the first PROBLEM_LINES of them, then where the rest are; --quiet only silences progress bars)."""
    problems, listing = session.problems, session.run.path / PROBLEMS_FILE
    if not problems:
        listing.unlink(missing_ok=True)  # a resumed run's list from an earlier load is no longer true
        return
    atomic_write_text(listing, "".join(f"{problem}\n" for problem in problems), what="the list of skipped files")
    for problem in problems:
        log.info("skipped %s", problem)
    log_file = current_log_file()
    also = f" and the log file {log_file}" if log_file is not None else ""
    print(f"{PROG}: skipped {len(problems)} unusable file(s) of {session.run.config.data.source} "
          f"(all listed in {listing}{also}):", file=sys.stderr)
    for problem in problems[:PROBLEM_LINES]:
        print(f"  {problem}", file=sys.stderr)
    if len(problems) > PROBLEM_LINES:
        print(f"  ... and {len(problems) - PROBLEM_LINES} more in {listing}", file=sys.stderr)


def _run_with_stop_on_signal(session: TrainingSession, reporter: _TrainReporter) -> bool:
    """Run the trainer; the first Ctrl-C / SIGTERM asks it to stop (checkpoint first), a second one aborts."""
    hits = []

    def handler(signum: int, frame: Any) -> None:
        if hits:
            raise KeyboardInterrupt
        hits.append(signum)
        print(f"\n{PROG}: stopping after this step (press Ctrl-C again to abort)...", file=sys.stderr)
        session.request_stop()

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread: no signal handling
            pass
    try:
        session.run_training(reporter)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return bool(hits)


def _train_outcome(outcome: FinishedEvent | FailedEvent | None, run: Run, interrupted: bool, main: bool,
                   log_path: Path | None) -> int:
    if not main:
        return 0
    if isinstance(outcome, FailedEvent):
        if outcome.kind == "error":  # a bug: the Trainer logged its traceback
            where = f"details in {log_path}" if log_path is not None else "no log file could be written"
            print(f"{PROG}: internal error: training failed: {outcome.message}; {where}", file=sys.stderr)
            return EXIT_INTERNAL
        print(f"{PROG}: error: training failed ({outcome.kind}): {outcome.message}", file=sys.stderr)
        return EXIT_ERROR
    print(run.path)
    if isinstance(outcome, FinishedEvent) and outcome.reason == RUN_COMPLETE:
        how = "give train --resume a larger --steps, --epochs or --minutes to continue"
        print(f"{PROG}: {run_complete_message(outcome.step, how)}", file=sys.stderr)
        return 0
    if isinstance(outcome, FinishedEvent) and outcome.reason == "stopped":
        print(f"{PROG}: stopped at step {outcome.step}; continue with: {PROG} train --resume {run.path}",
              file=sys.stderr)
        return EXIT_INTERRUPTED if interrupted else 0
    return 0


def add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="train a model (torchrun --nproc_per_node N -m ddpm_studio train ... for DDP)",
                       formatter_class=_DefaultsFormatter,
                       description="Train a model. --size, --channels and the flip follow the data when not given: "
                                   "the same proposal the app makes for the folder (its typical image side, grey or "
                                   "colour, flip off for small grey images such as digits).")
    d, m, t = DiffusionConfig(), DataConfig(), TrainingConfig()
    p.add_argument("--data", default=m.source, help=f"image folder, .zip, or builtin:{'|'.join(BUILTIN_DATASETS)}")
    p.add_argument("--size", type=int, default=None,
                   help="image side in pixels (default: proposed from the data's typical side)")
    p.add_argument("--channels", type=int, choices=CHANNELS, default=None,
                   help="1 = grey, 3 = RGB (default: 1 if every image is grey, else 3)")
    p.add_argument("--hflip", action=argparse.BooleanOptionalAction, default=None,
                   help="random horizontal flips (default: on, off for small grey images such as digits)")
    p.add_argument("--random-crop", action="store_true")
    p.add_argument("--labels", choices=LABEL_MODES, default=m.labels,
                   help="class labels from the data: auto (labels.csv, else class sub-folders, else a built-in set's "
                        "classes), folders, csv, or none (unconditional); labelled data trains a class-conditional "
                        "model")
    p.add_argument("--class-dropout", type=float, default=t.class_dropout,
                   help="probability of training a labelled image as 'no class' (for classifier-free guidance)")
    p.add_argument("--augment", choices=AUGMENT_MODES, default=t.augment,
                   help=f"non-leaky augmentation (EDM): flips, 90-degree turns, shifts, zoom, brightness, contrast, "
                        f"saturation, each with probability --augment-p, given to the network as a condition that "
                        f"sampling sets to 'none', so samples do not show them; auto = the small-set recipe below "
                        f"{AUTO_AUGMENT_BELOW} images for a run of {AUTO_RECIPE_MIN_STEPS} steps or more: on, with a "
                        f"longer EMA (sigma_rel {SMALL_SET_EMA_SIGMA_REL:g} unless --ema-decay sets another); a "
                        f"--minutes run decides when its steps are planned, a few seconds in")
    p.add_argument("--augment-p", type=float, default=t.augment_p,
                   help="probability of each augmentation per image (EDM: 0.12-0.15 on small sets)")
    p.add_argument("--validation-images", type=bounded_int(0, MAX_IMAGES), default=t.validation_images,
                   help=f"images held out of training for the validation loss (0: none; default: "
                        f"max({VALIDATION_SHARE * 100:g}%% of them, {MIN_VALIDATION_IMAGES}) when "
                        f"{MIN_TRAINING_IMAGES} are left to train on, else none)")
    p.add_argument("--preset", default=DEFAULT_PRESET, help=f"UNet preset: {', '.join(UNET_PRESETS)}")
    p.add_argument("--base-channels", type=int, default=None)
    p.add_argument("--block", choices=BLOCK_TYPES, default=None,
                   help="UNet block: resnet (scale-shift GroupNorm) or convnext (default: the preset's)")
    p.add_argument("--schedule", choices=SCHEDULE_NAMES, default=d.schedule)
    p.add_argument("--timesteps", type=int, default=d.timesteps, help="T")
    p.add_argument("--loss", choices=LOSS_NAMES, default=d.loss)
    p.add_argument("--objective", choices=OBJECTIVES, default=d.objective)
    p.add_argument("--learned-variance", action="store_true", help="Improved DDPM L_hybrid")
    p.add_argument("--batch-size", type=int, default=t.batch_size)
    p.add_argument("--lr", type=float, default=t.lr)
    p.add_argument("--warmup", type=int, default=t.warmup_steps, help="warm-up steps")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=t.lr_schedule,
                   help="after warm-up: constant, or cosine decay to lr x --lr-min-ratio at the last step "
                        "(over --steps/--epochs, or the steps --minutes plans)")
    p.add_argument("--lr-min-ratio", type=float, default=t.lr_min_ratio, help="floor of the cosine decay")
    p.add_argument("--grad-clip", type=float, default=t.grad_clip)
    p.add_argument("--ema-decay", type=float, default=t.ema_decay)
    p.add_argument("--posthoc-ema", action="store_true", default=t.posthoc_ema,
                   help="keep post-hoc EMA snapshots (EDM2) so `sample --ema-length` and `ema-sweep` can choose "
                        "the EMA length after training (~7 MB per snapshot for the tiny UNet, at most 65)")
    p.add_argument("--steps", type=int, default=None,
                   help=f"optimiser steps (default {t.max_steps}; none with --epochs or --minutes)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--minutes", type=float, default=None,
                   help="train for this many minutes (the run's total): the step total, and so the warm-up and "
                        "the learning-rate decay, is planned from the step rate measured in the first seconds and "
                        "kept in config.json (with --steps/--epochs: whichever ends first)")
    p.add_argument("--device", default=t.device, help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--mixed-precision", choices=MIXED_PRECISION_MODES, default=t.mixed_precision)
    p.add_argument("--threads", type=threads, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=t.seed)
    p.add_argument("--preview-every", type=int, default=None,
                   help="preview every N epochs (0 = never; default: as often as --preview-share allows)")
    p.add_argument("--preview-share", type=float, default=t.preview_time_share,
                   help="share of the training time previews may take when --preview-every is not given")
    p.add_argument("--preview-count", type=int, default=t.preview_count)
    p.add_argument("--checkpoint-every", type=int, default=t.checkpoint_every_steps, help="steps")
    p.add_argument("--keep-last", type=int, default=t.keep_last, help="checkpoints kept")
    p.add_argument("--name", default=None, help="run folder name (default: date-data-size)")
    p.add_argument("--resume", default=None, metavar="RUN", help="continue a run (folder or name)")
    p.add_argument("--tensorboard", type=Path, default=None, metavar="DIR",
                   help="also log loss, learning rate, quality metrics and previews for TensorBoard in DIR/<run name> "
                        "(needs the tensorboard extra: pip install 'ddpm-studio[tensorboard]')")
    add_common(p)
    for action in p._actions:  # options without help text still show their default
        if action.help is None and action.option_strings and action.default not in (None, False):
            action.help = "(default: %(default)s)"
    p.set_defaults(func=cmd_train, new_run_defaults={a.dest: a.default for a in p._actions if a.dest != "help"})
