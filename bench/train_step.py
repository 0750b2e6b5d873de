"""Training-step throughput of DDPM Studio's UNet against diffusers' and lucidrains' UNets (a benchmark, not a test).

One step = forward + ε-MSE loss + backward + AdamW step, on a fixed batch (default 32 RGB images of 32×32).
Reports images/s and achieved GFLOP/s, where the FLOPs of one step are counted with
`torch.utils.flop_counter.FlopCounterMode` (matmuls, convolutions, attention; forward and backward).

Every model runs in its own subprocess (`--peer NAME`), so a peer can live in another virtual environment
(`--lucid-python`, default /work/venv-lucid/bin/python: lucidrains' package needs torchvision). The
subprocesses run in interleaved rounds and each model keeps its best step time, so load from other
processes on a shared machine disturbs all rows alike; compare ratios within one run.

    python bench/train_step.py                       # the table (tiny preset, 32×32, batch 32, 2 threads)
    python bench/train_step.py --rounds 3 --compile  # more repeats; also our UNet under torch.compile
    python bench/train_step.py --peer ours --layout cl   # one worker, prints one JSON line
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LUCID_PYTHON = "/work/venv-lucid/bin/python"
PEERS = ("ours", "diffusers", "lucidrains")
# Design points of our UNet beside the preset itself (`--designs`): where the step time goes.
DESIGNS: dict[str, dict] = {
    "preset": {},
    "linear-attention": {"linear_attention": True},       # plus per-level linear attention (the preset until issue 10)
    "convnext": {"block": "convnext"},                    # ConvNeXt blocks (wider 3×3 convs, 2× hidden)
}
# diffusers' UNet2DModel at the width whose parameter count is closest to the ConvNeXt design's (1.48 M).
DIFFUSERS_MATCHED = ("36,72,72", 4)


# ----------------------------------------------------------------------------------------------- worker

def _build(peer: str, args: argparse.Namespace):
    """The model of one peer at the tiny preset's width, as a callable `model(x, t) -> eps`."""
    import torch

    if peer == "ours":
        sys.path.insert(0, str(REPO))
        from ddpm_studio.engine.unet import build_unet
        from ddpm_studio.engine.unet_config import UNET_PRESETS

        config = UNET_PRESETS[args.preset]
        if args.base is not None:
            config = config.replace(base_channels=args.base)
        config = config.replace(**DESIGNS[args.design])
        return build_unet(config)
    if peer == "diffusers":
        from diffusers import UNet2DModel

        net = UNet2DModel(
            sample_size=args.size, in_channels=3, out_channels=3,
            block_out_channels=tuple(int(w) for w in args.widths.split(",")),
            layers_per_block=1, norm_num_groups=args.groups,
            down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
            up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        )

        class Diffusers(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = net

            def forward(self, x, t):
                return self.net(x, t).sample

        return Diffusers()
    if peer == "lucidrains":
        from denoising_diffusion_pytorch import Unet

        return Unet(dim=32, dim_mults=(1, 2, 2), channels=3)
    raise SystemExit(f"unknown peer {peer!r}; expected one of {PEERS}")


def run_worker(args: argparse.Namespace) -> dict:
    """Time `args.steps` training steps of one model; return its figures as a dict (printed as JSON)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = _build(args.peer, args).train()
    params = sum(p.numel() for p in model.parameters())
    channels_last = args.layout == "cl"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    step_model = torch.compile(model) if args.compile else model

    g = torch.Generator().manual_seed(0)
    x0 = (torch.rand(args.batch, 3, args.size, args.size, generator=g) * 2 - 1).contiguous(memory_format=fmt)
    alphas_cumprod = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0).float()
    try:
        opt = torch.optim.AdamW(model.parameters(), lr=2e-4, fused=True)
    except (RuntimeError, TypeError):  # an older torch without the fused CPU kernel
        opt = torch.optim.AdamW(model.parameters(), lr=2e-4)

    def step() -> None:
        t = torch.randint(0, 1000, (args.batch,), generator=g)
        noise = torch.randn(x0.shape, generator=g).contiguous(memory_format=fmt)
        ab = alphas_cumprod[t].view(-1, 1, 1, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise                  # q(x_t | x_0), Ho et al. eq. (4)
        loss = (step_model(xt, t) - noise).square().mean()             # L_simple, eq. (14)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t_compile = time.perf_counter()
    for _ in range(args.warmup):
        step()
    t_compile = time.perf_counter() - t_compile
    counter = FlopCounterMode(display=False)
    with counter:
        (model(x0, torch.zeros(args.batch, dtype=torch.long)) - x0).square().mean().backward()
    flops = counter.get_total_flops()
    opt.zero_grad(set_to_none=True)

    wall, cpu = [], []
    for _ in range(args.steps):
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return {"peer": args.peer, "layout": args.layout, "compile": args.compile, "params": params, "flops": flops,
            "wall": wall, "cpu": cpu, "warmup_s": t_compile, "torch": torch.__version__,
            "python": sys.executable}


# ------------------------------------------------------------------------------------------ orchestrator

def _variants(args: argparse.Namespace) -> list[tuple[str, list[str], str, str]]:
    """(label, command, peer, python) for every row of the table."""
    here = [sys.executable, str(Path(__file__).resolve())]
    common = ["--threads", str(args.threads), "--batch", str(args.batch), "--size", str(args.size),
              "--steps", str(args.steps), "--warmup", str(args.warmup), "--preset", args.preset]
    rows = []
    for layout in ("cl", "nchw"):
        rows.append((f"ours {args.preset} ({layout})", here + ["--peer", "ours", "--layout", layout] + common,
                     "ours", sys.executable))
    if args.designs:
        for design in DESIGNS:
            if design != "preset":
                rows.append((f"ours {args.preset}, {design} (cl)",
                             here + ["--peer", "ours", "--layout", "cl", "--design", design] + common,
                             "ours", sys.executable))
    if args.compile:
        rows.append((f"ours {args.preset} (cl, compiled)",
                     here + ["--peer", "ours", "--layout", "cl", "--compile"] + common, "ours", sys.executable))
    peer_widths = ["--widths", args.widths, "--groups", str(args.groups)]
    for layout in ("nchw", "cl"):
        rows.append((f"diffusers UNet2DModel {args.widths} ({layout})",
                     here + ["--peer", "diffusers", "--layout", layout] + peer_widths + common,
                     "diffusers", sys.executable))
    if args.designs:
        widths, groups = DIFFUSERS_MATCHED
        rows.append((f"diffusers UNet2DModel {widths} (nchw)",
                     here + ["--peer", "diffusers", "--layout", "nchw", "--widths", widths, "--groups", str(groups)]
                     + common, "diffusers", sys.executable))
    lucid = args.lucid_python
    if lucid and Path(lucid).exists():
        there = [lucid, str(Path(__file__).resolve())]
        for layout in ("nchw", "cl"):
            rows.append((f"lucidrains Unet ({layout})", there + ["--peer", "lucidrains", "--layout", layout] + common,
                         "lucidrains", lucid))
        rows.append((f"ours {args.preset} (cl, lucid's torch)", there + ["--peer", "ours", "--layout", "cl"] + common,
                     "ours", lucid))
    return rows


def matched_widths(args: argparse.Namespace) -> tuple[str, int]:
    """diffusers' (w, 2w, 2w) widths and GroupNorm groups whose parameter count is closest to our preset's."""
    sys.path.insert(0, str(REPO))
    from diffusers import UNet2DModel

    from ddpm_studio.engine.unet import build_unet, count_parameters
    from ddpm_studio.engine.unet_config import UNET_PRESETS

    config = UNET_PRESETS[args.preset]
    if args.base is not None:
        config = config.replace(base_channels=args.base)
    ours = count_parameters(build_unet(config.replace(**DESIGNS[args.design])))
    best: tuple[int, str, int] | None = None
    for w in range(8, 129, 4):
        groups = 8 if w % 8 == 0 else 4
        net = UNet2DModel(sample_size=args.size, in_channels=3, out_channels=3, block_out_channels=(w, 2 * w, 2 * w),
                          layers_per_block=1, norm_num_groups=groups,
                          down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                          up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"))
        gap = abs(sum(p.numel() for p in net.parameters()) - ours)
        if best is None or gap < best[0]:
            best = (gap, f"{w},{2 * w},{2 * w}", groups)
    assert best is not None
    print(f"diffusers matched to {ours:,} parameters: widths {best[1]}, groups {best[2]}", file=sys.stderr)
    return best[1], best[2]


def run_table(args: argparse.Namespace) -> int:
    """Run every variant in interleaved rounds and print the comparison table."""
    if args.match_params:
        args.widths, args.groups = matched_widths(args)
    rows = _variants(args)
    results: dict[str, dict] = {}
    for r in range(args.rounds):
        for label, cmd, _, _ in rows:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO))
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                print(f"  [{label}] skipped: {last}", file=sys.stderr)
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            if label in results:
                results[label]["wall"] += res["wall"]
                results[label]["cpu"] += res["cpu"]
            else:
                results[label] = res
            print(f"  round {r + 1}/{args.rounds}: {label}: best {min(res['wall']) * 1e3:.0f} ms", file=sys.stderr)
    _print_table(results, rows, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


def _print_table(results: dict[str, dict], rows: list, args: argparse.Namespace) -> None:
    """Wall-clock figures, and the same per CPU-second of the process (robust when other jobs share the cores)."""
    peer_of = {label: peer for label, _, peer, _ in rows}
    peers = [r for k, r in results.items() if peer_of[k] != "ours"]
    best_wall = max((r["flops"] / min(r["wall"]) for r in peers), default=0.0)
    best_cpu = max((r["flops"] / min(r["cpu"]) for r in peers), default=0.0)
    print(f"\nTraining step (fwd + bwd + AdamW), batch {args.batch}, {args.size}x{args.size} RGB, "
          f"{args.threads} thread(s), best of {args.rounds}x{args.steps} steps (median in brackets)")
    head = (f"{'model':36s} {'params':>9s} {'GFLOP':>6s} {'wall ms':>13s} {'img/s':>13s} {'GFLOP/s':>13s} "
            f"{'x peer':>6s} | {'cpu ms':>6s} {'GFLOP/cpu-s':>11s} {'x peer':>6s} {'torch':>7s}")
    print(head)
    print("-" * len(head))
    for label, _, _, _ in rows:
        if label not in results:
            continue
        r = results[label]
        wall, cpu = sorted(r["wall"]), sorted(r["cpu"])
        best, med = wall[0], wall[len(wall) // 2]
        gf = r["flops"] / 1e9
        x_wall = f"{gf / best / (best_wall / 1e9):.2f}" if best_wall else "-"
        x_cpu = f"{gf / cpu[0] / (best_cpu / 1e9):.2f}" if best_cpu else "-"
        print(f"{label:36s} {r['params']:>9,} {gf:>6.1f} {best * 1e3:>5.0f} ({med * 1e3:>5.0f}) "
              f"{args.batch / best:>5.1f} ({args.batch / med:>5.1f}) {gf / best:>5.1f} ({gf / med:>5.1f}) "
              f"{x_wall:>6s} | {cpu[0] * 1e3:>6.0f} {gf / cpu[0]:>11.1f} {x_cpu:>6s} {r['torch'].split('+')[0]:>7s}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--peer", choices=PEERS, help="worker mode: time one model and print one JSON line")
    p.add_argument("--layout", choices=("cl", "nchw"), default="cl", help="memory format (worker mode)")
    p.add_argument("--compile", action="store_true", help="also run our UNet under torch.compile")
    p.add_argument("--preset", default="tiny", help="our UNet preset (default tiny)")
    p.add_argument("--base", type=int, default=None, help="override our base width (parameter matching)")
    p.add_argument("--design", choices=tuple(DESIGNS), default="preset", help="our UNet's design (worker mode)")
    p.add_argument("--designs", action="store_true",
                   help="also run our design points and diffusers at the ConvNeXt design's parameter count")
    p.add_argument("--widths", default="32,64,64", help="diffusers' block_out_channels (worker mode)")
    p.add_argument("--groups", type=int, default=8, help="diffusers' norm_num_groups (worker mode)")
    p.add_argument("--match-params", action="store_true",
                   help="diffusers' widths chosen to match our preset's parameter count (instead of --widths)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=6, help="timed steps per round")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2, help="interleaved repeats of every row")
    p.add_argument("--lucid-python", default=os.environ.get("LUCID_PYTHON", DEFAULT_LUCID_PYTHON),
                   help="interpreter with denoising-diffusion-pytorch installed ('' to skip)")
    p.add_argument("--json", default="", help="also write the raw figures to this file")
    args = p.parse_args(argv)
    if args.peer:
        print(json.dumps(run_worker(args)))
        return 0
    return run_table(args)


if __name__ == "__main__":
    raise SystemExit(main())
