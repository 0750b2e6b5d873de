"""How long does the GUI thread stall while the sampler view exports a GIF?

A real SamplerView is filled with a recorded reverse process (synthetic frames: two compared lanes of
`--frames` frames, 16 RGB images of 32x32 each, noise fading into smooth pictures, as a DDPM-vs-DDIM
comparison gives), then `export_gif` is called as the button does, and a 10 ms QTimer heartbeat measures the
longest gap between ticks until the file exists (the export is synchronous in older versions: then the whole
encode is one stall). Prints the export time and the longest / p99 heartbeat gap. A benchmark, not a test.

    QT_QPA_PLATFORM=offscreen nice -n 10 python bench/gui_export_stall.py --frames 250
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DDPM_STUDIO_HOME", tempfile.mkdtemp(prefix="ddpm-bench-"))

import numpy as np
import torch  # noqa: F401  (torch before PySide6, as the app does)
from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication

from ddpm_studio.app.sampling import SampleFrame, SamplingPlan
from ddpm_studio.gui.sampler.sampler_view import SamplerView
from ddpm_studio.gui.state import AppState

HEARTBEAT_MS = 10


def recorded_frames(frames: int, lanes: int = 2, count: int = 16, size: int = 32) -> list[SampleFrame]:
    """Frames of `lanes` lanes: x_t blends fixed noise into smooth pictures as the step index grows."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    pictures = np.stack([np.stack([np.sin(6 * xx * (i + 1) / count + c) * np.cos(4 * yy + i) for c in range(3)], -1)
                         for i in range(count)])  # (B, H, W, 3) in [-1, 1]
    noise = rng.standard_normal(pictures.shape)
    out = []
    for lane in range(lanes):
        for k in range(frames):
            a = (k + 1) / frames
            xt = np.clip(a * pictures + (1 - a) * noise, -1, 1)
            x0 = np.clip(pictures + (1 - a) * 0.3 * noise, -1, 1)
            as_u8 = [((v + 1) * 127.5).astype(np.uint8) for v in (xt, x0)]
            out.append(SampleFrame(lane, k, k, frames, int(1000 * (1 - a)), as_u8[0], as_u8[1]))
    return out


def wait(app: QApplication, done, timeout_s: float) -> None:
    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(lambda: loop.quit() if done() else None)
    poll.start(5)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    poll.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=250, help="frames per lane (default 250, the view's maximum)")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        view = SamplerView(AppState(QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat), device="cpu"))
        view.resize(1280, 760)
        view.show()
        frames = recorded_frames(args.frames)
        view._runner.planned.emit(SamplingPlan(("DDPM", "DDIM"), (args.frames, args.frames), (args.frames,) * 2))
        for frame in frames:
            view._runner.frame.emit(frame)
        view._runner.finished.emit("completed")
        app.processEvents()
        path = Path(tmp) / "anim.gif"
        clock, gaps, last = QElapsedTimer(), [], [0]
        clock.start()

        def tick() -> None:
            now = clock.nsecsElapsed()
            gaps.append((now - last[0]) / 1e6)
            last[0] = now

        heart = QTimer()
        heart.setTimerType(Qt.TimerType.PreciseTimer)
        heart.timeout.connect(tick)
        last[0] = clock.nsecsElapsed()
        heart.start(HEARTBEAT_MS)
        started = time.perf_counter()
        QTimer.singleShot(0, lambda: view.export_gif(path))  # as the button's click does, from the event loop
        wait(app, lambda: path.exists() and not getattr(view, "is_exporting", lambda: False)(), timeout_s=600)
        took = time.perf_counter() - started
        heart.stop()
        size_kb = path.stat().st_size // 1024 if path.exists() else 0
        view.shutdown(10.0)
    gaps_ms = np.asarray(gaps or [0.0])  # the first gap counts: a synchronous export stalls before any tick
    print(f"GIF of {args.frames} frames x 2 lanes: {took:.1f} s, {size_kb} KB; GUI-thread heartbeat "
          f"({HEARTBEAT_MS} ms): longest gap {gaps_ms.max():.0f} ms, p99 {np.percentile(gaps_ms, 99):.0f} ms, "
          f"{len(gaps_ms)} ticks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
