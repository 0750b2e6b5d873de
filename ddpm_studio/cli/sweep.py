"""`ddpm-studio sweep`: the NFE–quality curve of one model (sampler × NFE → metrics), or with `--guidance` its
guidance sweep (w → metrics, classifier-free or with `--guide` autoguidance), as a table and a plot."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from ddpm_studio.app import exports
from ddpm_studio.app.catalogue import CLASS_DEMO, DEMO, resolve_model
from ddpm_studio.app.guidance_sweep import GuidanceSweepResult, GuidanceSweepSettings, parse_scales, run_guidance_sweep
from ddpm_studio.app.sweep import SWEEP_METRICS, SweepResult, SweepSettings, model_data_source, run_sweep
from ddpm_studio.app.sweep_plot import plot_guidance_panels, plot_panels
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
    head = (f"{'SAMPLER':16} {'NFE':>5} {'STEPS':>5} {'SPENT':>5} {'SWD':>7} {'PREC':>6} {'RECALL':>6} {'SEC':>6}"
            "  ± (bootstrap: SWD / PREC / RECALL)")
    lines = [head]
    for c in result.cells:
        m = c.metrics
        sec = "cached" if c.cached else f"{c.seconds:.1f}"
        lines.append(f"{c.method:16} {c.budget:>5} {c.steps:>5} {c.nfe:>5} {m['swd']:>7.1f} {m['precision']:>6.3f} "
                     f"{m['recall']:>6.3f} {sec:>6}{_errors(c.errors)}")
    if result.floor:
        f = result.floor
        lines.append(f"{'real vs real':16} {'':>5} {'':>5} {'':>5} {f['swd']:>7.1f} {f['precision']:>6.3f} "
                     f"{f['recall']:>6.3f}")
    lines += [f"skipped {s}" for s in result.skipped]
    if result.cancelled:
        lines.append("(cancelled: the finished cells are cached)")
    return "\n".join(lines)


def _errors(errors: dict[str, float]) -> str:
    """'  ± 12 / 0.04 / 0.05': the bootstrap errors of SWD / precision / recall (evaluation.uncertainty), '' when
    the cached cell predates them."""
    if not all(k in errors for k in ("swd", "precision", "recall")):
        return ""
    return f"  ± {errors['swd']:.1f} / {errors['precision']:.3f} / {errors['recall']:.3f}"


def format_guidance_table(result: GuidanceSweepResult) -> str:
    """One row per guidance scale (w, network inputs per image, metrics, faithfulness, seconds) and the floor."""
    faithful = any("faithfulness" in p.metrics for p in result.points)
    head = f"{'W':>6} {'EVALS':>5} {'SWD':>7} {'PREC':>6} {'RECALL':>6}" + (f" {'FAITHFUL':>8}" if faithful else "")
    lines = [head + f" {'SEC':>6}  ± (bootstrap: SWD / PREC / RECALL)"]
    for p in result.points:
        m = p.metrics
        sec = "cached" if p.cached else f"{p.seconds:.1f}"
        extra = f" {m['faithfulness']:>8.3f}" if "faithfulness" in m else (f" {'':>8}" if faithful else "")
        lines.append(f"{p.scale:>6g} {p.evaluations:>5} {m['swd']:>7.1f} {m['precision']:>6.3f} {m['recall']:>6.3f}"
                     f"{extra} {sec:>6}{_errors(p.errors)}")
    if result.floor:
        f = result.floor
        lines.append(f"{'real':>6} {'':>5} {f['swd']:>7.1f} {f['precision']:>6.3f} {f['recall']:>6.3f}")
    lines += list(result.notes)
    if result.cancelled:
        lines.append("(cancelled: the finished points are cached)")
    return "\n".join(lines)


def _one(values: tuple | None, default, what: str):
    """The single sampler or budget of a guidance sweep (its default when not given)."""
    if values is None:
        return default
    if len(values) != 1:
        raise ValueError(f"a guidance sweep runs one {what}; got {','.join(map(str, values))}")
    return values[0]


def _progress_bar(args: argparse.Namespace, title: str, label):
    state: dict[str, ProgressBar] = {}

    def on_progress(p) -> None:
        if "bar" not in state:
            state["bar"] = ProgressBar(p.total_nfe, title, enabled=not args.quiet)
        state["bar"].update(int(p.done_nfe), label(p))

    return on_progress, state


def _write_outputs(args: argparse.Namespace, result, panels) -> None:
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(args.json), json.dumps(result.to_dict(), indent=2) + "\n")
    if args.plot:
        exports.save_png(args.plot, panels(result, args.metrics))


def cmd_guidance_sweep(args: argparse.Namespace, checkpoint: Path) -> int:
    d = GuidanceSweepSettings()
    settings = GuidanceSweepSettings(scales=parse_scales(args.guidance), method=_one(args.methods, d.method, "sampler"),
                                     budget=_one(args.nfe, d.budget, "NFE budget"), count=args.count,
                                     reference_count=args.reference_count, seed=args.seed,
                                     batch_size=args.batch_size, classes=_classes(args.classes))
    guide = resolve_model(args.guide, args.runs_dir) if args.guide else None
    on_progress, bar = _progress_bar(args, "guidance sweep (NFE)", lambda p: f"w = {p.scale:g}")
    result = run_guidance_sweep(checkpoint, args.data or model_data_source(checkpoint), settings, guide=guide,
                                device=args.device, use_cache=not args.no_cache, cached_only=args.cached_only,
                                on_progress=on_progress)
    if "bar" in bar:
        bar["bar"].close()
    print(result.caption() + "; 'real' is the floor: real images scored against the same reference")
    print(format_guidance_table(result))
    _write_outputs(args, result, plot_guidance_panels)
    return 0


def _classes(text: str | None) -> tuple[str, ...]:
    return () if not text else tuple(c.strip() for c in text.split(",") if c.strip())


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoint = resolve_model(args.model, args.runs_dir)
    if args.guidance is not None:
        return cmd_guidance_sweep(args, checkpoint)
    if args.guide or args.classes:
        raise ValueError(f"--{'guide' if args.guide else 'classes'} belongs to a guidance sweep: add --guidance "
                         "W,W,... (such as 0,1,2,3)")
    d = SweepSettings()
    settings = SweepSettings(methods=args.methods or d.methods, budgets=args.nfe or d.budgets, count=args.count,
                             reference_count=args.reference_count, seed=args.seed, batch_size=args.batch_size)
    on_progress, bar = _progress_bar(args, "sweep (NFE)", lambda p: f"{p.method}@{p.budget}")
    result = run_sweep(checkpoint, args.data or model_data_source(checkpoint), settings, device=args.device,
                       use_cache=not args.no_cache, cached_only=args.cached_only, on_progress=on_progress)
    if "bar" in bar:
        bar["bar"].close()
    print(f"reference set: {settings.reference_count} real images of {result.source} (drawn with seed "
          f"{settings.seed}, all of them if fewer); 'real vs real' is the floor: real images scored against it")
    print(format_table(result))
    _write_outputs(args, result, plot_panels)
    return 0


def add_sweep(sub: Any) -> None:
    s = sub.add_parser("sweep", help="the NFE-quality curve of a model: every sampler at several NFE, measured "
                       "(or with --guidance, metrics against the guidance scale)")
    d, g = SweepSettings(), GuidanceSweepSettings()
    s.add_argument("model", help=f"checkpoint file, run folder or name, '{DEMO}' or '{CLASS_DEMO}'")
    s.add_argument("--data", default=None, help="images to measure against (default: the model's training data)")
    s.add_argument("--nfe", type=int_list, default=None, help="comma-separated NFE budgets "
                   f"(default {','.join(map(str, d.budgets))}; DDPM only at T; with --guidance one budget, "
                   f"default {g.budget})")
    s.add_argument("--methods", type=_methods, default=None, help=f"comma-separated, of {', '.join(SAMPLERS)} "
                   f"(with --guidance one sampler, default {g.method})")
    s.add_argument("--guidance", default=None, metavar="W,W,...",
                   help="sweep the guidance scale instead (such as 0,1,1.5,2,3,5): classifier-free for a "
                        "class-conditional model (samples spread evenly over the classes), autoguidance with --guide")
    s.add_argument("--guide", default=None, metavar="CHECKPOINT",
                   help="autoguidance: a weaker model of the same shape and data (an earlier checkpoint, another run)")
    s.add_argument("--classes", default=None, metavar="NAME,NAME",
                   help="with --guidance: the classes asked for (default: all of the model's)")
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
