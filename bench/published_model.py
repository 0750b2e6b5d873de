"""Sampling a published-size diffusers model: our DDIM row over `app.diffusers_model` against `DDIMPipeline`
(a benchmark, not a test; issue 27: "ours must not be slower").

The model is a UNet2DModel with the configuration of Ho et al.'s CIFAR-10 DDPM as diffusers ships it
(google/ddpm-cifar10-32: block_out_channels 128, 256, 256, 256, two layers per block, attention at 16 px):
35.7 M parameters at 32 px, random weights, saved with `save_pretrained` into a temporary folder and opened by
each side as a user would (nothing is downloaded). One run = DDIM with η = 0 at `--steps` steps on a batch of
`--batch` images from fixed noise, on diffusers' own "leading" grid for both sides.

Every row runs in its own subprocess (`--peer NAME --threads N`) in interleaved rounds, each keeping its best
time, so load from other processes disturbs both alike. Reports seconds per image at 1 and 2 threads.

    nice -n 10 python bench/published_model.py                 # the table
    python bench/published_model.py --peer ours --threads 1    # one worker, prints one JSON line
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
PEERS = ("ours", "diffusers")


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

    run = ours if args.peer == "ours" else theirs
    run()  # warm-up: oneDNN kernel choice, allocator growth
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return {"peer": args.peer, "threads": args.threads, "s_per_image": best / args.batch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=PEERS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--folder", default=None)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.peer:
        print(json.dumps(worker(args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        params = make_pipeline(Path(tmp))
        print(f"UNet2DModel {params / 1e6:.1f} M parameters, 32 px, DDIM {args.steps} steps, batch {args.batch}")
        best: dict[tuple[str, int], float] = {}
        for _ in range(args.rounds):
            for threads in (1, 2):
                for peer in PEERS:
                    out = subprocess.run([sys.executable, __file__, "--peer", peer, "--threads", str(threads),
                                          "--folder", tmp, "--steps", str(args.steps), "--batch", str(args.batch),
                                          "--repeats", str(args.repeats)], capture_output=True, text=True, check=True)
                    row = json.loads(out.stdout.strip().splitlines()[-1])
                    key = (peer, threads)
                    best[key] = min(best.get(key, float("inf")), row["s_per_image"])
        for threads in (1, 2):
            ours, theirs = best[("ours", threads)], best[("diffusers", threads)]
            print(f"{threads} thread(s): ours {ours:.3f} s/image, DDIMPipeline {theirs:.3f} s/image, "
                  f"ratio {theirs / ours:.2f}x (> 1: ours faster)")


if __name__ == "__main__":
    main()
