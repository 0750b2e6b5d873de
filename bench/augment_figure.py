"""Samples of two runs side by side (issue 24 item 1): the same noise through an un-augmented and an augmented
model, to check by eye that the augmented one shows no augmentation (no mirrored, turned or shifted glyphs).

    python bench/augment_figure.py RUN_OFF RUN_ON resources/screenshots/augment_glyphs200.png \
        [--count 64] [--classes F,R,7,J,L,P,2,4 --guidance 3]

Both runs' EMA weights, DPM-Solver++(2M) 20 steps, seed 0; unconditional (the null class of a labelled run), or
with --classes one row of count/len(classes) images per named class, classifier-free guided with --guidance:
asymmetric glyphs show a mirror or a quarter turn at a glance.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ddpm_studio.app.exports import labelled_panels, save_png, tile
from ddpm_studio.data.transforms import to_uint8
from ddpm_studio.engine.sampler_table import sample
from ddpm_studio.engine.sampling_config import SamplingConfig
from ddpm_studio.training.checkpoint import load_model


def samples(run: Path, count: int, classes: list[str], guidance: float) -> tuple[torch.Tensor, str]:
    model, diffusion, config = load_model(run)
    c, s = config.data.channels, config.data.image_size
    per_class = count // max(1, len(classes))
    labels = tuple(config.data.classes.index(name) for name in classes for _ in range(per_class))
    with torch.no_grad():
        *_, last = sample(model, diffusion, (count, c, s, s),
                          SamplingConfig(method="dpmpp_2m", steps=20, seed=0, count=count, labels=labels,
                                         guidance=guidance if labels else 1.0))
    tc = config.training
    label = f"augment {tc.augment}" + (f" (p = {tc.augment_p:g})" if tc.augment == "on" else "")
    return last.xt, label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--classes", default="", help="comma-separated class names, one row each")
    parser.add_argument("--guidance", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    panels = []
    for run in args.runs:
        x, label = samples(run, args.count, [n for n in args.classes.split(",") if n], args.guidance)
        panels.append((tile(to_uint8(x), ncols=8), label))
    save_png(args.out, labelled_panels(panels, scale=3))
    print(args.out)


if __name__ == "__main__":
    main()
