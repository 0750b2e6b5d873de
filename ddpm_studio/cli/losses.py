"""`ddpm-studio losses RUN`: every training image's loss at fixed noise and timesteps, highest first
(`app.per_image_losses`), the near-duplicate pairs of the data with --duplicates, and a CSV of the table."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from ddpm_studio.app.catalogue import resolve_model
from ddpm_studio.app.near_duplicates import DUPLICATE_FACTOR, NearDuplicates
from ddpm_studio.app.per_image_losses import (
    MAX_LOSS_TIMESTEPS,
    LossProgress,
    LossSettings,
    PerImageLosses,
    duplicates_csv,
    losses_csv,
    per_image_report,
)
from ddpm_studio.atomic import atomic_write_text
from ddpm_studio.cli.arguments import bounded_int, seed, threads
from ddpm_studio.cli.common import add_common, choose_checkpoint
from ddpm_studio.cli.progress import ProgressBar
from ddpm_studio.errors_text import shorten

DEFAULT_TOP = 20


def format_losses(losses: PerImageLosses, top: int) -> str:
    """The header line and the `top` highest-loss images, one a line."""
    ts = ", ".join(str(t) for t in losses.timesteps)
    median = losses.median()
    lines = [f"{losses.checkpoint.name} (step {losses.step}, EMA weights): {losses.objective} objective, "
             f"{losses.loss} loss at t = {ts}, fixed noise; {len(losses.rows)} images of {shorten(losses.source)}, "
             f"median loss {median:.4f}"]
    split = losses.split_summary()
    if split is not None:
        lines.append(split + "; marked (held out) below")
    if not losses.complete:
        lines.append(f"cancelled after {len(losses.rows)} of {losses.total} images")
    lines.append(f"{'RANK':>4}  {'LOSS':>8}  {'×MEDIAN':>7}  {'CLASS':<12}  IMAGE")
    ranked = losses.ranked()
    for rank, row in enumerate(ranked[:top], start=1):
        times = row.mean / median if median > 0 else float("nan")
        held = "  (held out)" if row.held_out else ""
        lines.append(f"{rank:>4}  {row.mean:>8.4f}  {times:>7.2f}  {(row.label or '-')[:12]:<12}  {row.key}{held}")
    if len(ranked) > top:
        lines.append(f"({len(ranked) - top} more; --top N shows more, --csv OUT writes them all)")
    return "\n".join(lines)


def format_duplicates(found: NearDuplicates) -> str:
    lines = [found.describe()]
    for pair in found.pairs:
        mirror = "  (mirrored)" if pair.mirrored else ""
        lines.append(f"  {pair.distance:.4f}  {pair.first_key}  {pair.second_key}{mirror}")
    return "\n".join(lines)


def cmd_losses(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    model = choose_checkpoint(resolve_model(args.run, args.runs_dir), args.checkpoint)
    settings = LossSettings(timesteps=args.timesteps, seed=args.seed)
    bars: dict[str, ProgressBar] = {}

    def on_progress(p: LossProgress) -> None:
        bar = bars.get(p.stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[p.stage] = ProgressBar(p.total, p.stage, enabled=not args.quiet)
        bar.update(p.done)

    try:
        report = per_image_report(model, settings=settings, duplicates=args.duplicates, device=args.device,
                                  on_progress=on_progress)
    finally:
        for bar in bars.values():
            bar.close()
    print(format_losses(report.losses, args.top))
    if report.duplicates is not None:
        print(format_duplicates(report.duplicates))
    if args.csv:
        out = Path(args.csv)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, losses_csv(report.losses), what="the CSV file")
        written = [str(out)]
        if report.duplicates is not None:
            pairs = out.with_name(out.stem + ".duplicates.csv")
            atomic_write_text(pairs, duplicates_csv(report.duplicates), what="the CSV file")
            written.append(str(pairs))
        print("wrote " + ", ".join(written))
    return 0


def add_losses(sub: Any) -> None:
    d = LossSettings()
    s = sub.add_parser("losses", help="every training image's loss at fixed noise, highest first (outliers, "
                                      "broken or mislabelled images); near-duplicate pairs",
                       description="Score every training image of a run with the run's own loss at fixed noise and "
                                   f"{d.timesteps} fixed timesteps (the same numbers every time, comparable between "
                                   "checkpoints), and list them highest first.")
    s.add_argument("run", help="run folder or name, or a checkpoint file")
    s.add_argument("--checkpoint", default=None, metavar="step_N", help="this checkpoint of the run (default: latest)")
    s.add_argument("--top", type=bounded_int(0), default=DEFAULT_TOP,
                   help=f"images shown, highest loss first (default {DEFAULT_TOP})")
    s.add_argument("--csv", default=None, metavar="OUT", help="write every image's losses here (highest first); "
                                                              "with --duplicates also OUT's name + .duplicates.csv")
    s.add_argument("--duplicates", action="store_true",
                   help=f"also list near-duplicate pairs: closer than {DUPLICATE_FACTOR:g} × the median "
                        "nearest-neighbour distance (the memorisation check's RMS pixel distance)")
    s.add_argument("--timesteps", type=bounded_int(1, MAX_LOSS_TIMESTEPS), default=d.timesteps,
                   help=f"fixed timesteps per image, spread over the schedule (default {d.timesteps})")
    s.add_argument("--seed", type=seed, default=d.seed, help=f"seed of the fixed noise (default {d.seed})")
    s.add_argument("--threads", type=threads, default=None, help="torch CPU threads")
    s.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N, mps")
    add_common(s)
    s.set_defaults(func=cmd_losses)
