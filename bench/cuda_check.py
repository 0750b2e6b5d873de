"""One-shot check of the CUDA path, for a session that is lent a GPU machine (a check, not a test).

CI has no GPU, so the CUDA code paths (autocast in bf16 and fp16 with a GradScaler, channels_last on CUDA,
the Trainer and the CLI on a GPU, NCCL under torchrun, sampling on the GPU) are exercised here, in one run,
and every result is written to ``OUT/cuda_check.json`` plus a readable summary on stdout. Each check runs on
its own and records ``ok`` / ``failed`` with its figures, so one failure does not hide the others; the exit
status is 1 if any check failed. ``--device cpu --quick`` is a dry run of the script itself on a laptop.

    PYTHONPATH=. python3 bench/cuda_check.py --out "$OUT"            # on the GPU machine (see bench/README.md)
    PYTHONPATH=. python bench/cuda_check.py --device cpu --quick --out /tmp/cc
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ddpm_studio.engine import SAMPLERS, UNET_PRESETS, DiffusionConfig, GaussianDiffusion, build_unet  # noqa: E402

Check = Callable[[argparse.Namespace], dict[str, Any]]
CHECKS: list[tuple[str, Check]] = []


def check(fn: Check) -> Check:
    """Register a check; it returns its figures as a dict and raises on failure."""
    CHECKS.append((fn.__name__, fn))
    return fn


def _amp_modes(device: torch.device) -> list[tuple[str, torch.dtype | None]]:
    """(name, autocast dtype) pairs to try: float32 always; bf16 and fp16 on CUDA."""
    modes: list[tuple[str, torch.dtype | None]] = [("fp32", None)]
    if device.type == "cuda":
        modes += [("bf16", torch.bfloat16), ("fp16", torch.float16)]
    return modes


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


@check
def environment(args: argparse.Namespace) -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "python": sys.version.split()[0],
                            "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info |= {"gpu": torch.cuda.get_device_name(), "capability": torch.cuda.get_device_capability(),
                 "bf16_supported": torch.cuda.is_bf16_supported(), "cuda": torch.version.cuda,
                 "cudnn": torch.backends.cudnn.version()}
    if args.device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA requested but torch.cuda.is_available() is False")
    return info


@check
def unet_autocast_layouts(args: argparse.Namespace) -> dict[str, Any]:
    """Forward + backward of the tiny and ddpm128 UNets in every autocast mode and both layouts."""
    dev, out = args.device, {}
    for preset, size, batch in (("tiny", 32, 8), ("ddpm128", 64 if args.quick else 128, 2 if args.quick else 8)):
        torch.manual_seed(0)
        model = build_unet(UNET_PRESETS[preset]).to(dev)
        x = torch.randn(batch, 3, size, size, device=dev)
        t = torch.randint(0, 1000, (batch,), device=dev)
        reference = None
        for layout in ("nchw", "cl"):
            fmt = torch.channels_last if layout == "cl" else torch.contiguous_format
            model = model.to(memory_format=fmt)
            xin = x.contiguous(memory_format=fmt)
            for name, dtype in _amp_modes(dev):
                model.zero_grad(set_to_none=True)
                with _autocast(dev, dtype):
                    y = model(xin, t)
                y.float().square().mean().backward()
                grads_finite = all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
                if reference is None:
                    reference = y.detach().float()
                rel = ((y.detach().float() - reference).norm() / reference.norm()).item()
                key = f"{preset}/{layout}/{name}"
                out[key] = {"out_dtype": str(y.dtype), "rel_err_vs_fp32_nchw": round(rel, 5),
                            "channels_last_kept": y.is_contiguous(memory_format=torch.channels_last),
                            "grads_finite": bool(grads_finite)}
                tolerance = 1e-4 if dtype is None else 5e-2
                if not (torch.isfinite(y).all() and grads_finite and rel < tolerance):
                    raise AssertionError(f"{key}: finite={bool(torch.isfinite(y).all())} grads={grads_finite} "
                                         f"rel_err={rel:.3g} (tolerance {tolerance})")
    return out


@check
def loss_goes_down_under_amp(args: argparse.Namespace) -> dict[str, Any]:
    """A few hundred steps on one fixed batch, per autocast mode (fp16 with a GradScaler), ε and learned variance."""
    dev, out = args.device, {}
    steps = 60 if args.quick else 300
    for learned in (False, True):
        diffusion = GaussianDiffusion(DiffusionConfig(learned_variance=learned))
        for name, dtype in _amp_modes(dev):
            torch.manual_seed(0)
            config = UNET_PRESETS["tiny"].replace(learned_variance=learned)
            model = build_unet(config).to(dev).to(memory_format=torch.channels_last)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            scaler = torch.amp.GradScaler(dev.type, enabled=dtype == torch.float16)
            g = torch.Generator(device="cpu").manual_seed(0)
            x0 = (torch.rand(16, 3, 32, 32, generator=g) * 2 - 1).to(dev).contiguous(memory_format=torch.channels_last)
            losses = []
            for _ in range(steps):
                t = torch.randint(0, 1000, (16,), generator=g).to(dev)
                noise = torch.randn(x0.shape, generator=g).to(dev)
                with _autocast(dev, dtype):
                    loss = diffusion.training_losses(model, x0, t, noise=noise).loss.mean()
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                losses.append(loss.item())
            first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
            key = f"{'learned_variance' if learned else 'eps'}/{name}"
            out[key] = {"first10": round(first, 4), "last10": round(last, 4), "ratio": round(last / first, 3)}
            if not (math.isfinite(last) and last < 0.7 * first):
                raise AssertionError(f"{key}: loss {first:.4f} -> {last:.4f} did not fall clearly")
    return out


@check
def sampling_matches_cpu(args: argparse.Namespace) -> dict[str, Any]:
    """The demo model: DDIM (η = 0) on the device equals the CPU result; DDPM runs all T steps, finite, in range."""
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False  # compare float32 with float32
    try:
        return _sampling_figures(args)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32


def _sampling_figures(args: argparse.Namespace) -> dict[str, Any]:
    """`sampling_matches_cpu` with TF32 off."""
    from ddpm_studio.paths import demo_checkpoint_dir
    from ddpm_studio.training.checkpoint import load_model

    model_cpu, diffusion, config = load_model(demo_checkpoint_dir(), device="cpu")
    model_dev, _, _ = load_model(demo_checkpoint_dir(), device=args.device)
    c, s = config.model.in_channels, config.data.image_size
    noise = torch.randn(8, c, s, s, generator=torch.Generator().manual_seed(0))
    steps = 10 if args.quick else 50
    cpu = list(SAMPLERS["ddim"].run(model_cpu, diffusion, noise.shape, steps=steps, noise=noise))[-1].xt
    t0 = time.perf_counter()
    dev = list(SAMPLERS["ddim"].run(model_dev, diffusion, noise.shape, steps=steps, noise=noise.to(args.device)))[-1].xt
    ddim_s = time.perf_counter() - t0
    diff = (dev.cpu() - cpu).abs().max().item()
    t0 = time.perf_counter()
    count = 2 if args.quick else 16
    frames = list(SAMPLERS["ddpm"].run(model_dev, diffusion, (count, c, s, s),
                                       generator=torch.Generator().manual_seed(1),
                              device=args.device))
    ddpm_s = time.perf_counter() - t0
    final = frames[-1].xt
    figures = {"ddim_steps": steps, "ddim_max_abs_diff_vs_cpu": diff, "ddim_seconds": round(ddim_s, 3),
               "ddpm_frames": len(frames), f"ddpm_seconds_{count}_images": round(ddpm_s, 2),
               "ddpm_range": [round(final.min().item(), 3), round(final.max().item(), 3)]}
    if diff > 1e-3 or len(frames) != diffusion.num_timesteps or not torch.isfinite(final).all():
        raise AssertionError(f"sampling mismatch: {figures}")
    return figures


@check
def sampling_precision(args: argparse.Namespace) -> dict[str, Any]:
    """The demo model through the one inference loader in float32, bf16 and fp16 (issue 27: the network under
    autocast, the sampler in float32): DDIM from the same noise, seconds and distance to float32, and the
    Sampler's measured evaluation (`app.sampling_cost`)."""
    from ddpm_studio.app.sampling import load_for_sampling
    from ddpm_studio.app.sampling_cost import measure_eval
    from ddpm_studio.paths import demo_checkpoint_dir

    modes = ("no", "bf16", "fp16") if args.device.type == "cuda" else ("no", "bf16")
    steps, count = (10, 4) if args.quick else (50, 64)
    figures: dict[str, Any] = {"ddim_steps": steps, "images": count}
    finals: dict[str, torch.Tensor] = {}
    for mode in modes:
        loaded = load_for_sampling(demo_checkpoint_dir(), args.device, precision=mode)
        noise = torch.randn(count, *loaded.shape, generator=torch.Generator().manual_seed(0)).to(args.device)
        list(SAMPLERS["ddim"].run(loaded.model, loaded.diffusion, noise.shape, steps=2, noise=noise))  # warm-up
        if args.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        finals[mode] = list(SAMPLERS["ddim"].run(loaded.model, loaded.diffusion, noise.shape, steps=steps,
                                                 noise=noise))[-1].xt.float().cpu()
        if args.device.type == "cuda":
            torch.cuda.synchronize()
        figures[f"{mode}_seconds"] = round(time.perf_counter() - t0, 3)
        figures[f"{mode}_eval_s_per_image"] = measure_eval(loaded, args.device, count).seconds
        figures[f"{mode}_max_abs_diff_vs_fp32"] = (finals[mode] - finals["no"]).abs().max().item()
        if not torch.isfinite(finals[mode]).all():
            raise AssertionError(f"{mode}: non-finite samples: {figures}")
    if max(figures[f"{m}_max_abs_diff_vs_fp32"] for m in modes) > 0.25:
        raise AssertionError(f"reduced precision moved the samples too far: {figures}")
    return figures


def _cli(args: argparse.Namespace, *argv: str, torchrun: bool = False, timeout: float = 300) -> str:
    """Run `python -m ddpm_studio ARGV` (under torchrun with one process when asked); raise on a non-zero exit."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1"] if torchrun \
        else [sys.executable]
    cmd = launcher + ["-m", "ddpm_studio", *argv]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               DDPM_STUDIO_HOME=str(args.out / "home"))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(REPO), env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:1])} exited {proc.returncode}: {proc.stderr.strip()[-600:]}")
    return proc.stdout


@check
def cli_train_resume_sample(args: argparse.Namespace) -> dict[str, Any]:
    """The real Trainer through the CLI: fp16 (GradScaler) and bf16 runs, a resume, sampling from the run."""
    runs, out = args.out / "runs", {}
    steps = 20 if args.quick else 120
    common = ["--data", "builtin:shapes?n=512&size=32", "--size", "32", "--preset", "tiny", "--device",
              args.device.type, "--checkpoint-every", str(steps // 2), "--preview-every", "1", "--runs-dir", str(runs),
              "--quiet"]
    modes = ("fp16", "bf16") if args.device.type == "cuda" else ("no",)
    for mode in modes:
        t0 = time.perf_counter()
        _cli(args, "train", *common, "--mixed-precision", mode, "--steps", str(steps), "--name", f"amp-{mode}")
        out[f"train_{mode}_seconds"] = round(time.perf_counter() - t0, 1)
    run = runs / f"amp-{modes[0]}"
    _cli(args, "train", "--resume", str(run), "--steps", str(steps + steps // 2), "--runs-dir", str(runs), "--quiet")
    checkpoints = sorted(p.name for p in (run / "checkpoints").glob("*.safetensors"))
    _cli(args, "sample", str(run), "--method", "ddim", "--steps", "20", "--count", "8", "--device", args.device.type,
         "--out", str(args.out / "samples"), "--quiet")
    samples = sorted(p.name for p in (args.out / "samples").iterdir())
    out |= {"checkpoints_after_resume": checkpoints, "samples": samples}
    if f"step_{steps + steps // 2:08d}.safetensors" not in checkpoints:
        raise AssertionError(f"resume did not reach step {steps + steps // 2}: {checkpoints}")
    return out


@check
def torchrun_one_process(args: argparse.Namespace) -> dict[str, Any]:
    """DDP through torchrun with one process: NCCL on CUDA (gloo on CPU)."""
    runs = args.out / "runs"
    _cli(args, "train", "--data", "builtin:shapes?n=256&size=32", "--size", "32", "--preset", "tiny", "--steps", "10",
         "--device", args.device.type, "--preview-every", "0", "--runs-dir", str(runs), "--name", "ddp", "--quiet",
         torchrun=True)
    checkpoints = sorted(p.name for p in (runs / "ddp" / "checkpoints").glob("*.safetensors"))
    if not checkpoints:
        raise AssertionError("torchrun training wrote no checkpoint")
    return {"checkpoints": checkpoints}


@check
def throughput(args: argparse.Namespace) -> dict[str, Any]:
    """Training-step images/s and achieved GFLOP/s (FlopCounterMode) of the presets, channels_last, best mode."""
    from torch.utils.flop_counter import FlopCounterMode

    dev, out = args.device, {}
    dtype = torch.bfloat16 if dev.type == "cuda" and torch.cuda.is_bf16_supported() else None
    cases = (("tiny", 32, 256), ("ddpm128", 128, 32)) if not args.quick else (("tiny", 32, 8),)
    for preset, size, batch in cases:
        model = build_unet(UNET_PRESETS[preset]).to(dev).to(memory_format=torch.channels_last)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=dev.type == "cuda")
        x = torch.randn(batch, 3, size, size, device=dev).contiguous(memory_format=torch.channels_last)
        t = torch.randint(0, 1000, (batch,), device=dev)

        def step(model=model, x=x, t=t, opt=opt) -> None:  # bound now: the closure must not see a later loop pass
            with _autocast(dev, dtype):
                loss = (model(x, t).float() - x).square().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        counter = FlopCounterMode(display=False)
        with counter:
            with _autocast(dev, dtype):
                (model(x, t).float() - x).square().mean().backward()
        for _ in range(3):
            step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        n = 3 if args.quick else 20
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        sec = (time.perf_counter() - t0) / n
        out[f"{preset}_{size}px_batch{batch}"] = {"ms_per_step": round(sec * 1e3, 2),
                                                  "img_per_s": round(batch / sec, 1),
                                                   "gflop_per_s": round(counter.get_total_flops() / sec / 1e9, 1),
                                                   "autocast": str(dtype)}
        if dev.type == "cuda":
            out[f"{preset}_peak_mem_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu for a dry run")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "cuda_check_out")))
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer steps")
    p.add_argument("--only", nargs="*", default=None, help="run only these checks")
    args = p.parse_args(argv)
    args.device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for name, fn in CHECKS:
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        try:
            results[name] = {"status": "ok", **fn(args)}
        except Exception as exc:  # noqa: BLE001 - every check reports; one failure must not hide the rest
            results[name] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                             "traceback": traceback.format_exc()[-2000:]}
        results[name]["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"[{results[name]['status']:>6s}] {name} ({results[name]['seconds']} s)", flush=True)
        (args.out / "cuda_check.json").write_text(json.dumps(results, indent=1, default=str))
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "traceback"} for k, v in results.items()},
                     indent=1, default=str))
    return 1 if any(r["status"] != "ok" for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
