"""Cost of classifier-free guidance per image against unguided sampling (issue 20; target <= 2.1x).

Guidance evaluates the conditional and the unconditional branch in one forward pass of twice the batch
(engine/guidance.py), so its cost is that of a 2B batch, not two B batches. Rows, interleaved over --rounds and
each kept at its best (median in brackets): unguided (w = 1, the plain conditional model), guided (w = 3, one
batched pass) and, for reference, guided as two separate passes. A random-weight conditional UNet of the `tiny`
preset is timed, so no training is needed.

    PYTHONPATH=. python bench/guidance_cost.py                      # 32 px, batch 16, DDIM 10 steps, 1 thread
    PYTHONPATH=. python bench/guidance_cost.py --size 16 --batch 64 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig, GaussianDiffusion, SamplingConfig, UNet, sample


class _TwoPasses(torch.nn.Module):
    """Guidance the naive way: the two branches as two forward passes (the reference row)."""

    def __init__(self, net: UNet, labels: torch.Tensor, w: float) -> None:
        super().__init__()
        self.net, self.labels, self.w = net, labels, w

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        cond, uncond = self.net(x, t, self.labels), self.net(x, t)
        return uncond + self.w * (cond - uncond)


def _time(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = UNet(UNET_PRESETS["tiny"].replace(num_classes=3)).eval()
    diffusion = GaussianDiffusion(DiffusionConfig())
    shape = (args.batch, 3, args.size, args.size)
    base = SamplingConfig(method="ddim", steps=args.steps, count=args.batch)
    labels = torch.arange(args.batch) % 3

    def run(config: SamplingConfig, model=net) -> None:
        with torch.inference_mode():
            for _ in sample(model, diffusion, shape, config):
                pass

    rows = {
        "unguided (w = 1)": lambda: run(SamplingConfig(**{**base.to_dict(), "labels": (1,)})),
        "guided, one batched pass (w = 3)": lambda: run(SamplingConfig(**{**base.to_dict(), "labels": (1,),
                                                                            "guidance": 3.0})),
        "guided, two passes (w = 3)": lambda: run(base, _TwoPasses(net, labels, 3.0)),
    }
    run(base)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.rounds):
        for name, fn in rows.items():
            times[name].append(_time(fn))
    reference = min(times["unguided (w = 1)"])
    print(f"{args.size}px, batch {args.batch}, DDIM {args.steps} steps, {args.threads} thread(s), "
          f"{args.rounds} rounds: ms per image, best (median)")
    for name, values in times.items():
        best, median = min(values), statistics.median(values)
        print(f"  {name:34} {1e3 * best / args.batch:8.2f} ({1e3 * median / args.batch:8.2f})  "
              f"x{best / reference:.2f}")


if __name__ == "__main__":
    main()
