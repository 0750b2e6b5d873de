"""Why Qt's platform plugin will not load: the system libraries it lacks, and the message a user reads.

Qt's own explanation of a platform failure ("Could not load the Qt platform plugin "xcb" ... even though it was
found") does not say which library is missing, and Qt >= 6.5 adds a hint about `xcb-cursor0` even when that one is
installed. This module asks the plugin itself: `ldd` on its file lists every dependency the loader cannot find
(the loader's own error, from `ctypes`, when `ldd` is absent). Qt-free (no PySide6 import), so the GUI's fatal
message handler, the self-test and the packaged bundle's launcher (before Qt loads) give the same message.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The xcb platform's system libraries, by soname: (Debian/Ubuntu package, Fedora package).
XCB_PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)
_DLERROR = re.compile(r"(\S+\.so[.\d]*): cannot open shared object file")


@dataclass(frozen=True)
class MissingLibraries:
    """What the loader cannot find for one plugin file, and the packages that provide it."""

    plugin: Path
    libraries: tuple[str, ...]  # sonames, in the order the loader reported them
    loader_error: str = ""  # the dynamic loader's message when ldd was not available

    def packages(self, family: str) -> list[str]:
        """The system packages ("debian" or "fedora") that provide the missing libraries, known ones only."""
        column = 0 if family == "debian" else 1
        found = [XCB_PACKAGES[lib][column] for lib in self.libraries if lib in XCB_PACKAGES]
        return list(dict.fromkeys(found))


def parse_ldd(output: str) -> tuple[str, ...]:
    """The sonames `ldd` reports as "not found", each once, in order."""
    return tuple(dict.fromkeys(_NOT_FOUND.findall(output)))


def missing_libraries(plugin: Path) -> MissingLibraries:
    """Ask the loader which of `plugin`'s dependencies are missing: `ldd`, else a trial `dlopen`."""
    ldd = shutil.which("ldd")
    if ldd is not None and sys.platform.startswith("linux"):
        try:
            done = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20, check=False)
        except (OSError, subprocess.SubprocessError):
            pass
        else:
            return MissingLibraries(plugin, parse_ldd(done.stdout))
    try:
        ctypes.CDLL(str(plugin))
    except OSError as error:
        return MissingLibraries(plugin, tuple(_DLERROR.findall(str(error))), loader_error=str(error))
    return MissingLibraries(plugin, ())


def platform_plugin_file(platforms_dir: Path, platform: str) -> Path | None:
    """The file of platform plugin `platform` ("xcb") in a folder of platform plugins, or None."""
    folder = platforms_dir
    for name in (f"libq{platform}.so", f"qq{platform}.dll", f"libq{platform}.dylib"):
        if (folder / name).is_file():
            return folder / name
    return None


def would_use_xcb(environ: os._Environ | dict[str, str] | None = None) -> bool:
    """Whether a launch here would ask Qt for the xcb platform (Linux, X display, no other platform chosen)."""
    env = os.environ if environ is None else environ
    chosen = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if chosen:
        return chosen == "xcb"
    return sys.platform.startswith("linux") and bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def install_hint(missing: MissingLibraries) -> list[str]:
    """Lines saying which packages to install on Debian/Ubuntu and Fedora (empty when none is known)."""
    debian, fedora = missing.packages("debian"), missing.packages("fedora")
    if not debian:
        return []
    return [f"  Debian/Ubuntu: sudo apt install {' '.join(debian)}",
            f"  Fedora:        sudo dnf install {' '.join(fedora)}"]


def launch_failure_report(reason: str, *, platform: str | None, missing: MissingLibraries | None,
                          log_path: Path | None) -> str:
    """The message a failed launch prints on stderr: Qt's reason, the missing libraries, the fix, the log."""
    lines = ["ddpm-studio: error: the window could not open: Qt's platform plugin"
             + (f" {platform!r}" if platform else "") + " did not start."]
    lines += [f"  Qt: {line}" for line in reason.strip().splitlines() if line.strip()]
    if missing is not None and missing.libraries:
        lines.append(f"  {missing.plugin.name} needs libraries this system lacks: {', '.join(missing.libraries)}")
        lines += install_hint(missing)
    elif missing is not None and missing.loader_error:
        lines.append(f"  the loader says: {missing.loader_error}")
    elif missing is not None:
        lines.append(f"  {missing.plugin.name} finds all its libraries; check DISPLAY / the X server "
                     "(or set QT_QPA_PLATFORM=offscreen for headless use)")
    lines.append("  the headless commands work without a display: ddpm-studio --help")
    lines.append(f"  log: {log_path}" if log_path is not None else "  log: none (the log folder is not writable)")
    return "\n".join(lines)


def preflight_report(platforms_dir: Path, *, log_path: Path | None,
                     environ: os._Environ | dict[str, str] | None = None) -> str | None:
    """Before Qt starts (the packaged bundle's launcher): the launch failure report if this launch would use the
    xcb plugin in `platforms_dir` and that plugin lacks system libraries, else None."""
    if not would_use_xcb(environ):
        return None
    plugin = platform_plugin_file(platforms_dir, "xcb")
    if plugin is None:
        return None  # Qt's own message says which plugins there are
    missing = missing_libraries(plugin)
    if not (missing.libraries or missing.loader_error):
        return None
    reason = "(checked before starting Qt) the xcb platform plugin cannot be loaded"
    return launch_failure_report(reason, platform="xcb", missing=missing, log_path=log_path)
