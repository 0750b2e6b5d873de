"""Where the wall time of a short training run goes: start-up, optimiser steps, previews, checkpoints (issue 10
item 4, issue 13 item 7). A benchmark, not a test: it prints figures and asserts nothing.

Each row runs in a fresh subprocess (so `import torch` is measured too) through the same path as `ddpm-studio
train` (app.training.prepare, then Trainer.run) for --minutes of training time, and reports seconds and shares:

    import     import torch and ddpm_studio.app.training
    data       decoding / drawing the dataset into its uint8 cache
    build      the Trainer: UNet, EMA copy, AdamW (whose first construction imports torch._dynamo)
    steps      optimiser steps (data, forward, backward, AdamW, EMA), from the Trainer's own accounting
    previews   preview grids (DDIM samples of the EMA weights), checkpoints: the same
    steps/s    optimiser steps per second of training time

Rows: the built-in shapes (4096 images) and a 25-image set (one step per epoch at batch 16), each with the
preview policy of runs before issue 10 (DDIM-25 grids at every epoch end) and with the defaults (Euler-12
grids within 2 % of the training time). Live quality metrics (their own 3 % share) are off in every row.

    nice -n 10 python bench/train_overhead.py --minutes 0.5 --size 16 --threads 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

OLD_PREVIEWS = {"preview_every_epochs": 1, "preview_time_share": 0.0, "preview_sampler": "ddim",
                "preview_sampler_steps": 25}  # what runs before issue 10 did
ROWS = {  # label: (data source, training overrides)
    "shapes 4096, per-epoch DDIM-25 previews (old)": ("builtin:shapes", OLD_PREVIEWS),
    "shapes 4096, previews <= 2 % (new)": ("builtin:shapes", {}),
    "25 images, per-epoch DDIM-25 previews (old)": ("builtin:shapes?n=25", OLD_PREVIEWS),
    "25 images, previews <= 2 % (new)": ("builtin:shapes?n=25", {}),
}


def worker(args: argparse.Namespace) -> dict:
    """One run in this process; returns the phase timings."""
    t0, c0 = time.perf_counter(), time.process_time()
    import torch

    sys.path.insert(0, str(REPO))
    from dataclasses import replace

    from ddpm_studio.app.training import TrainingJob, prepare
    from ddpm_studio.data.config import DataConfig
    from ddpm_studio.training.config import RunConfig, TrainingConfig
    from ddpm_studio.training.events import StepEvent

    torch.set_num_threads(args.threads)
    phases = {"import": time.perf_counter() - t0}
    source, overrides = ROWS[args.row]
    config = RunConfig(data=DataConfig(source=source, image_size=args.size),
                       training=replace(TrainingConfig(), max_steps=None, max_minutes=args.minutes,
                                        num_threads=args.threads, device="cpu", metrics_time_share=0.0,
                                        **overrides))
    stages: list[tuple[str, float]] = []
    session = prepare(TrainingJob(config=config, runs_dir=Path(args.runs_dir)),
                      on_status=lambda text: stages.append((text, time.perf_counter())))
    built = time.perf_counter()
    phases["data"] = stages[1][1] - stages[0][1]
    phases["build"] = built - stages[1][1]
    first: list[float] = []

    def on_event(event: object) -> None:
        if isinstance(event, StepEvent) and not first:
            first.append(time.perf_counter() - built)

    session.run_training(on_event)
    trainer = session.trainer
    overhead = trainer.overhead_s
    phases.update(train=trainer.elapsed_s, previews=overhead["preview"], checkpoints=overhead["checkpoint"],
                  first_step=first[0] if first else float("nan"), steps=trainer.step,
                  wall=time.perf_counter() - t0, cpu=time.process_time() - c0)
    return phases


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=0.5, help="training time of each run")
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--row", choices=tuple(ROWS), help="worker mode: run one row, print one JSON line")
    p.add_argument("--runs-dir", default="", help="worker mode: where the run folder goes")
    args = p.parse_args()
    if args.row:
        print(json.dumps(worker(args)))
        return
    import tempfile

    print(f"{args.minutes:g} min of training, {args.size}x{args.size} RGB, {args.threads} thread(s); seconds "
          f"(share of the run's wall time)\n")
    print("| run | import | data | build | first step | training | of which previews | checkpoints | steps | "
          "steps/s | wall |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in ROWS:
        with tempfile.TemporaryDirectory(prefix="ddpm-overhead-") as tmp:
            cmd = [sys.executable, __file__, "--row", row, "--runs-dir", tmp, "--minutes", str(args.minutes),
                   "--size", str(args.size), "--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO))
        if proc.returncode != 0:
            print(f"| {row} | failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]} |")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        wall = r["wall"]

        def cell(key: str) -> str:
            return f"{r[key]:.1f} ({100 * r[key] / wall:.0f} %)"  # noqa: B023 - used at once

        print(f"| {row} | {cell('import')} | {cell('data')} | {cell('build')} | {r['first_step']:.2f} | "
              f"{cell('train')} | {cell('previews')} | {cell('checkpoints')} | {r['steps']} | "
              f"{r['steps'] / max(r['train'], 1e-9):.1f} | {wall:.1f} |", flush=True)


if __name__ == "__main__":
    main()
