"""`ddpm-studio eval`: a model's sample-quality metrics, each beside its real-vs-real reference on the same data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from ddpm_studio.app.catalogue import CLASS_DEMO, DEMO
from ddpm_studio.app.evaluation import (
    HELD_OUT_RULE,
    ClassEvaluation,
    EvaluationProgress,
    EvaluationSettings,
    ModelEvaluation,
    evaluate_classes,
    evaluate_model,
)
from ddpm_studio.atomic import atomic_write_text
from ddpm_studio.cli.arguments import positive_int, seed, threads
from ddpm_studio.cli.common import add_common
from ddpm_studio.cli.progress import ProgressBar
from ddpm_studio.engine import SAMPLERS
from ddpm_studio.evaluation import format_with_error

# what each scalar means, and which way is better (EvaluationReport.scalars' keys; swd_<side>px by pattern)
METRIC_WORDS: dict[str, str] = {
    "swd": "SWD ×10³, mean of levels (lower is better)",
    "precision": "precision, k = 3 (higher is better)",
    "recall": "recall, k = 3 (higher is better)",
    "memorised": "memorised share, ratio test (lower is better)",
    "nn_distance": "median distance to the nearest training image (RMS)",
    "fid": "FID (lower is better)",
    "kid": "KID ×10³ (lower is better)",
}


def describe(metric: str) -> str:
    if metric.startswith("swd_"):
        return f"  SWD ×10³, {metric[4:]} level"
    return METRIC_WORDS.get(metric, metric)


def format_report(result: ModelEvaluation) -> str:
    """One line per metric: the samples' value ± its bootstrap error beside the real-vs-real value ± its error
    (the same protocol), decimals following the error, and a note where the value is within error of the floor
    or better than it beyond the error."""
    s = result.settings
    lines = [f"{result.model}: {result.report.sample_count} samples ({s.method}, {s.steps} steps) vs "
             f"{result.report.reference_count} real images of {result.source}",
             f"reference: {result.held_out or 'a fixed subset of the data itself'}; memorisation against "
             f"{result.report.training_count} training images"]
    if result.protocol is not None:
        lines.append(f"protocol: {result.protocol.caption('')}; real vs real at the same counts; ± is one "
                     "bootstrap standard error")
    lines.append(f"{'METRIC':52} {'SAMPLES':>16} {'REAL VS REAL':>16}")
    for row in result.rows():
        floor = "" if row.floor is None else format_with_error(row.floor, row.floor_error)
        note = f"  ({row.note})" if row.note else ""
        lines.append(f"{describe(row.metric):52} {format_with_error(row.value, row.error):>16} {floor:>16}{note}")
    if result.floor is None:
        lines.append("(no real-vs-real reference: the data set has too few images)")
    warning = result.warning()
    if warning:
        lines.append(f"warning: {warning}")
    lines.append(f"took {result.seconds:.1f} s ({result.sampling_seconds:.1f} s sampling)")
    return "\n".join(lines)


def format_classes(result: ClassEvaluation) -> str:
    """Per-class SWD / precision / recall against that class's real images, and class faithfulness."""
    s = result.settings
    nearest = "nearest training image" if result.k == 1 else f"{result.k} nearest training images (majority)"
    ceiling = "" if result.real_faithfulness is None else f" (held-out real images: {result.real_faithfulness:.3f})"
    lines = [f"{result.model}: {s.count} samples per class ({s.method}, {s.steps} steps), guidance w = "
             f"{result.guidance:g}, vs the real images of each class of {result.source}",
             f"class faithfulness: {result.faithfulness:.3f}{ceiling}, the share of samples whose {nearest} "
             "(colour-blind silhouettes, boxed to the object) carry the requested class",
             f"{'CLASS':16} {'FAITHFUL':>8} {'SWD':>8} {'PRECISION':>9} {'RECALL':>7} {'REAL':>5}"]
    for c in result.classes:
        m = c.report.scalars() if c.report is not None else {}
        cells = [f"{m[k]:.3f}" if k in m else "-" for k in ("swd", "precision", "recall")]
        lines.append(f"{c.name[:16]:16} {c.faithfulness:>8.3f} {cells[0]:>8} {cells[1]:>9} {cells[2]:>7} "
                     f"{c.reference_count:>5}")
    lines.append(f"took {result.seconds:.1f} s")
    return "\n".join(lines)


def _guidance_scales(text: str) -> list[float]:
    try:
        scales = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--guidance takes scales separated by commas, such as 0,1,2; got {text!r}") from None
    if not scales:
        raise ValueError("--guidance needs at least one scale")
    return scales


def cmd_eval(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = EvaluationSettings(count=args.count, steps=args.steps, method=args.method,
                                  reference_count=args.reference_count, seed=args.seed)
    bars: dict[str, ProgressBar] = {}

    def on_progress(p: EvaluationProgress) -> None:
        bar = bars.get(p.stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[p.stage] = ProgressBar(p.total, p.stage, enabled=not args.quiet)
        bar.update(p.done)

    if args.per_class:
        results = []
        for w in _guidance_scales(args.guidance):
            try:
                results.append(evaluate_classes(args.model, settings, guidance=w, guide=args.guide,
                                                runs_dir=args.runs_dir, device=args.device, on_progress=on_progress))
            finally:
                for bar in bars.values():
                    bar.close()
                bars.clear()
            print(format_classes(results[-1]))
        _write_json(args.json, [r.to_dict() for r in results])
        return 0
    try:
        scales = _guidance_scales(args.guidance)
        if len(scales) > 1:
            raise ValueError("several --guidance scales need --per-class")
        result = evaluate_model(args.model, args.data, settings, samples_dir=args.samples, runs_dir=args.runs_dir,
                                device=args.device, on_progress=on_progress, guidance=scales[0], guide=args.guide)
    finally:
        for bar in bars.values():
            bar.close()
    print(format_report(result))
    _write_json(args.json, result.to_dict())
    return 0


def _write_json(path: str | None, data: Any) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(path), json.dumps(data, indent=2) + "\n")


def add_eval(sub: Any) -> None:
    s = sub.add_parser("eval", help="sample-quality metrics of a model, beside real vs real on the same data",
                       description="Sample a model and score the samples (SWD, precision/recall, memorisation) "
                                   f"against real images; reference images: {HELD_OUT_RULE}.")
    d = EvaluationSettings()
    s.add_argument("model", help=f"checkpoint file, run folder or name, '{DEMO}' or '{CLASS_DEMO}'")
    s.add_argument("--data", default=None, help="images to measure against (default: the model's training data)")
    s.add_argument("--count", type=positive_int, default=d.count, help=f"samples to score (default {d.count})")
    s.add_argument("--steps", type=positive_int, default=d.steps, help=f"sampler steps (default {d.steps})")
    s.add_argument("--method", choices=SAMPLERS, default=d.method, help=f"sampler (default {d.method})")
    s.add_argument("--samples", default=None, metavar="DIR", help="score the images of this folder instead")
    s.add_argument("--reference-count", type=positive_int, default=d.reference_count,
                   help=f"real images measured against (default {d.reference_count})")
    s.add_argument("--seed", type=seed, default=d.seed)
    s.add_argument("--per-class", action="store_true",
                   help="a class-conditional model: --count samples of each class, scored against that class's "
                        "real images, and the class faithfulness (nearest training images carry the class)")
    s.add_argument("--guidance", default="1", metavar="W[,W...]",
                   help="guidance scale: classifier-free on a class-conditional model's samples (they ask for "
                        "classes as in its data; several scales need --per-class, one evaluation each), or "
                        "autoguidance with --guide (default 1: none)")
    s.add_argument("--guide", default=None, metavar="CHECKPOINT",
                   help="autoguidance: a weaker model of the same shape and data (checkpoint file or run)")
    s.add_argument("--json", default=None, metavar="OUT", help="write every metric and its reference as JSON here")
    s.add_argument("--threads", type=threads, default=None, help="torch CPU threads")
    s.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    add_common(s)
    s.set_defaults(func=cmd_eval)
