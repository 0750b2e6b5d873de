"""Benchmark: how long the forward-noising view takes to update when the slider moves.

4 selected images at 128x128 (RGB), T = 1000. For a sweep of slider positions it measures
  update   — slider.setValue(t): q_sample for the batch, to uint8, QImage/QPixmap, labels, curve marker
  frame    — update plus the repaint (processEvents until the window is drawn, offscreen platform)
and the same with a second schedule compared. A 60 Hz frame is 16.7 ms; the target is "well under".

    QT_QPA_PLATFORM=offscreen python bench/forward_update.py [--steps 400]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

import ddpm_studio.gui  # noqa: F401  (guards the PySide6 6.12.0 None-refcount bug before Qt is used)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def measure(app: QApplication, view, steps: int, paint: bool) -> tuple[list[float], list[float]]:
    """Wall-clock and GUI-thread CPU milliseconds per slider move."""
    maximum = view.slider.maximum()
    wall, cpu = [], []
    for k in range(steps):
        t = (k * 37) % (maximum + 1)  # jumps around like a fast drag
        start, start_cpu = time.perf_counter(), time.thread_time()
        view.set_t(t)
        if paint:
            app.processEvents()  # paints what the update dirtied (tiles, label, marker), as the event loop would
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
    return wall, cpu


def report(name: str, times: tuple[list[float], list[float]]) -> None:
    wall, cpu = times
    print(f"{name:<34} wall p50 {statistics.median(wall):6.2f} ms  p99 {percentile(wall, 99):6.2f} ms   |   "
          f"GUI-thread CPU p50 {statistics.median(cpu):6.2f} ms  p99 {percentile(cpu, 99):6.2f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (the GUI default is 1-2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from ddpm_studio.gui.forward.forward_view import ForwardView
    from ddpm_studio.gui.state import AppState

    with tempfile.TemporaryDirectory() as tmp:
        state = AppState(QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat), device="cpu")
        state.set_source("builtin:shapes?n=8&size=128")
        state.set_selection([0, 1, 2, 3])
        view = ForwardView(state)
        view.resize(1300, 800)
        view.size_combo.setCurrentText("128×128")
        view.show()
        deadline = time.monotonic() + 30
        while (view.noiser.x0 is None or view.noiser.x0.shape[-1] != 128) and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        assert view.noiser.x0 is not None and tuple(view.noiser.x0.shape) == (4, 3, 128, 128), "images not loaded"
        print(f"forward view: 4 images 3x128x128, T={view.timesteps_spin.value()}, torch threads={args.threads}, "
              f"platform={app.platformName()}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, "
              f"n={args.steps} slider moves per row")
        measure(app, view, 20, True)  # warm-up
        report("update (one schedule)", measure(app, view, args.steps, False))
        report("update + repaint (one schedule)", measure(app, view, args.steps, True))
        view.compare_check.setChecked(True)
        report("update (two schedules)", measure(app, view, args.steps, False))
        report("update + repaint (two schedules)", measure(app, view, args.steps, True))
        view.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
