"""Sample quality over training time, for choosing a training recipe at equal CPU budget (issue 11, part 5).

For every config × seed, the real Trainer trains on a built-in set (or any data source) for `--minutes` of
training time; every `--eval-every` seconds of training time the EMA model samples `--samples` images (DDIM,
`--sampler-steps`, fixed noise seed, the same noise for every run) and ddpm_studio.evaluation scores them
against held-out real images (the same set with another seed: no image in common with the training set),
plus the memorisation check against the training images. Evaluation time is not counted as training time.
The floor row is the same evaluation of held-out real images (real vs real).

Configs are `NAME:key=value,key=value` over the project's defaults (or the demo model's recipe with
`--base demo`); a key is a field of TrainingConfig, DiffusionConfig, UNetConfig or DataConfig (e.g. lr,
batch_size, ema_decay, warmup_steps, lr_schedule, max_steps, objective, schedule, loss, base_channels, block)
or `preset`. `max_steps` sets the length the learning-rate schedule decays over (the default 2000 for a run
that the budget cuts short). `--order interleaved` (default) runs all config × seed trainers in one process
and switches between them every `--slice` seconds (paused trainers wait between steps), so machine load
hits every config alike; `sequential` runs them one after another.

`--clock cpu` measures the budget in CPU seconds of each trainer's thread (time.thread_time, evaluation
excluded) instead of wall seconds: on a machine shared with other jobs, wall time is not comparable between
runs, CPU time nearly is (use it with --threads 1, where torch computes on the calling thread). With
`--plan` (the default) each run trains for the budget the way `ddpm-studio train --minutes N` does: the
Trainer measures its step rate and plans its step total, so the warm-up and the learning-rate decay fit the
budget (training/budget.py); `--no-plan` keeps a fixed `max_steps` and cuts the run at the budget.

    nice -n 10 python bench/quality.py --minutes 2 --threads 1
    nice -n 10 python bench/quality.py --minutes 10 --threads 2 --seeds 0 1 \\
        --config base: --config v:objective=v --config lr1e-3:lr=1e-3,batch_size=16 --json quality.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ddpm_studio.app.training import with_data_classes  # noqa: E402
from ddpm_studio.data import load_dataset  # noqa: E402
from ddpm_studio.data.transforms import uint8_to_float  # noqa: E402
from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig  # noqa: E402
from ddpm_studio.evaluation import EvaluationConfig, evaluate, prepare_reference  # noqa: E402
from ddpm_studio.evaluation.class_mix import class_counts, class_mix  # noqa: E402
from ddpm_studio.training.config import RunConfig, TrainingConfig  # noqa: E402
from ddpm_studio.training.events import FailedEvent, FinishedEvent, StepEvent  # noqa: E402
from ddpm_studio.training.previews import sample_preview  # noqa: E402
from ddpm_studio.training.runs import create_run  # noqa: E402
from ddpm_studio.training.trainer import Trainer  # noqa: E402

METRICS = ("swd", "precision", "recall", "memorised")


# ---- configs ------------------------------------------------------------------------------------------

def base_config(args: argparse.Namespace) -> RunConfig:
    if args.base == "demo":
        from ddpm_studio.training.checkpoint import load_checkpoint
        from ddpm_studio.training.runs import DEMO_CHECKPOINT
        config = load_checkpoint(DEMO_CHECKPOINT, with_state=False).config
    else:
        config = RunConfig(model=UNET_PRESETS["tiny"], diffusion=DiffusionConfig(), training=TrainingConfig())
    data = replace(config.data, source=args.data, image_size=args.size)
    training = replace(config.training, device="cpu", num_threads=args.threads, preview_every_epochs=0,
                       preview_every_steps=0, preview_time_share=0.0, metrics_every_steps=0, metrics_time_share=0.0,
                       checkpoint_every_steps=10**9, keep_last=1,
                       max_minutes=args.minutes if args.plan else None, planned_steps=None,
                       max_steps=None if args.plan else config.training.max_steps)
    return replace(config, data=data, training=training)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _split_items(spec: str) -> list[str]:
    """`spec` split at the commas outside brackets: `channel_mults=[1,2,2,2],lr=1e-3` is two items."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(spec):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(spec[start:i])
            start = i + 1
    return [*items, spec[start:]]


def apply_overrides(config: RunConfig, spec: str) -> RunConfig:
    """`key=value,...` onto the config; each key is looked up in training, diffusion, model, data."""
    sections = {"training": config.training, "diffusion": config.diffusion, "model": config.model, "data": config.data}
    for item in filter(None, (part.strip() for part in _split_items(spec))):
        key, _, raw = item.partition("=")
        key, value = key.strip(), _parse_value(raw.strip())
        if key == "preset":
            sections["model"] = replace(UNET_PRESETS[value], in_channels=config.model.in_channels)
            continue
        owner = next((name for name, section in sections.items() if key in {f.name for f in fields(section)}), None)
        if owner is None:
            raise SystemExit(f"unknown setting {key!r} in {spec!r}")
        if key == "channel_mults":
            value = tuple(value)
        sections[owner] = replace(sections[owner], **{key: value})
    if sections["diffusion"].learned_variance != sections["model"].learned_variance:
        sections["model"] = replace(sections["model"], learned_variance=sections["diffusion"].learned_variance)
    result = RunConfig(**sections)
    result.validate()
    return result


# ---- one trainer and its curve ------------------------------------------------------------------------

@dataclass
class Job:
    name: str
    overrides: str
    seed: int
    config: RunConfig
    curve: list[dict[str, Any]] = field(default_factory=list)
    trainer: Trainer | None = None
    thread: threading.Thread | None = None
    eval_seconds: float = 0.0
    next_mark: float = 0.0
    losses: list[float] = field(default_factory=list)
    last_step: StepEvent | None = None
    outcome: str = ""

    eval_cpu: float = 0.0  # CPU seconds of this trainer's thread spent evaluating

    def train_seconds(self, event: StepEvent) -> float:
        if self.cpu_clock:
            return event.elapsed_s  # the Trainer's own clock already leaves the evaluations out
        return event.elapsed_s - self.eval_seconds  # evaluations ran inside timed steps: take them out

    cpu_clock: bool = False

    def clock(self) -> float:
        """CPU seconds of the calling (trainer) thread, evaluations excluded."""
        return time.thread_time() - self.eval_cpu


class QualityBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.eval_config = EvaluationConfig(sample_count=args.samples, reference_count=args.reference, seed=0)
        self.budget = 60.0 * args.minutes

    def load_data(self, config: RunConfig) -> None:
        self.train_data = load_dataset(config.data)
        training = uint8_to_float(self.train_data.cache)
        self.training_images = training[:, :, :config.data.image_size, :config.data.image_size]
        held_spec = self._held_out_spec(config.data.source, self.args.reference + self.args.samples)
        held = load_dataset(replace(config.data, source=held_spec, hflip=False, random_crop=False))
        held_images = uint8_to_float(held.cache)
        self.reference = prepare_reference(held_images[:self.args.reference], self.eval_config)
        self.floor = evaluate(held_images[self.args.reference:], self.reference, self.training_images,
                              self.eval_config)

    def _held_out_spec(self, source: str, count: int) -> str:
        if not source.startswith("builtin:"):
            raise SystemExit("held-out images are drawn from a built-in set (another seed); give --data builtin:...")
        from ddpm_studio.data.synthetic import parse_builtin_spec
        kind, params = parse_builtin_spec(source)
        return f"builtin:{kind}?n={count}&size={params['size']}&seed={params['seed'] + 1000}"

    def sample_labels(self, job: Job) -> tuple[int, ...]:
        """What a conditional model's evaluation samples ask for: classes in the data's proportions, as the live
        monitor and eval ask (evaluation/class_mix.py); `--classes null` samples the null class (the protocol
        before 2026-12-03's session 5); () for an unconditional model."""
        labels, num_classes = getattr(self.train_data, "labels", None), job.config.model.num_classes
        if not num_classes or labels is None or self.args.classes == "null":
            return ()
        return class_mix(self.args.samples, class_counts(labels, num_classes))

    def evaluate_job(self, job: Job, event: StepEvent) -> None:
        started, started_cpu = time.perf_counter(), time.thread_time()
        trainer, data = job.trainer, job.config.data
        assert trainer is not None
        images = sample_preview(trainer.ema.module, trainer.diffusion, count=self.args.samples,
                                shape=(data.channels, data.image_size, data.image_size), seed=12345,
                                steps=self.args.sampler_steps, device=trainer.device, labels=self.sample_labels(job))
        sample_s = time.perf_counter() - started
        samples = uint8_to_float(torch.from_numpy(images).permute(0, 3, 1, 2))
        report = evaluate(samples, self.reference, self.training_images, self.eval_config)
        recent = job.losses[-50:]
        point = {"step": event.step, "train_s": round(job.train_seconds(event), 1),
                 "loss": sum(recent) / max(len(recent), 1), **report.scalars(),
                 "sample_s": round(sample_s, 2), "eval_s": round(report.seconds, 2)}
        job.curve.append(point)
        job.eval_seconds += time.perf_counter() - started
        job.eval_cpu += time.thread_time() - started_cpu
        if not self.args.quiet:
            print(f"  {job.name} seed {job.seed}: " + _row_text(point), file=sys.stderr, flush=True)

    def on_event(self, job: Job, event: Any) -> None:
        if isinstance(event, StepEvent):
            job.last_step = event
            job.losses.append(event.loss)
            spent = job.train_seconds(event)
            end = spent >= self.budget and not self.args.plan  # a planned run ends at its planned step
            if (spent >= job.next_mark and spent < self.budget) or end:
                self.evaluate_job(job, event)
                job.next_mark = (math.floor(spent / self.args.eval_every) + 1) * self.args.eval_every
            if end:
                assert job.trainer is not None
                job.trainer.request_stop()
        elif isinstance(event, (FinishedEvent, FailedEvent)):
            last = job.last_step
            if isinstance(event, FinishedEvent) and last is not None and (
                    not job.curve or job.curve[-1]["step"] != last.step):
                self.evaluate_job(job, last)  # ended at max_steps before the budget: score the end too
            job.outcome = event.reason if isinstance(event, FinishedEvent) else f"failed: {event.message}"

    def make_trainer(self, job: Job, root: Path) -> None:
        # a labelled set (a built-in one, class folders) trains class-conditional, as `ddpm-studio train` does
        # (`labels=none` in a config: unconditional); its evaluations ask for classes (sample_labels)
        if job.config.data.labels != "none":
            job.config = with_data_classes(job.config, self.train_data.classes)
        run = create_run(job.config, root=root, name=f"{job.name}-s{job.seed}")
        job.cpu_clock = self.args.clock == "cpu"
        job.trainer = Trainer(job.config, self.train_data, run, clock=job.clock if job.cpu_clock else time.perf_counter)
        job.next_mark = self.args.eval_every

    def run_sequential(self, jobs: list[Job], root: Path) -> None:
        for job in jobs:
            self.make_trainer(job, root)
            assert job.trainer is not None
            job.trainer.run(lambda event, job=job: self.on_event(job, event))

    def run_interleaved(self, jobs: list[Job], root: Path) -> None:
        """One thread per trainer; exactly one is unpaused at a time, switched every --slice seconds."""
        for job in jobs:
            self.make_trainer(job, root)
            assert job.trainer is not None
            job.trainer.request_pause()
            job.thread = threading.Thread(target=job.trainer.run, args=(lambda e, job=job: self.on_event(job, e),),
                                          daemon=True)
            job.thread.start()
        while any(job.thread.is_alive() for job in jobs if job.thread is not None):
            for job in jobs:
                if job.thread is None or not job.thread.is_alive():
                    continue
                job.trainer.request_resume()  # type: ignore[union-attr]
                job.thread.join(self.args.slice)
                if job.thread.is_alive():
                    job.trainer.request_pause()  # type: ignore[union-attr]
                    while job.thread.is_alive() and not job.trainer.is_paused:  # type: ignore[union-attr]
                        time.sleep(0.01)  # wait for the step (and any evaluation) in progress


# ---- output -------------------------------------------------------------------------------------------

def _row_text(point: dict[str, Any]) -> str:
    return (f"step {point['step']:>5}  train {point['train_s']:>6.0f}s  loss {point['loss']:.4f}  "
            f"SWD {point['swd']:6.1f}  P {point['precision']:.2f}  R {point['recall']:.2f}  "
            f"mem {point.get('memorised', 0.0):.2f}")


def print_table(bench: QualityBench, jobs: list[Job]) -> None:
    floor = bench.floor.scalars()
    levels = [k for k in floor if k.startswith("swd_")]
    head = ["config", "seed", "step", "train s", "loss", "SWD×1e3", *[k[4:] for k in levels], "P", "R", "mem"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    print("| real vs real (floor) | | | | | " + " | ".join(
        f"{floor[k]:.1f}" for k in ["swd", *levels]) + f" | {floor['precision']:.2f} | {floor['recall']:.2f} | "
        f"{floor['memorised']:.2f} |")
    for job in jobs:
        for p in job.curve:
            print(f"| {job.name} | {job.seed} | {p['step']} | {p['train_s']:.0f} | {p['loss']:.4f} | " + " | ".join(
                f"{p[k]:.1f}" for k in ["swd", *levels]) + f" | {p['precision']:.2f} | {p['recall']:.2f} | "
                f"{p['memorised']:.2f} |")
    print()
    curves = [job.curve for job in jobs if job.curve]
    if not curves:
        return
    common = min(curve[-1]["train_s"] for curve in curves)  # the longest time every run reached
    print(f"At equal training time (each run's last evaluation at <= {common:.0f} s + 5 %; mean over seeds):")
    for name in dict.fromkeys(job.name for job in jobs):
        points = [max((p for p in job.curve if p["train_s"] <= 1.05 * common), key=lambda p: p["train_s"],
                      default=None) for job in jobs if job.name == name]
        points = [p for p in points if p is not None]
        if points:
            keys = ("train_s", "step", "swd", "precision", "recall")
            mean = {k: sum(p[k] for p in points) / len(points) for k in keys}
            print(f"  {name:<16} train {mean['train_s']:.0f}s  step {mean['step']:.0f}  SWD {mean['swd']:.1f}  "
                  f"P {mean['precision']:.2f}  R {mean['recall']:.2f}  ({len(points)} seed(s))")


def parser() -> argparse.ArgumentParser:
    """The command line (bench/learning_speed.py reuses it)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="builtin:shapes")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--base", choices=("defaults", "demo"), default="defaults", help="recipe the configs override")
    p.add_argument("--config", action="append", default=None, metavar="NAME:key=value,...",
                   help="a config to train (repeat); default: one config 'base' with no overrides")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--minutes", type=float, default=2.0, help="training time per config and seed")
    p.add_argument("--eval-every", type=float, default=30.0, help="seconds of training time between evaluations")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--samples", type=int, default=128, help="images sampled per evaluation")
    p.add_argument("--reference", type=int, default=512, help="held-out real images")
    p.add_argument("--sampler-steps", type=int, default=25, help="DDIM steps of the evaluation samples")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="budget in wall seconds, or in CPU seconds of each trainer's thread (use with --threads 1)")
    p.add_argument("--plan", action=argparse.BooleanOptionalAction, default=True,
                   help="plan each run's step total from the budget (like train --minutes); --no-plan: max_steps")
    p.add_argument("--order", choices=("interleaved", "sequential"), default="interleaved")
    p.add_argument("--slice", type=float, default=20.0, help="interleaved: seconds before switching trainer")
    p.add_argument("--json", type=Path, default=None, help="write the curves and the floor here")
    p.add_argument("--quiet", action="store_true", help="no per-evaluation lines on stderr")
    p.add_argument("--classes", choices=("data", "null"), default="data",
                   help="a class-conditional model's evaluation samples: classes in the data's proportions (as the "
                        "monitor and eval), or its null class")
    p.add_argument("--keep", type=Path, default=None, metavar="DIR",
                   help="train the runs in DIR and keep them (for ema-sweep, eval, samples) instead of a temp folder")
    return p


def main() -> None:
    args = parser().parse_args()
    torch.set_num_threads(args.threads)
    bench = QualityBench(args)
    base = base_config(args)
    jobs = []
    for spec in args.config or ["base:"]:
        name, _, overrides = spec.partition(":")
        config = apply_overrides(base, overrides)
        for seed in args.seeds:
            jobs.append(Job(name=name or "base", overrides=overrides, seed=seed,
                            config=replace(config, training=replace(config.training, seed=seed))))
    bench.load_data(base)
    run = bench.run_interleaved if args.order == "interleaved" else bench.run_sequential
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(jobs, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="ddpm-quality-") as tmp:
            run(jobs, Path(tmp))
    print_table(bench, jobs)
    if args.json is not None:
        args.json.write_text(json.dumps({
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "floor": bench.floor.scalars(),
            "runs": [{"name": j.name, "overrides": j.overrides, "seed": j.seed, "outcome": j.outcome,
                      "config": j.config.to_dict(), "curve": j.curve} for j in jobs]}, indent=1))


if __name__ == "__main__":
    main()
