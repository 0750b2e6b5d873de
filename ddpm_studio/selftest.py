"""`ddpm-studio --self-test`: prove an installation works, headless, in a few seconds.

It starts the Qt application on the platform a real launch would use when a display is set (Linux: xcb with
DISPLAY, after checking that the xcb plugin finds its system libraries), else offscreen, builds and shows the
main window, loads the shipped demo checkpoint, samples one image with DDIM (Song et al. 2021, eq. 12 with
eta = 0, a few steps) and checks that image: finite, inside the data range [-1, 1] (with a small tolerance),
and not constant.
One line is printed per check; the exit code is 0 when all pass, else 1 with the reason on the
failing line. The frozen (PyInstaller) build runs the same code, so a packager can smoke-test the
bundle with `dist/ddpm-studio/ddpm-studio --self-test`.

Nothing is written to the user's folders: `DDPM_STUDIO_HOME` and the Qt settings point into a
temporary folder for the run (unless `DDPM_STUDIO_HOME` is already set).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

VALUE_TOLERANCE = 1e-3  # the sample may exceed [-1, 1] by this much (float rounding)
MIN_STD = 1e-3  # a sample whose pixels vary less than this is a constant image, i.e. broken


class SelfTestError(Exception):
    """A failed check; the message is the one-line reason printed for it."""


@dataclass
class Context:
    """What the checks hand to each other: the app, the model and the sample."""

    steps: int
    seed: int
    checkpoint: Path | None
    workdir: Path
    log_path: Path | None = None
    app: object = None
    model: object = None
    diffusion: object = None
    run_config: object = None
    sample: object = None


def _configure_environment(workdir: Path) -> None:
    """Qt's platform and a throw-away data folder, set before Qt or the app is imported: the platform a real
    launch would use when there is a display (a self-test that passes offscreen proved nothing about the window
    a user opens, issue 22 N1), else offscreen."""
    if not _has_display(os.environ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("DDPM_STUDIO_HOME", str(workdir / "home"))


def _has_display(environ: os._Environ | dict[str, str]) -> bool:
    """A Linux X or Wayland display is set (Windows and macOS keep the offscreen test)."""
    return sys.platform.startswith("linux") and bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def check_platform(ctx: Context) -> str:
    """The platform plugin Qt will load finds its system libraries (the xcb plugin's are often missing)."""
    from ddpm_studio.platform_libs import install_hint, missing_libraries, platform_plugin_file, would_use_xcb

    chosen = os.environ.get("QT_QPA_PLATFORM") or "the system's"
    if not would_use_xcb():
        return f"platform {chosen}: no system libraries to check"
    from PySide6.QtCore import QLibraryInfo

    plugin = platform_plugin_file(Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms", "xcb")
    if plugin is None:
        raise SelfTestError("Qt's xcb platform plugin (platforms/libqxcb.so) is not installed")
    missing = missing_libraries(plugin)
    if missing.libraries or missing.loader_error:
        hint = "; ".join(" ".join(line.split()) for line in install_hint(missing))
        raise SelfTestError(f"{plugin.name} needs libraries this system lacks: "
                            f"{', '.join(missing.libraries) or missing.loader_error}" + (f"; {hint}" if hint else ""))
    return f"xcb: {plugin.name} finds all its libraries"


def check_environment(ctx: Context) -> str:
    """Python, torch and Qt import, and torch before PySide6 (see gui/application.py)."""
    import PySide6
    import torch

    frozen = "frozen" if getattr(sys, "frozen", False) else "source"
    return (f"Python {platform.python_version()}, torch {torch.__version__}, "
            f"PySide6 {PySide6.__version__}, {platform.system()} {platform.machine()}, {frozen}")


def check_qt(ctx: Context) -> str:
    """A QApplication starts on the platform plugin (the display's, else offscreen), with the app icon."""
    from PySide6.QtCore import QSettings

    from ddpm_studio.gui import launch_failure
    from ddpm_studio.gui.application import create_application, install_qt_message_handler, setup_logging

    ctx.log_path = setup_logging("INFO")  # under DDPM_STUDIO_HOME: Qt warnings stay off the report
    launch_failure.set_log_path(ctx.log_path)  # a fatal platform failure still prints its reason (N1)
    install_qt_message_handler()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(ctx.workdir / "settings"))
    ctx.app = app = create_application([])
    if app.windowIcon().isNull():
        raise SelfTestError("the application icon (resources/icons) did not load")
    return f"platform {app.platformName()!r}, Qt {_qt_version()}"


def _qt_version() -> str:
    from PySide6.QtCore import qVersion

    return qVersion()


def _wait(ms: int) -> None:
    """Run the Qt event loop for `ms` milliseconds (not from inside a callback)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere): the cold-start figure."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        start = boot + int(stat[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime, in clock ticks
    except (OSError, ValueError, IndexError, StopIteration, AttributeError):
        return None
    return time.time() - start


def check_window(ctx: Context) -> str:
    """The main window builds, shows and survives a moment of its event loop."""
    from PySide6.QtCore import QSettings

    from ddpm_studio.gui.main_window import MainWindow
    from ddpm_studio.gui.state import AppState

    settings = QSettings(str(ctx.workdir / "settings" / "selftest.ini"), QSettings.Format.IniFormat)
    state = AppState(settings)
    window = MainWindow(state, log_path=ctx.log_path)
    window.show()
    _wait(1)  # one turn of the event loop: the window is laid out and painted
    age = process_age()
    _wait(300)
    if not window.isVisible():
        raise SelfTestError("the main window did not stay visible")
    size = window.size()
    title = window.windowTitle()
    window.close()
    window.deleteLater()  # torn down now, while Qt's messages still go to the log
    _wait(50)
    shown = f", shown {age:.2f} s after process start" if age is not None else ""
    return f"{title!r}, {size.width()}x{size.height()}{shown}"


def check_checkpoint(ctx: Context) -> str:
    """The demo checkpoint (or --checkpoint) loads into a model without executing code."""
    from ddpm_studio import paths
    from ddpm_studio.training import load_model

    path = ctx.checkpoint or paths.demo_checkpoint_dir()
    if not path.exists():
        raise SelfTestError(f"no checkpoint at {path}")
    ctx.model, ctx.diffusion, ctx.run_config = load_model(path, device="cpu")
    params = sum(p.numel() for p in ctx.model.parameters())  # type: ignore[attr-defined]
    data = ctx.run_config.data  # type: ignore[attr-defined]
    return f"{path.name}: {params / 1e6:.2f} M parameters, {data.channels}x{data.image_size}x{data.image_size}"


def check_sample(ctx: Context) -> str:
    """One DDIM sample from a fixed seed; the last step's x_t is the image."""
    from ddpm_studio.engine import SamplingConfig, sample

    data = ctx.run_config.data  # type: ignore[attr-defined]
    shape = (1, data.channels, data.image_size, data.image_size)  # (B, C, H, W)
    config = SamplingConfig(method="ddim", steps=ctx.steps, eta=0.0, seed=ctx.seed, count=1)
    last = None
    count = 0
    for step in sample(ctx.model, ctx.diffusion, shape, config):
        last = step
        count += 1
    if last is None:
        raise SelfTestError("the DDIM sampler yielded no steps")
    if count != ctx.steps:
        raise SelfTestError(f"the DDIM sampler yielded {count} steps, expected {ctx.steps}")
    ctx.sample = last.xt
    return f"{count} DDIM steps, shape {tuple(last.xt.shape)}"


def check_image(ctx: Context) -> str:
    """The sample is finite, inside [-1, 1] and has non-trivial variance."""
    import torch

    x = ctx.sample
    assert isinstance(x, torch.Tensor)
    if not torch.isfinite(x).all():
        raise SelfTestError(f"{int((~torch.isfinite(x)).sum())} non-finite pixel values")
    lo, hi, std = float(x.min()), float(x.max()), float(x.float().std())
    if lo < -1 - VALUE_TOLERANCE or hi > 1 + VALUE_TOLERANCE:
        raise SelfTestError(f"values outside [-1, 1]: min {lo:.3f}, max {hi:.3f}")
    if not math.isfinite(std) or std < MIN_STD:
        raise SelfTestError(f"the image is constant (std {std:.2e})")
    return f"min {lo:+.3f}, max {hi:+.3f}, std {std:.3f}"


CHECKS: tuple[tuple[str, Callable[[Context], str]], ...] = (
    ("environment", check_environment),
    ("platform", check_platform),
    ("qt", check_qt),
    ("window", check_window),
    ("checkpoint", check_checkpoint),
    ("sample", check_sample),
    ("image", check_image),
)


def run_checks(ctx: Context, checks: Sequence[tuple[str, Callable[[Context], str]]] = CHECKS,
               out: Callable[[str], None] = print) -> int:
    """Run the checks in order, one line each; stop at the first failure. Returns the exit code."""
    width = max(len(name) for name, _ in checks)
    start = time.perf_counter()
    for name, check in checks:
        t0 = time.perf_counter()
        try:
            detail = check(ctx)
        except SelfTestError as exc:
            out(f"FAIL {name:<{width}}  {exc}")
            return 1
        except Exception as exc:  # noqa: BLE001 - an unexpected failure is still one line, with its type
            out(f"FAIL {name:<{width}}  {type(exc).__name__}: {exc}")
            return 1
        out(f"ok   {name:<{width}}  {detail} ({time.perf_counter() - t0:.2f} s)")
    out(f"self-test passed in {time.perf_counter() - start:.2f} s")
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The self-test's own options."""
    parser = argparse.ArgumentParser(prog="ddpm-studio --self-test", description="check this installation")
    parser.add_argument("--steps", type=int, default=10, help="DDIM steps for the test sample (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test sample's noise")
    parser.add_argument("--checkpoint", type=Path, default=None, help="test this run/checkpoint, not the demo")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the self-test; 0 when every check passes, 1 otherwise."""
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    with tempfile.TemporaryDirectory(prefix="ddpm-studio-selftest-", ignore_cleanup_errors=True) as tmp:
        workdir = Path(tmp)
        _configure_environment(workdir)
        ctx = Context(steps=args.steps, seed=args.seed, checkpoint=args.checkpoint, workdir=workdir)
        code = run_checks(ctx, out=lambda line: print(line, flush=True))
        ctx.app = ctx.model = None
        return code


if __name__ == "__main__":
    sys.exit(main())
