"""`ddpm-studio ema-sweep RUN --lengths 0.02,0.05,0.1`: the run's post-hoc EMA (EDM2) at several lengths σ_rel,
each sampled from the same noise and scored with the product's evaluation, as a table, a JSON and the best length."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from ddpm_studio.app.catalogue import resolve_model
from ddpm_studio.app.ema_sweep import EMA_SWEEP_LENGTHS, EmaSweepPoint, EmaSweepResult, parse_lengths, run_ema_sweep
from ddpm_studio.app.evaluation import EvaluationSettings
from ddpm_studio.atomic import atomic_write_text
from ddpm_studio.cli.arguments import positive_int, seed, threads
from ddpm_studio.cli.common import add_common, choose_checkpoint
from ddpm_studio.engine import SAMPLERS


def _lengths(text: str) -> tuple[float, ...]:
    try:
        return parse_lengths(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def format_table(result: EmaSweepResult) -> str:
    """One row per length (σ_rel, SWD, precision, recall, memorised share, seconds), the floor, and the best."""
    lines = [f"{'SIGMA_REL':>9} {'SWD':>7} {'PREC':>6} {'RECALL':>6} {'MEMO':>6} {'SEC':>6}"]

    def row(label: str, m: dict[str, float], sec: str) -> str:
        return (f"{label:>9} {m['swd']:>7.1f} {m['precision']:>6.3f} {m['recall']:>6.3f} "
                f"{m.get('memorised', float('nan')):>6.3f} {sec:>6}")

    best = result.best
    for p in result.points:
        lines.append(row(f"{p.sigma_rel:g}", p.metrics, f"{p.seconds:.1f}") + ("  <- best" if p is best else ""))
    if result.floor:
        lines.append(row("real", result.floor, ""))
    lines.append(f"best EMA length: sigma_rel {best.sigma_rel:g} (lowest SWD); reconstructable "
                 f"{result.reconstructable[0]:.3f}..{result.reconstructable[1]:.3f}, at step {best.step}")
    return "\n".join(lines)


def cmd_ema_sweep(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoint = choose_checkpoint(resolve_model(args.model, args.runs_dir), args.checkpoint)
    settings = EvaluationSettings(count=args.count, steps=args.steps, method=args.method,
                                  reference_count=args.reference_count, seed=args.seed, batch_size=args.batch_size)

    def on_point(point: EmaSweepPoint) -> None:
        if not args.quiet:
            print(f"sigma_rel {point.sigma_rel:g}: SWD {point.metrics['swd']:.1f} ({point.seconds:.1f} s)", flush=True)

    result = run_ema_sweep(checkpoint, args.lengths, settings, device=args.device, on_point=on_point)
    print(f"{result.model}: {settings.count} samples per length ({settings.method}, {settings.steps} steps, seed "
          f"{settings.seed}) against {settings.reference_count} real images of {result.source}; 'real' is the floor")
    print(format_table(result))
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(result.to_dict(), indent=2))
        print(args.json)
    return 0


def add_ema_sweep(sub: Any) -> None:
    s = sub.add_parser("ema-sweep", help="score a run's post-hoc EMA at several lengths sigma_rel (runs trained "
                       "with --posthoc-ema) and name the best")
    d = EvaluationSettings()
    s.add_argument("model", metavar="RUN", help="run folder or name, or one of its checkpoint files")
    s.add_argument("--checkpoint", default=None, metavar="step_N",
                   help="reconstruct at this checkpoint of the run (default: the latest)")
    s.add_argument("--lengths", type=_lengths, default=EMA_SWEEP_LENGTHS,
                   help=f"comma-separated EMA lengths sigma_rel (default {','.join(map(str, EMA_SWEEP_LENGTHS))})")
    s.add_argument("--count", type=positive_int, default=d.count, help="samples per length (all from the same noise)")
    s.add_argument("--steps", type=positive_int, default=d.steps, help="sampler steps")
    s.add_argument("--method", choices=SAMPLERS, default=d.method)
    s.add_argument("--reference-count", type=positive_int, default=d.reference_count,
                   help="real images measured against")
    s.add_argument("--seed", type=seed, default=d.seed)
    s.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    s.add_argument("--json", default=None, help="write the table as JSON here")
    s.add_argument("--threads", type=threads, default=None, help="torch CPU threads")
    s.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    add_common(s)
    s.set_defaults(func=cmd_ema_sweep)
