"""Learning speed: sample quality over training time for the defaults, the previous defaults, and diffusers'
UNet2DModel trained by our loop (issue 10 item 6; a benchmark, not a test: it prints figures, asserts nothing).

Three contestants on the same data, for the same time, each planning its run for that time the way
`ddpm-studio train --minutes N` does (training/budget.py):

- defaults   the config dataclasses' defaults (what `ddpm-studio train` and the GUI's form start from);
- previous   the defaults before issue 10: ε objective, lr 2e-4, batch 32, EMA 0.999 (warm-up EMA), and the
             tiny preset's per-level linear attention of then;
- diffusers  the defaults' recipe and training loop, with the network swapped for diffusers' UNet2DModel at
             the parameter count of our default preset (attention at the lowest resolution, as bench/
             train_step.py's matched row), to separate the network from the recipe.

Quality is bench/quality.py's: every --eval-every seconds of training time the EMA weights sample
--samples images (DDIM, fixed noise) scored against held-out images of the same built-in set (sliced
Wasserstein distance ×10³, lower is better; precision/recall; memorisation). The trainers run interleaved in
one process with one thread (or `--order sequential`); `--clock cpu` (default) budgets each trainer's own
CPU seconds, so other jobs on a shared machine do not tilt the comparison; `--clock wall` is what a user
waits for.

    nice -n 10 python bench/learning_speed.py --minutes 4 --seeds 0 1
    nice -n 10 python bench/learning_speed.py --data builtin:glyphs --size 32 --minutes 4 --clock wall
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import quality  # noqa: E402  (bench/quality.py: the evaluation loop and its table)
from quality import Job, QualityBench, apply_overrides, base_config, print_table  # noqa: E402

from ddpm_studio.training import learner as learner_module  # noqa: E402
from ddpm_studio.training.runs import create_run  # noqa: E402
from ddpm_studio.training.trainer import Trainer  # noqa: E402

PREVIOUS = "objective=eps,lr=2e-4,batch_size=32,ema_decay=0.999,ema_sigma_rel=0.0,snr_gamma=0.0,linear_attention=true"
CONTESTANTS = {"defaults": "", "previous": PREVIOUS, "diffusers": ""}


class DiffusersUNet(torch.nn.Module):
    """diffusers' UNet2DModel as ε_θ(x_t, t) -> tensor, widths (w, 2w, 2w), attention at the lowest level."""

    def __init__(self, in_channels: int, out_channels: int, size: int, widths: str, groups: int) -> None:
        super().__init__()
        from diffusers import UNet2DModel

        self.net = UNet2DModel(sample_size=size, in_channels=in_channels, out_channels=out_channels,
                               block_out_channels=tuple(int(w) for w in widths.split(",")), layers_per_block=1,
                               norm_num_groups=groups,
                               down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                               up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(x, t).sample


def matched_diffusers(preset_args: argparse.Namespace) -> tuple[str, int]:
    """diffusers' widths at our preset's parameter count (bench/train_step.py's matching)."""
    from train_step import matched_widths

    return matched_widths(preset_args)


class LearningSpeedBench(QualityBench):
    """quality.QualityBench whose "diffusers" job trains diffusers' network (same Trainer, recipe and data)."""

    def __init__(self, args: argparse.Namespace, widths: str, groups: int) -> None:
        super().__init__(args)
        self.widths, self.groups = widths, groups

    def make_trainer(self, job: Job, root: Path) -> None:
        if job.name != "diffusers":
            super().make_trainer(job, root)
            return
        model, size = job.config.model, job.config.data.image_size
        build = learner_module.build_unet
        learner_module.build_unet = lambda _config: DiffusersUNet(model.in_channels, model.out_channels, size,
                                                                   self.widths, self.groups)
        try:
            run = create_run(job.config, root=root, name=f"{job.name}-s{job.seed}")
            job.cpu_clock = self.args.clock == "cpu"
            job.trainer = Trainer(job.config, self.train_data, run,
                                  clock=job.clock if job.cpu_clock else time.perf_counter)
        finally:
            learner_module.build_unet = build
        job.trainer._save = lambda emit: None  # type: ignore[method-assign]  # no checkpoints of a foreign net
        job.next_mark = self.args.eval_every


def main() -> None:
    p = quality.parser()
    p.description = __doc__
    p.set_defaults(minutes=4.0, threads=1, clock="cpu", eval_every=60.0, seeds=[0, 1])
    p.add_argument("--only", nargs="+", choices=tuple(CONTESTANTS), default=list(CONTESTANTS),
                   help="contestants to run (default all three)")
    args = p.parse_args()
    if args.config:
        raise SystemExit("learning_speed.py runs its own three configs; use bench/quality.py for others")
    torch.set_num_threads(args.threads)
    base = base_config(args)
    preset_args = argparse.Namespace(preset="tiny", base=base.model.base_channels, design="preset", size=args.size)
    widths, groups = matched_diffusers(preset_args)
    bench = LearningSpeedBench(args, widths, groups)
    jobs = []
    for name in args.only:
        config = apply_overrides(base, CONTESTANTS[name])
        for seed in args.seeds:
            jobs.append(Job(name=name, overrides=CONTESTANTS[name], seed=seed,
                            config=replace(config, training=replace(config.training, seed=seed))))
    bench.load_data(base)
    with tempfile.TemporaryDirectory(prefix="ddpm-learning-speed-") as tmp:
        (bench.run_interleaved if args.order == "interleaved" else bench.run_sequential)(jobs, Path(tmp))
    print(f"{args.data} {args.size}px, {args.minutes:g} {args.clock} minutes per run, {args.threads} thread(s), "
          f"diffusers widths {widths} (groups {groups})\n")
    print_table(bench, jobs)
    if args.json is not None:
        args.json.write_text(json.dumps({
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "diffusers_widths": widths, "floor": bench.floor.scalars(),
            "runs": [{"name": j.name, "seed": j.seed, "outcome": j.outcome, "config": j.config.to_dict(),
                      "curve": j.curve} for j in jobs]}, indent=1))


if __name__ == "__main__":
    main()
