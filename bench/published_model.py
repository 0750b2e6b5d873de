"""Sampling a published-size diffusers model: our DDIM row over `app.diffusers_model` against `DDIMPipeline`
(a benchmark, not a test; issue 27: "ours must not be slower").

The model is a UNet2DModel with the configuration of Ho et al.'s CIFAR-10 DDPM as diffusers ships it
(google/ddpm-cifar10-32: block_out_channels 128, 256, 256, 256, two layers per block, attention at 16 px):
35.7 M parameters at 32 px, random weights, saved with `save_pretrained` into a temporary folder and opened by
each side as a user would (nothing is downloaded). One run = DDIM with η = 0 at `--steps` steps on a batch of
`--batch` images from fixed noise, on diffusers' own "leading" grid for both sides.

Each thread count runs in its own process, which holds both peers and alternates them run by run (who goes
first alternates too), so load from other processes disturbs a pair alike: the figure is the median of the
per-pair ratios, with their range; the best seconds per image of each peer are printed beside it.

    nice -n 10 python bench/published_model.py                       # the table, 1 and 2 threads
    python bench/published_model.py --thread-counts 1 --rounds 4     # a shorter one
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_pipeline(folder: Path) -> int:
    """Save a DDIMPipeline with the CIFAR-10 DDPM's UNet configuration (random weights); its parameter count."""
    import diffusers
    import torch

    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(sample_size=32, in_channels=3, out_channels=3, layers_per_block=2,
                                 block_out_channels=(128, 256, 256, 256),
                                 down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
                                 up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"))
    diffusers.DDIMPipeline(unet=unet, scheduler=diffusers.DDIMScheduler(num_train_timesteps=1000)).save_pretrained(
        folder)
    return sum(p.numel() for p in unet.parameters())


def worker(args: argparse.Namespace) -> dict:
    """Both peers in one process, alternating run by run (`--rounds` pairs): each pair sees the same machine
    load, so the median of the per-pair ratios is the figure; the best time of each peer is reported too."""
    import statistics

    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(REPO))
    import diffusers

    from ddpm_studio.app.diffusers_model import load_diffusers_model
    from ddpm_studio.engine import SAMPLERS

    folder = Path(args.folder)
    pipe = diffusers.DDIMPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler.set_timesteps(args.steps)
    grid = pipe.scheduler.timesteps.tolist()
    found = load_diffusers_model(folder)
    noise = torch.randn((args.batch, *found.shape), generator=torch.Generator().manual_seed(0))

    def ours() -> None:
        for _ in SAMPLERS["ddim"].run(found.model, found.diffusion, noise.shape, timesteps=grid, clip_x0=True,
                                      noise=noise):
            pass

    def theirs() -> None:
        with torch.no_grad():
            pipe(batch_size=args.batch, num_inference_steps=args.steps, eta=0.0, output_type="np",
                 generator=torch.Generator().manual_seed(0))

    def timed(run) -> float:
        start = time.perf_counter()
        run()
        return time.perf_counter() - start

    ours(), theirs()  # warm-up: oneDNN kernel choice, allocator growth
    pairs = []
    for k in range(args.rounds):
        first, second = (ours, theirs) if k % 2 == 0 else (theirs, ours)  # alternate who goes first
        a, b = timed(first), timed(second)
        pairs.append((a, b) if k % 2 == 0 else (b, a))  # (ours, theirs)
    ratios = sorted(theirs_s / ours_s for ours_s, theirs_s in pairs)
    return {"threads": args.threads, "ours_s_per_image": min(p[0] for p in pairs) / args.batch,
            "diffusers_s_per_image": min(p[1] for p in pairs) / args.batch,
            "median_ratio": statistics.median(ratios), "ratio_range": [ratios[0], ratios[-1]], "pairs": len(pairs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help="one thread count in this process (internal)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--thread-counts", default="1,2", help="the table's thread counts")
    parser.add_argument("--folder", default=None)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6, help="pairs of runs (ours, DDIMPipeline) per thread count")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        params = make_pipeline(Path(tmp))
        print(f"UNet2DModel {params / 1e6:.1f} M parameters, 32 px, DDIM {args.steps} steps, batch {args.batch}, "
              f"{args.rounds} alternating pairs per row")
        for threads in (int(v) for v in args.thread_counts.split(",")):
            out = subprocess.run([sys.executable, __file__, "--worker", "--threads", str(threads), "--folder", tmp,
                                  "--steps", str(args.steps), "--batch", str(args.batch), "--rounds",
                                  str(args.rounds)], capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            low, high = row["ratio_range"]
            print(f"{threads} thread(s): ours {row['ours_s_per_image']:.3f} s/image, DDIMPipeline "
                  f"{row['diffusers_s_per_image']:.3f} s/image (best of {row['pairs']}); DDIMPipeline / ours per "
                  f"pair: median {row['median_ratio']:.3f}x, range {low:.3f}-{high:.3f} (> 1: ours faster)")


if __name__ == "__main__":
    main()
