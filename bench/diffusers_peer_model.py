"""Train a small DDPMPipeline with diffusers' own parts on `builtin:shapes`, and save it as a pipeline folder
(a tool for checks and screenshots, not a test; issue 27).

Nothing may be downloaded here, so the "published model" a README screenshot and a manual check open is made
locally the way a community model is: diffusers' `UNet2DModel`, `DDPMScheduler.add_noise`, the ε-MSE loss and
AdamW of diffusers' unconditional training example (`train_unconditional.py`), then
`DDPMPipeline.save_pretrained`. Only the images come from this project (the built-in synthetic set); DDPM Studio
then opens the folder exactly as it opens a downloaded one.

    python bench/diffusers_peer_model.py --out /tmp/ddpm-shapes-32 --steps 3000 --threads 1
    ddpm-studio sample /tmp/ddpm-shapes-32 --method ddim --steps 50 --count 16 --out samples/
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the pipeline folder to write")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-4, help="diffusers' example uses 1e-4 for long runs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--save-every", type=int, default=250, help="write the EMA pipeline every N steps too")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    import diffusers

    from ddpm_studio.data.config import DataConfig
    from ddpm_studio.data.dataset import load_dataset

    data = load_dataset(DataConfig(source="builtin:shapes", image_size=args.size, channels=3, hflip=False))
    images = data.batch(range(len(data)))  # (4096, 3, H, W) in [-1, 1], the set the demo model trains on
    unet = diffusers.UNet2DModel(sample_size=args.size, in_channels=3, out_channels=3, layers_per_block=1,
                                 block_out_channels=(32, 64, 64),
                                 down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
                                 up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"))
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    optimiser = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=1e-6)
    ema = diffusers.training_utils.EMAModel(unet.parameters(), decay=0.995)
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        x0 = images[torch.randint(0, images.shape[0], (args.batch,))]
        noise = torch.randn_like(x0)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (args.batch,))
        loss = torch.nn.functional.mse_loss(unet(scheduler.add_noise(x0, noise, t), t).sample, noise)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimiser.step()
        ema.step(unet.parameters())
        if step % 100 == 0 or step == args.steps:
            print(f"step {step}/{args.steps} loss {loss.item():.4f} {time.perf_counter() - start:.0f} s", flush=True)
        if step % args.save_every == 0 or step == args.steps:  # the EMA weights as a pipeline folder, so far
            saved = copy.deepcopy(unet)
            ema.copy_to(saved.parameters())
            diffusers.DDPMPipeline(unet=saved.eval(), scheduler=scheduler).save_pretrained(args.out)
    print(f"{args.out}: {sum(p.numel() for p in unet.parameters()) / 1e6:.2f} M parameters, {args.steps} steps, "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
