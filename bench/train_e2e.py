"""End-to-end training throughput of a 32x32 run beside the raw step it wraps (not a test; prints figures).

Measures what a user gets from `ddpm-studio train`: ms per Trainer step including data loading (the cached
dataset's augmentation and batching), the t/ε draws, forward, backward, clipping, AdamW, the EMA update and
event/history building; and, in interleaved rounds in the same process, a *raw* step of the same UNet
(forward + MSE + backward + fused AdamW, channels_last, the same batch) so that the Trainer's overhead is a
ratio measured under the same load. `--ref GIT_REF` also times the Trainer of an older commit (exported with
`git archive` and driven in a subprocess, in the same rounds): before/after in one run. Then peak RSS.

    python bench/train_e2e.py --steps 8 --rounds 3 --threads 2 --ref HEAD
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _config(args: argparse.Namespace):
    from ddpm_studio.data import DataConfig
    from ddpm_studio.engine import UNET_PRESETS, DiffusionConfig
    from ddpm_studio.training import RunConfig, TrainingConfig

    return RunConfig(
        model=replace(UNET_PRESETS[args.preset], in_channels=3),
        diffusion=DiffusionConfig(schedule="cosine", timesteps=1000),
        data=DataConfig(source=args.data, image_size=args.size, channels=3),
        training=TrainingConfig(batch_size=args.batch_size, max_steps=1, device=args.device,
                                preview_every_epochs=0, checkpoint_every_steps=10**9, num_threads=args.threads))


def _trainer_block(args: argparse.Namespace, tmp: str) -> Callable[[int], list[float]]:
    """A function running n more Trainer steps and returning their step times (seconds, between StepEvents)."""
    from ddpm_studio.data import load_dataset
    from ddpm_studio.training import StepEvent, Trainer, create_run

    config = _config(args)
    trainer = Trainer(config, load_dataset(config.data), create_run(config, root=Path(tmp), name="bench"))
    times: list[float] = []
    last = [0.0]

    def on_event(event: object) -> None:
        if isinstance(event, StepEvent):
            now = time.perf_counter()
            times.append(now - last[0])
            last[0] = now

    def block(n: int) -> list[float]:
        times.clear()
        trainer.config.training.max_steps = trainer.step + n
        last[0] = time.perf_counter()
        trainer.run(on_event)
        return list(times)

    block.trainer = trainer  # type: ignore[attr-defined]
    return block


def _raw_block(args: argparse.Namespace, x0_source: Callable[[], "object"]) -> Callable[[int], list[float]]:
    """The same UNet's bare step: forward + ε-MSE + backward + fused AdamW, channels_last (bench/train_step.py)."""
    import torch

    from ddpm_studio.engine.unet import build_unet

    torch.manual_seed(0)
    config = _config(args)
    model = build_unet(config.model).train().to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, fused=True)
    g = torch.Generator().manual_seed(0)
    x0 = x0_source().contiguous(memory_format=torch.channels_last)
    alphas_cumprod = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0).float()

    def block(n: int) -> list[float]:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            t = torch.randint(0, 1000, (x0.shape[0],), generator=g)
            noise = torch.randn(x0.shape, generator=g).contiguous(memory_format=torch.channels_last)
            ab = alphas_cumprod[t].view(-1, 1, 1, 1)
            loss = (model(ab.sqrt() * x0 + (1 - ab).sqrt() * noise, t) - noise).square().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        return times

    return block


def _ref_worker(args: argparse.Namespace) -> int:
    """Subprocess mode for --ref: read a step count per line, answer with the step times as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        block = _trainer_block(args, tmp)
        for line in sys.stdin:
            print(json.dumps(block(int(line))), flush=True)
    return 0


def _start_ref(args: argparse.Namespace, tmp: str) -> subprocess.Popen:
    """Export `args.ref` into tmp and start this bench as a --worker there (its own ddpm_studio on sys.path)."""
    archive = Path(tmp) / "ref.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), args.ref], check=True)
    src = Path(tmp) / "src"
    with tarfile.open(archive) as tar:
        tar.extractall(src, filter="data")
    flags = ["--data", args.data, "--size", str(args.size), "--preset", args.preset,
             "--batch-size", str(args.batch_size), "--device", args.device, "--worker"]
    if args.threads:
        flags += ["--threads", str(args.threads)]
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *flags], cwd=src,
                            env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _ms(times: list[float]) -> str:
    s = sorted(times)
    return f"median {1000 * s[len(s) // 2]:6.0f} ms, best {1000 * s[0]:6.0f} ms"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="builtin:shapes")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=8, help="steps per block; each round runs one block of each")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup-steps", type=int, default=2, help="steps of each kind run before timing")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--ref", default=None, help="also time the Trainer of this git ref (e.g. HEAD)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        sys.path.insert(0, str(Path.cwd()))
        return _ref_worker(args)
    sys.path.insert(0, str(REPO))
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        trainer_block = _trainer_block(args, tmp)
        trainer = trainer_block.trainer  # type: ignore[attr-defined]
        raw_block = _raw_block(args, lambda: trainer._next_batch())
        ref = _start_ref(args, tmp) if args.ref else None

        def ref_block(n: int) -> list[float]:
            assert ref is not None and ref.stdin is not None and ref.stdout is not None
            ref.stdin.write(f"{n}\n")
            ref.stdin.flush()
            return json.loads(ref.stdout.readline())

        blocks = {"raw step": raw_block, "trainer": trainer_block}
        if ref is not None:
            blocks[f"trainer@{args.ref}"] = ref_block
        times: dict[str, list[float]] = {name: [] for name in blocks}
        for block in blocks.values():
            block(args.warmup_steps)
        for _ in range(args.rounds):
            for name, block in blocks.items():
                times[name] += block(args.steps)
        if ref is not None:
            ref.stdin.close()  # type: ignore[union-attr]
            ref.wait()
    params = sum(q.numel() for q in trainer.model.parameters())
    print(f"model    : {args.preset} ({params / 1e6:.2f} M parameters), {args.data} at {args.size}x{args.size}, "
          f"batch {args.batch_size}, {torch.get_num_threads()} threads, device {trainer.device}")
    raw = sorted(times["raw step"])[len(times["raw step"]) // 2]
    raw_best = min(times["raw step"])
    for name, ts in times.items():
        median = sorted(ts)[len(ts) // 2]
        print(f"{name:<14}: {_ms(ts)}, {args.batch_size / median:6.1f} images/s, {median / raw:5.2f}x "
              f"(best {min(ts) / raw_best:4.2f}x) the raw step ({len(ts)} steps, {args.rounds} interleaved rounds)")
    print(f"memory   : peak RSS {_peak_rss_mib():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
