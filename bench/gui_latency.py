"""How late does a 10 ms QTimer fire while a training run works in the TrainingPanel's worker thread?

The interface is responsive when the GUI thread's event loop keeps its appointments. This bench shows a
real TrainingPanel (live loss plot, bucket plot, filmstrip), starts CPU training of the tiny UNet in its
QThread worker (torch.set_num_threads(cores - 1) there), and measures the lateness of every tick of a
10 ms precise QTimer: lateness = (actual interval) - 10 ms. It prints p50 / p99 / max for an idle baseline
and during training. Goal: p99 < 50 ms. A benchmark, not a test: it never fails on timing.

    QT_QPA_PLATFORM=offscreen python bench/gui_latency.py --seconds 20
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DDPM_STUDIO_HOME", tempfile.mkdtemp(prefix="ddpm-bench-"))

import numpy as np
import torch  # noqa: F401  (torch before PySide6, as the app does)
from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication

from ddpm_studio.gui.state import AppState
from ddpm_studio.gui.training.panel import TrainingPanel

INTERVAL_MS = 10


def measure(app: QApplication, seconds: float) -> np.ndarray:
    """Lateness (ms) of each tick of a 10 ms PreciseTimer over `seconds`, the event loop running."""
    clock = QElapsedTimer()
    lateness: list[float] = []
    last = [0]

    def tick() -> None:
        now = clock.nsecsElapsed()
        lateness.append((now - last[0]) / 1e6 - INTERVAL_MS)
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(INTERVAL_MS)
    timer.timeout.connect(tick)
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    clock.start()
    last[0] = clock.nsecsElapsed()
    timer.start()
    loop.exec()
    timer.stop()
    return np.maximum(np.asarray(lateness[1:]), 0.0)


def summary(name: str, lateness: np.ndarray) -> str:
    p50, p99 = np.percentile(lateness, [50, 99]) if lateness.size else (float("nan"),) * 2
    worst = lateness.max() if lateness.size else float("nan")
    return f"{name:<22} ticks {lateness.size:5d}   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   max {worst:7.2f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement time during training")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args(argv)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(os.path.join(os.environ["DDPM_STUDIO_HOME"], "bench.ini"), QSettings.Format.IniFormat)
    panel = TrainingPanel(AppState(settings=settings, device="cpu"))
    panel.resize(1300, 850)
    panel.show()
    f = panel.form
    f.source.setText("builtin:shapes?n=512")
    f.image_size.setCurrentIndex(f.image_size.findData(str(args.image_size)))
    f.batch.setValue(args.batch)
    f.length.setValue(1_000_000)
    f.device.setCurrentIndex(f.device.findData("cpu"))
    f.preview_count.setValue(16)

    print(f"cores {os.cpu_count()}, torch threads in the worker {max(1, (os.cpu_count() or 2) - 1)}")
    idle = measure(app, min(5.0, args.seconds))
    print(summary("idle (no training)", idle))

    panel.start()
    started = time.monotonic()
    while panel.step_count() < 2 and time.monotonic() - started < 300:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    step0, t0 = panel.step_count(), time.monotonic()
    busy = measure(app, args.seconds)
    steps = panel.step_count() - step0
    rate = steps / (time.monotonic() - t0)
    print(summary("during CPU training", busy))
    print(f"training went on meanwhile: {steps} steps ({rate:.2f} steps/s, batch {args.batch}, "
          f"{args.image_size}x{args.image_size}), {panel.filmstrip.count()} previews, "
          f"{panel.loss_plot.point_count()} loss points")
    t_stop = time.monotonic()
    panel.shutdown(30.0)
    print(f"shutdown (stop + checkpoint + join): {time.monotonic() - t_stop:.2f} s, busy after: {panel.is_busy()}")
    goal = np.percentile(busy, 99) < 50 if busy.size else False
    print("goal p99 < 50 ms:", "met" if goal else "NOT met")
    panel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
