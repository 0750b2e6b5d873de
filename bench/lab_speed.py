"""The 2-D lab's speed: seconds of training to reach the data-vs-data floor, and the view's frame rate while it trains.

1. Training (one thread, the default lab: two moons, 2,000 points, PointMLP 64×3, T = 200, v, cosine, batch 256):
   train in chunks of 100 steps (only training is timed); after each chunk sample 500 points with
   DPM-Solver++(2M) at 20 NFE from a fixed x_T and measure their SWD to the data (``Lab.distance``) against
   the data-vs-data floor (``Lab.floor``, two disjoint 500-point halves). Prints the training seconds at which
   the distance first falls within 2× and 1.5× the floor (the issue's target: <= 20 s).
2. Frame rate: the real LabView (offscreen) trains in its worker (one thread) while a 60 Hz timer on the GUI
   thread moves the t slider and repaints the forward plot (cloud + field) each tick; frames per second =
   repaints done / wall seconds, and the p99 lateness of the ticks (as bench/gui_latency.py measures). With
   ``--twin objective=eps`` the right lane samples a second model that trains alongside (twice the work).

A benchmark, not a test: it never fails on timing. On a shared machine, repeat and compare within a run.

    QT_QPA_PLATFORM=offscreen python bench/lab_speed.py [--budget 60] [--seconds 10] [--points 5000] [--twin ...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DDPM_STUDIO_HOME", tempfile.mkdtemp(prefix="ddpm-bench-"))

import numpy as np
import torch

from ddpm_studio.app.lab import Lab, LabConfig, SamplerChoice

FACTORS = (2.0, 1.5)


def training_speed(budget_s: float, chunk: int = 100) -> dict[float, tuple[int, float] | None]:
    torch.set_num_threads(1)
    lab = Lab(LabConfig())
    floor = lab.floor(500)
    x_T = lab.x_T(500, seed=0)
    lab.train(1)  # the optimiser's first step imports torch._dynamo (seconds, once per process): not training
    lab.reset()
    reached: dict[float, tuple[int, float] | None] = dict.fromkeys(FACTORS)
    trained_s = 0.0
    print(f"floor (data vs data) SWD {floor:.4f}")
    print(f"{'step':>6} {'train s':>8} {'loss':>7} {'SWD':>7} {'x floor':>8}")
    while trained_s < budget_s and any(v is None for v in reached.values()):
        start = time.perf_counter()
        lab.train(chunk, every=chunk)
        trained_s += time.perf_counter() - start
        samples = lab.trajectories(SamplerChoice("dpmpp_2m", 20), count=500, x_T=x_T).samples
        ratio = lab.distance(samples) / floor
        print(f"{lab.step:>6} {trained_s:>8.1f} {lab.history[-1].loss:>7.4f} {ratio * floor:>7.4f} {ratio:>8.2f}")
        for factor in FACTORS:
            if reached[factor] is None and ratio <= factor:
                reached[factor] = (lab.step, trained_s)
    return reached


def frame_rate(seconds: float, points: int, twin: str | None = None) -> tuple[float, float, int]:
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from ddpm_studio.gui.lab import LabView
    from ddpm_studio.gui.state import AppState

    app = QApplication.instance() or QApplication([])
    state = AppState(settings=QSettings(os.path.join(tempfile.mkdtemp(), "s.ini"), QSettings.Format.IniFormat))
    view = LabView(state)
    view.resize(1400, 620)
    view.show()
    view.points.setValue(points)
    view.steps.setValue(1_000_000)
    if twin:  # the right lane samples a second model trained alongside (two models in the worker)
        view.twin.setCurrentIndex(view.twin.findData(twin))
    view.reopen()
    while view.running:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    view.train()
    clock, ticks, lateness, frames = QElapsedTimer(), [0], [], [0]

    def tick() -> None:
        now = clock.nsecsElapsed()
        lateness.append((now - ticks[0]) / 1e6 - 1000 / 60)
        ticks[0] = now
        slider = view.t_slider
        slider.setValue((slider.value() + 1) % (slider.maximum() + 1))
        view.forward_plot.repaint()
        frames[0] += 1

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(round(1000 / 60))
    timer.timeout.connect(tick)
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    clock.start()
    ticks[0] = clock.nsecsElapsed()
    timer.start()
    loop.exec()
    timer.stop()
    wall = clock.nsecsElapsed() / 1e9
    step = view._step
    view.shutdown(10.0)
    p99 = float(np.percentile(np.maximum(lateness[1:], 0), 99)) if len(lateness) > 1 else float("nan")
    return frames[0] / wall, p99, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="training seconds at most")
    parser.add_argument("--seconds", type=float, default=10.0, help="frame-rate measurement length")
    parser.add_argument("--points", type=int, default=5000, help="points in the view for the frame rate")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--twin", default=None, help="e.g. objective=eps: the view trains a second model alongside")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if not args.skip_training:
        for factor, hit in training_speed(args.budget).items():
            text = f"step {hit[0]}, {hit[1]:.1f} s of training" if hit else f"not within {args.budget:.0f} s"
            print(f"within {factor:g}x the floor: {text}")
    fps, p99, steps = frame_rate(args.seconds, args.points, args.twin)
    both = f", and a twin ({args.twin})" if args.twin else ""
    print(f"view while training ({args.points} points{both}): {fps:.1f} frames/s, tick lateness p99 {p99:.1f} ms, "
          f"{steps} training steps meanwhile")


if __name__ == "__main__":
    main()
