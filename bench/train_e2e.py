"""End-to-end training throughput and peak memory of a 32x32 run (not a test; prints figures).

Measures what a user gets from `ddpm-studio train`: images/s including data loading (the cached dataset's
augmentation and batching), the t/ε draws, forward, backward, AdamW and the EMA update; then the peak
resident set size (resource.getrusage) and, separately, the peak of Python-level allocations (tracemalloc,
which does not see torch's C++ allocator). Example:

    python bench/train_e2e.py --steps 60 --batch-size 32 --threads 2
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import torch

from ddpm_studio.data import DataConfig, load_dataset
from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
from ddpm_studio.training import RunConfig, StepEvent, Trainer, TrainingConfig, create_run


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="builtin:shapes")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup-steps", type=int, default=5, help="steps excluded from the timing")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    args = p.parse_args(argv)

    config = RunConfig(
        model=replace(UNET_PRESETS[args.preset], in_channels=3),
        diffusion=DiffusionConfig(schedule="cosine", timesteps=1000),
        data=DataConfig(source=args.data, image_size=args.size, channels=3),
        training=TrainingConfig(batch_size=args.batch_size, max_steps=args.steps + args.warmup_steps,
                                device=args.device, preview_every_epochs=0, checkpoint_every_steps=10**9,
                                num_threads=args.threads))
    rss_start = _peak_rss_mib()
    if args.tracemalloc:
        tracemalloc.start()
    t0 = time.perf_counter()
    dataset = load_dataset(config.data)
    load_s = time.perf_counter() - t0
    times: list[float] = []
    last = [time.perf_counter()]

    def on_event(event: object) -> None:
        if isinstance(event, StepEvent):
            now = time.perf_counter()
            times.append(now - last[0])
            last[0] = now

    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, dataset, create_run(config, root=Path(tmp), name="bench"))
        params = sum(p.numel() for p in trainer.model.parameters())
        last[0] = time.perf_counter()
        trainer.run(on_event)
    timed = times[args.warmup_steps:]
    images_per_s = args.batch_size * len(timed) / sum(timed)
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else None
    print(f"data     : {args.data} -> {len(dataset)} images at {args.size}x{args.size}, decoded in {load_s:.1f} s")
    print(f"model    : {args.preset} ({params / 1e6:.2f} M parameters), batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, device {trainer.device}")
    print(f"speed    : {images_per_s:.1f} images/s end to end ({1000 * sum(timed) / len(timed):.0f} ms/step, "
          f"median {1000 * sorted(timed)[len(timed) // 2]:.0f} ms) over {len(timed)} steps")
    for minutes in (5, 10):
        print(f"budget   : {minutes} min -> about {int(minutes * 60 * images_per_s / args.batch_size)} steps")
    print(f"memory   : peak RSS {_peak_rss_mib():.0f} MiB (at start {rss_start:.0f} MiB)"
          + (f", Python allocations peak {traced_peak:.0f} MiB" if traced_peak is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
