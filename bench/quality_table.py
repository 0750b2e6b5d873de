"""The end of every run in `bench/quality.py --json` files, one row per (data, budget, config): the mean over
seeds of the last evaluation's SWD / precision / recall / memorised share, with the seeds' spread, beside the
real-vs-real floor of the same data (issue 24 item 5: the defaults table by data size and budget).

    python bench/quality_table.py /work/measure/m2_n100.json /work/measure/m2_n300.json ... [--baseline base]

Each file is one `quality.py` call (one data set, one budget, several configs × seeds). `--baseline NAME` adds,
for every other config, its difference to that config on the same seeds (paired: the same training seed and
the same sampling noise), the mean and the two seeds' values, so a gain can be told from the seed spread.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

METRICS = ("swd", "precision", "recall", "memorised")


def final_points(result: dict[str, Any]) -> dict[str, dict[int, dict[str, float]]]:
    """config name -> seed -> the run's last evaluation."""
    out: dict[str, dict[int, dict[str, float]]] = {}
    for run in result["runs"]:
        if run["curve"]:
            out.setdefault(run["name"], {})[int(run["seed"])] = run["curve"][-1]
    return out


FORMATS = {"swd": ".1f", "precision": ".2f", "recall": ".2f", "memorised": ".2f", "step": ".0f"}


def _mean_spread(values: list[float], fmt: str) -> str:
    """The mean over seeds ± half their range (one seed: its value)."""
    if len(values) == 1:
        return format(values[0], fmt)
    spread = (max(values) - min(values)) / 2
    return f"{format(statistics.fmean(values), fmt)} ± {format(spread, fmt)}"


def table(paths: list[Path], baseline: str | None) -> str:
    lines = ["| data | budget | config | seeds | steps | SWD×10³ | precision | recall | memorised | "
             "Δ SWD vs baseline (per seed) | Δ recall | Δ precision |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for path in paths:
        result = json.loads(path.read_text())
        args, floor = result["args"], result["floor"]
        data = args["data"].removeprefix("builtin:") + f" @ {args['size']} px"
        budget = f"{args['minutes']:g} min"
        lines.append(f"| {data} | {budget} | real vs real (floor) | | | {floor['swd']:.1f} | "
                     f"{floor['precision']:.2f} | {floor['recall']:.2f} | {floor['memorised']:.2f} | | | |")
        points = final_points(result)
        base = points.get(baseline or "", {})
        for name, by_seed in points.items():
            seeds = sorted(by_seed)
            cells = [_mean_spread([by_seed[s][m] for s in seeds], FORMATS[m]) for m in METRICS]
            steps = _mean_spread([float(by_seed[s]["step"]) for s in seeds], FORMATS["step"])
            deltas = ["", "", ""]
            paired = [s for s in seeds if s in base]
            if baseline and name != baseline and paired:
                for i, metric in enumerate(("swd", "recall", "precision")):
                    diffs = [by_seed[s][metric] - base[s][metric] for s in paired]
                    fmt = "+" + FORMATS[metric]
                    each = " / ".join(format(d, fmt) for d in diffs)
                    deltas[i] = f"{format(statistics.fmean(diffs), fmt)} ({each})"
            lines.append(f"| {data} | {budget} | {name} | {len(seeds)} | {steps} | " + " | ".join(cells) + " | "
                         + " | ".join(deltas) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", type=Path, nargs="+", help="quality.py --json outputs")
    p.add_argument("--baseline", default=None, help="config the others are compared with, seed by seed")
    args = p.parse_args()
    print(table(args.files, args.baseline))


if __name__ == "__main__":
    main()
