"""Sampling throughput: DDIM-50 with DDPM Studio's sampler and UNet against diffusers' UNet2DModel + DDIMScheduler
(a benchmark, not a test).

One run = 50 deterministic DDIM steps (η = 0, x̂_0 clipped, linear β schedule, T = 1000) on a batch of 64 RGB
images of 32×32 from fixed noise. Our row is `ddim_sample` over the `tiny` UNet preset; the peer is diffusers'
pipeline loop (`unet(x, t).sample`, then `DDIMScheduler.step`) over a UNet2DModel of the nearest parameter
count (block_out_channels 28,56,56: 0.854 M against our 0.852 M, the tiny preset without per-level linear
attention; 32,48,64 matched the previous preset's 0.935 M). Reports images/s at 1 and 2 threads.

Every row runs in its own subprocess (`--peer NAME --threads N`); the rows run in interleaved rounds and each
keeps its best time, so load from other processes on a shared machine disturbs all rows alike.

    nice -n 10 python bench/sampling.py                  # the table (2 rounds, 1 and 2 threads)
    python bench/sampling.py --peer ours --threads 2     # one worker, prints one JSON line
    python bench/sampling.py --peer ours --profile       # torch.profiler table of one run (ours)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEERS = ("ours", "diffusers")
DIFFUSERS_WIDTHS = (28, 56, 56)  # nearest UNet2DModel to the tiny preset's parameter count (as train_step.py finds)
DIFFUSERS_GROUPS = 4  # GroupNorm groups: 28 channels are not divisible by diffusers' usual 8


def _ours(args: argparse.Namespace):
    """A closure running one DDIM sampling with our engine, and the model's parameter count."""
    import torch

    sys.path.insert(0, str(REPO))
    from ddpm_studio.engine import SAMPLERS
    from ddpm_studio.engine.config import DiffusionConfig
    from ddpm_studio.engine.diffusion import GaussianDiffusion
    from ddpm_studio.engine.unet import build_unet
    from ddpm_studio.engine.unet_config import UNET_PRESETS

    model = build_unet(UNET_PRESETS["tiny"]).eval().to(memory_format=torch.channels_last)
    diffusion = GaussianDiffusion(DiffusionConfig(schedule="linear", timesteps=1000, objective="eps"))
    noise = torch.randn(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))

    def run(steps: int) -> torch.Tensor:
        with torch.inference_mode():
            *_, last = SAMPLERS["ddim"].run(model, diffusion, noise.shape, steps=steps, noise=noise, clip_x0=True)
        return last.xt

    return run, sum(p.numel() for p in model.parameters())


def _diffusers(args: argparse.Namespace):
    """The same with diffusers' UNet2DModel and DDIMScheduler (its pipeline's loop, clip_sample on)."""
    import torch
    from diffusers import DDIMScheduler, UNet2DModel

    unet = UNet2DModel(
        sample_size=args.size, in_channels=3, out_channels=3, block_out_channels=DIFFUSERS_WIDTHS,
        layers_per_block=1, norm_num_groups=DIFFUSERS_GROUPS,
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
    ).eval()
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=True)
    noise = torch.randn(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))

    def run(steps: int) -> torch.Tensor:
        scheduler.set_timesteps(steps)
        x = noise
        with torch.inference_mode():
            for t in scheduler.timesteps:
                x = scheduler.step(unet(x, t).sample, t, x, eta=0.0).prev_sample
        return x

    return run, sum(p.numel() for p in unet.parameters())


def run_worker(args: argparse.Namespace) -> dict:
    """Time `args.repeats` DDIM-`args.steps` runs of one peer; return its figures (printed as JSON)."""
    import torch

    torch.set_num_threads(args.threads)
    run, params = (_ours if args.peer == "ours" else _diffusers)(args)
    run(2)  # warm-up: allocator, kernels
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            run(args.steps)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25), file=sys.stderr)
    wall = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run(args.steps)
        wall.append(time.perf_counter() - start)
    return {"peer": args.peer, "threads": args.threads, "params": params, "wall": wall, "torch": torch.__version__}


def run_table(args: argparse.Namespace) -> int:
    """Every (peer, threads) row in interleaved rounds, then the table with ours / diffusers per thread count."""
    here = [sys.executable, str(Path(__file__).resolve())]
    common = ["--batch", str(args.batch), "--size", str(args.size), "--steps", str(args.steps),
              "--repeats", str(args.repeats)]
    rows = [(peer, threads) for threads in args.thread_counts for peer in PEERS]
    results: dict[tuple[str, int], dict] = {}
    for r in range(args.rounds):
        for peer, threads in rows:
            cmd = here + ["--peer", peer, "--threads", str(threads)] + common
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO))
            if proc.returncode != 0:
                print(f"  [{peer}, {threads} thr] failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}",
                      file=sys.stderr)
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            results.setdefault((peer, threads), {**res, "wall": []})["wall"] += res["wall"]
            print(f"  round {r + 1}/{args.rounds}: {peer}, {threads} thr: {min(res['wall']):.2f} s", file=sys.stderr)
    print(f"\nDDIM-{args.steps}, {args.batch} images {args.size}x{args.size} RGB, best of {args.rounds}x"
          f"{args.repeats} runs")
    print(f"{'sampler + model':40s} {'params':>9s} {'threads':>7s} {'best s':>7s} {'img/s':>7s} {'x diffusers':>11s}")
    for peer, threads in rows:
        if (peer, threads) not in results:
            continue
        r, peer_row = results[(peer, threads)], results.get(("diffusers", threads))
        best = min(r["wall"])
        ratio = f"{min(peer_row['wall']) / best:.2f}" if peer_row else "-"
        label = "ours: ddim_sample + tiny UNet" if peer == "ours" else "diffusers: DDIMScheduler + UNet2DModel"
        print(f"{label:40s} {r['params']:>9,} {threads:>7d} {best:>7.2f} {args.batch / best:>7.1f} {ratio:>11s}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--peer", choices=PEERS, help="worker mode: time one peer and print one JSON line")
    p.add_argument("--threads", type=int, default=2, help="torch threads (worker mode)")
    p.add_argument("--thread-counts", type=int, nargs="+", default=[1, 2], help="table: the thread counts")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=50, help="DDIM steps")
    p.add_argument("--repeats", type=int, default=1, help="timed runs per round")
    p.add_argument("--rounds", type=int, default=2, help="interleaved repeats of every row")
    p.add_argument("--profile", action="store_true", help="worker mode: print a torch.profiler table")
    args = p.parse_args(argv)
    if args.peer:
        print(json.dumps(run_worker(args)))
        return 0
    return run_table(args)


if __name__ == "__main__":
    raise SystemExit(main())
