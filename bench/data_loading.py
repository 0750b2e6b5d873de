"""Data loading throughput: decoding a folder of 128x128 JPEGs into the cache, then epochs from the cache.

Run: python bench/data_loading.py [--count 1000] [--size 64] [--workers 1 2 4]
Prints images/s; never fails on timing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ddpm_studio.data import DataConfig, ImageDataset, open_source


def make_jpegs(folder: Path, count: int, side: int = 128, seed: int = 0) -> None:
    """Smooth random colour fields (cheap to make, realistic JPEG payloads ~5-10 KB)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC)
        image.save(folder / f"img_{i:05d}.jpg", quality=90)


def timed(fn, repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="JPEGs to generate")
    parser.add_argument("--size", type=int, default=64, help="training image size")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="decode threads to try")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_jpegs(folder, args.count)
        mb = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        print(f"{args.count} JPEGs 128x128, {mb:.1f} MiB on disk -> cache at {args.size}x{args.size}")
        config = DataConfig(source=str(folder), image_size=args.size, hflip=True)
        dataset = None
        for workers in args.workers:
            start = time.perf_counter()
            dataset = ImageDataset(open_source(folder), config, workers=workers)
            seconds = time.perf_counter() - start
            print(f"decode + resize into cache, {workers} thread(s): {args.count / seconds:8.0f} images/s")
        assert dataset is not None

        n = len(dataset)
        seconds = timed(lambda: [dataset[i] for i in range(n)], repeat=3)
        print(f"epoch via __getitem__ (flip, scale):        {n / seconds:8.0f} images/s")
        order = torch.randperm(n)
        seconds = timed(lambda: [dataset.batch(order[i:i + args.batch]) for i in range(0, n, args.batch)], 3)
        print(f"epoch via batch({args.batch}) (vectorised):        {n / seconds:8.0f} images/s")
        loader = DataLoader(dataset, batch_size=args.batch, shuffle=True, num_workers=0)
        seconds = timed(lambda: [b for b in loader], repeat=3)
        print(f"epoch via DataLoader(batch={args.batch}, workers=0): {n / seconds:8.0f} images/s")
        print(f"cache: {dataset.cache.numel() / 2**20:.1f} MiB uint8 {tuple(dataset.cache.shape)}")

    for spec in ("builtin:shapes?n=1000", "builtin:glyphs?n=1000"):
        start = time.perf_counter()
        built = ImageDataset(open_source(spec), DataConfig(source=spec, image_size=32))
        print(f"{spec}: generated into cache at {len(built) / (time.perf_counter() - start):8.0f} images/s")


if __name__ == "__main__":
    main()
