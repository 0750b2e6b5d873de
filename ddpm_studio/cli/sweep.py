"""`ddpm-studio sweep`: the NFE–quality curve of one model (sampler × NFE → metrics), as a table and a plot."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from ddpm_studio.app import exports
from ddpm_studio.app.catalogue import DEMO, resolve_model
from ddpm_studio.app.sweep import SWEEP_METRICS, SweepResult, SweepSettings, model_data_source, run_sweep
from ddpm_studio.app.sweep_plot import plot_panels
from ddpm_studio.atomic import atomic_write_text
from ddpm_studio.cli.arguments import int_list, positive_int, seed, threads
from ddpm_studio.cli.common import add_common
from ddpm_studio.cli.progress import ProgressBar
from ddpm_studio.engine import SAMPLERS


def _methods(text: str) -> tuple[str, ...]:
    values = tuple(v for v in text.replace(" ", "").split(",") if v)
    bad = [v for v in values if v not in SAMPLERS]
    if bad or not values:
        raise argparse.ArgumentTypeError(f"methods are among {', '.join(SAMPLERS)}; got {text!r}")
    return values


def _metric_list(text: str) -> tuple[str, ...]:
    values = tuple(v for v in text.replace(" ", "").split(",") if v)
    if not values or any(v not in SWEEP_METRICS for v in values):
        raise argparse.ArgumentTypeError(f"metrics are among {', '.join(SWEEP_METRICS)}; got {text!r}")
    return values


def format_table(result: SweepResult) -> str:
    """One row per cell (sampler, NFE asked, steps, NFE spent, metrics, seconds) and the floor row."""
    head = f"{'SAMPLER':16} {'NFE':>5} {'STEPS':>5} {'SPENT':>5} {'SWD':>7} {'PREC':>6} {'RECALL':>6} {'SEC':>6}"
    lines = [head]
    for c in result.cells:
        m = c.metrics
        sec = "cached" if c.cached else f"{c.seconds:.1f}"
        lines.append(f"{c.method:16} {c.budget:>5} {c.steps:>5} {c.nfe:>5} {m['swd']:>7.1f} {m['precision']:>6.3f} "
                     f"{m['recall']:>6.3f} {sec:>6}")
    if result.floor:
        f = result.floor
        lines.append(f"{'real vs real':16} {'':>5} {'':>5} {'':>5} {f['swd']:>7.1f} {f['precision']:>6.3f} "
                     f"{f['recall']:>6.3f}")
    lines += [f"skipped {s}" for s in result.skipped]
    if result.cancelled:
        lines.append("(cancelled: the finished cells are cached)")
    return "\n".join(lines)


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoint = resolve_model(args.model, args.runs_dir)
    settings = SweepSettings(methods=args.methods, budgets=args.nfe, count=args.count,
                             reference_count=args.reference_count, seed=args.seed, batch_size=args.batch_size)
    bar: ProgressBar | None = None

    def on_progress(p) -> None:
        nonlocal bar
        if bar is None:
            bar = ProgressBar(p.total_nfe, "sweep (NFE)", enabled=not args.quiet)
        bar.update(int(p.done_nfe), f"{p.method}@{p.budget}")

    result = run_sweep(checkpoint, args.data or model_data_source(checkpoint), settings, device=args.device,
                       use_cache=not args.no_cache, cached_only=args.cached_only, on_progress=on_progress)
    if bar is not None:
        bar.close()
    print(f"reference set: {settings.reference_count} real images of {result.source} (drawn with seed "
          f"{settings.seed}, all of them if fewer); 'real vs real' is the floor: real images scored against it")
    print(format_table(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(args.json), json.dumps(result.to_dict(), indent=2) + "\n")
    if args.plot:
        exports.save_png(args.plot, plot_panels(result, args.metrics))
    return 0


def add_sweep(sub: Any) -> None:
    s = sub.add_parser("sweep", help="the NFE-quality curve of a model: every sampler at several NFE, measured")
    d = SweepSettings()
    s.add_argument("model", help=f"checkpoint file, run folder or name, or '{DEMO}'")
    s.add_argument("--data", default=None, help="images to measure against (default: the model's training data)")
    s.add_argument("--nfe", type=int_list, default=d.budgets, help="comma-separated NFE budgets "
                   f"(default {','.join(map(str, d.budgets))}; DDPM only at T)")
    s.add_argument("--methods", type=_methods, default=d.methods, help=f"comma-separated, of {', '.join(SAMPLERS)}")
    s.add_argument("--count", type=positive_int, default=d.count, help="samples per cell (all from the same noise)")
    s.add_argument("--reference-count", type=positive_int, default=d.reference_count,
                   help="real images measured against")
    s.add_argument("--seed", type=seed, default=d.seed)
    s.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    s.add_argument("--metrics", type=_metric_list, default=SWEEP_METRICS,
                   help=f"the plotted metrics, one panel each (of {', '.join(SWEEP_METRICS)})")
    s.add_argument("--json", default=None, help="write every cell as JSON here")
    s.add_argument("--plot", default=None, help="write the plot (PNG) here")
    s.add_argument("--no-cache", action="store_true", help="recompute every cell (and refresh the cache)")
    s.add_argument("--cached-only", action="store_true", help="compute nothing: show the cells already cached")
    s.add_argument("--threads", type=threads, default=None, help="torch CPU threads")
    s.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    add_common(s)
    s.set_defaults(func=cmd_sweep)
