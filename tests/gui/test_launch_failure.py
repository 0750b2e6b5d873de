"""A launch that Qt cannot start says why on stderr (issue 22 N1): Qt's reason, the missing libraries, the log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ddpm_studio.platform_libs import (
    MissingLibraries,
    launch_failure_report,
    missing_libraries,
    parse_ldd,
    platform_plugin_file,
    would_use_xcb,
)

LDD_OUTPUT = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""


def _launch(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    environ.update({"DDPM_STUDIO_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **env})
    return subprocess.run([sys.executable, "-m", "ddpm_studio", "--quit-after", "100"], capture_output=True,
                          text=True, env=environ, timeout=300)


def test_a_platform_qt_cannot_load_is_explained_on_stderr(tmp_path: Path) -> None:
    empty = tmp_path / "plugins"
    empty.mkdir()
    # Qt falls back to its own plugin folder after QT_QPA_PLATFORM_PLUGIN_PATH, so the platform asked for is one
    # that folder lacks too: the empty folder is the only place Qt looks for it.
    done = _launch(tmp_path / "home", QT_QPA_PLATFORM_PLUGIN_PATH=str(empty), QT_PLUGIN_PATH=str(empty),
                   QT_QPA_PLATFORM="nosuchplatform")
    assert done.returncode == 1, done.stderr
    assert "ddpm-studio: error: the window could not open" in done.stderr
    assert f'Could not find the Qt platform plugin "nosuchplatform" in "{empty}"' in done.stderr
    assert "no Qt platform plugin could be initialized" in done.stderr
    assert f"log: {tmp_path / 'home' / 'logs' / 'ddpm-studio.log'}" in done.stderr


def _xcb_plugin() -> Path | None:
    from PySide6.QtCore import QLibraryInfo

    return platform_plugin_file(Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms", "xcb")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb platform is Linux's")
def test_xcb_without_its_libraries_names_them_and_their_packages(tmp_path: Path) -> None:
    plugin = _xcb_plugin()
    missing = missing_libraries(plugin) if plugin is not None else None
    if missing is None or not missing.libraries:
        pytest.skip("this machine has every library of the xcb plugin")
    done = _launch(tmp_path / "home", QT_QPA_PLATFORM="xcb", DISPLAY=":99")
    assert done.returncode == 1, done.stderr
    assert f"libqxcb.so needs libraries this system lacks: {', '.join(missing.libraries)}" in done.stderr
    assert "sudo apt install " + " ".join(missing.packages("debian")) in done.stderr
    assert "xcb-cursor0" not in done.stderr or "libxcb-cursor.so.0" in missing.libraries  # Qt's stray hint is dropped


def test_ldd_output_gives_each_missing_library_once() -> None:
    assert parse_ldd(LDD_OUTPUT) == ("libxcb-icccm.so.4", "libxcb-keysyms.so.1")


def test_the_report_names_packages_for_debian_and_fedora() -> None:
    missing = MissingLibraries(Path("/x/platforms/libqxcb.so"), ("libxcb-icccm.so.4", "libxcb-keysyms.so.1"))
    text = launch_failure_report("This application failed to start", platform="xcb", missing=missing,
                                 log_path=Path("/logs/ddpm-studio.log"))
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in text
    assert "sudo dnf install xcb-util-wm xcb-util-keysyms" in text
    assert "Qt: This application failed to start" in text and "log: /logs/ddpm-studio.log" in text


def test_a_display_means_the_xcb_platform_unless_another_is_chosen() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux's rule")
    assert would_use_xcb({"DISPLAY": ":0"})
    assert not would_use_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"})
    assert not would_use_xcb({})
    assert would_use_xcb({"QT_QPA_PLATFORM": "xcb"})


def test_the_bundle_preflight_gives_the_same_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ddpm_studio import platform_libs

    platforms = tmp_path / "platforms"
    platforms.mkdir()
    (platforms / "libqxcb.so").write_bytes(b"")
    missing = MissingLibraries(platforms / "libqxcb.so", ("libxcb-keysyms.so.1",))
    monkeypatch.setattr(platform_libs, "missing_libraries", lambda plugin: missing)
    text = platform_libs.preflight_report(platforms, log_path=tmp_path / "x.log", environ={"QT_QPA_PLATFORM": "xcb"})
    assert text is not None and "libxcb-keysyms.so.1" in text and "sudo apt install libxcb-keysyms1" in text
    assert platform_libs.preflight_report(platforms, log_path=None, environ={"QT_QPA_PLATFORM": "offscreen"}) is None


def test_the_readme_names_the_xcb_packages_for_debian_and_fedora() -> None:
    from ddpm_studio.platform_libs import XCB_PACKAGES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- xcb-packages -->")[1].split("<!-- /xcb-packages -->")[0]
    for soname, (debian, fedora) in XCB_PACKAGES.items():
        if soname.startswith(("libxcb-", "libxkbcommon-x11")) and fedora != "libxcb":
            assert debian in block and fedora in block, soname
