"""Error bars of the quality scores (issue 21): which estimate is honest, and what it costs.

For one model (default: the shipped demo model) at the live monitor's protocol (64 samples, DPM-Solver++(2M) 10
steps, 256 held-out real images), this samples `--seeds` independent sets of samples (x_T seeds 0..S-1) and
scores each through the shared `evaluation.score_samples`:

- honesty: the spread over seeds (the standard deviation of SWD, precision, recall over the S sets: the
  error a person means by "how sure is this number") beside the mean bootstrap error of one set (what each face
  shows; uncertainty.py resamples images, no new sampling);
- cost: the seconds of one scoring with and without the bootstrap (the metrics alone, and with the sampling
  that precedes them in every face), as a share of a scoring. The spread over seeds costs S samplings by
  definition (S ≥ 4 for a usable standard deviation: ≥ 300 % of a scoring).

    nice -n 10 python bench/score_error.py --threads 1 --seeds 6
    python bench/score_error.py --model RUN --data builtin:shapes --count 64 --reference-count 256 --json out.json
    python bench/score_error.py --model RUN --count 1024 --reference-count 1536 --method ddim --steps 25 --repeats 1

A class-conditional model samples classes in its data's proportions, as every face scores it (`--classes null`:
its null class, the protocol before issue 24's session 5).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ddpm_studio.app.catalogue import DEMO, resolve_model
from ddpm_studio.app.evaluation import EvaluationSettings, _sample, data_class_mix, reference_data
from ddpm_studio.app.sweep import model_data_source
from ddpm_studio.evaluation import evaluate, score_samples
from ddpm_studio.evaluation.class_mix import CLASSES_AS_DATA
from ddpm_studio.evaluation.uncertainty import BOOTSTRAPS
from ddpm_studio.training.checkpoint import load_checkpoint, resolve_checkpoint

METRICS = ("swd", "precision", "recall")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEMO)
    parser.add_argument("--data", default=None, help="default: the model's training data")
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--method", default="dpmpp_2m")
    parser.add_argument("--reference-count", type=int, default=256)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3, help="timings per variant (the median is kept)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--classes", choices=("data", "null"), default="data",
                        help="a class-conditional model's samples: classes in the data's proportions (as every face "
                             "scores it), or its null class")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    checkpoint = resolve_checkpoint(resolve_model(args.model))
    source = args.data or model_data_source(checkpoint)
    run_config = load_checkpoint(checkpoint, with_state=False).config
    asked = data_class_mix(run_config, args.count) if args.classes == "data" else ()
    results = []
    for seed in range(args.seeds):
        settings = EvaluationSettings(count=args.count, steps=args.steps, method=args.method,
                                      reference_count=args.reference_count, seed=0)
        data = reference_data(source, run_config.data.image_size, run_config.data.channels, settings)
        started = time.perf_counter()
        samples = _sample(checkpoint, EvaluationSettings(**{**settings.__dict__, "seed": seed}), torch.device("cpu"),
                          None, lambda: False, image_labels=asked)
        sampling_s = time.perf_counter() - started
        protocol = data.protocol(args.count, args.method, args.steps, seed, CLASSES_AS_DATA if asked else "")
        config = settings.evaluation()
        plain_s, boot_s = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            evaluate(samples, data.reference, data.training, config)
            t1 = time.perf_counter()
            score = score_samples(samples, data.reference, protocol, config, data.training)
            t2 = time.perf_counter()
            plain_s.append(t1 - t0)
            boot_s.append(t2 - t1)
        results.append({"seed": seed, "values": score.values(), "errors": score.errors(), "sampling_s": sampling_s,
                        "metrics_s": float(np.median(plain_s)), "metrics_with_errors_s": float(np.median(boot_s))})
        print(f"seed {seed}: " + ", ".join(f"{m} {score.values()[m]:.4g} ± {score.errors()[m]:.2g}" for m in METRICS)
              + f"; sampling {sampling_s:.2f} s, metrics {np.median(plain_s):.3f} s, with errors "
                f"{np.median(boot_s):.3f} s", flush=True)
    summary = {}
    for m in METRICS:
        values = [r["values"][m] for r in results]
        summary[m] = {"spread_over_seeds": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                      "mean_bootstrap_error": float(np.mean([r["errors"][m] for r in results])),
                      "mean": float(np.mean(values))}
    extra = np.median([r["metrics_with_errors_s"] - r["metrics_s"] for r in results])
    metrics_s = np.median([r["metrics_s"] for r in results])
    sampling_s = np.median([r["sampling_s"] for r in results])
    cost = {"bootstraps": BOOTSTRAPS, "extra_s": float(extra), "of_metrics": float(extra / metrics_s),
            "of_scoring": float(extra / (metrics_s + sampling_s)), "sampling_s": float(sampling_s),
            "metrics_s": float(metrics_s)}
    print(f"\n{'metric':10} {'mean':>9} {'spread over seeds':>18} {'bootstrap error':>16}")
    for m, s in summary.items():
        spread = "-" if s["spread_over_seeds"] is None else f"{s['spread_over_seeds']:.3g}"
        print(f"{m:10} {s['mean']:>9.4g} {spread:>18} {s['mean_bootstrap_error']:>16.3g}")
    print(f"\nbootstrap ({BOOTSTRAPS} replicates): +{extra:.3f} s = {100 * cost['of_metrics']:.0f} % of the metrics "
          f"alone, {100 * cost['of_scoring']:.1f} % of a scoring (sampling {sampling_s:.2f} s + metrics "
          f"{metrics_s:.3f} s); the spread over seeds costs {args.seeds} samplings")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": results, "summary": summary,
                                               "cost": cost}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
