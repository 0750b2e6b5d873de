"""PyInstaller entry script for the frozen DDPM Studio (packaging/ddpm-studio.spec).

It hands over to `ddpm_studio.__main__.main`, which calls `multiprocessing.freeze_support()` before anything
else (needed by frozen builds whose code starts worker processes), then opens the app, runs `--self-test`, or
runs a headless CLI subcommand. On Linux, before the window opens, it checks that the bundled xcb platform plugin
finds the system libraries it needs (they are not bundled: libxcb-icccm4, libxcb-keysyms1, libxcb-cursor0, ...)
and, if not, prints the same message a failed launch prints (`ddpm_studio.platform_libs`) and exits 1.
"""

import sys
from pathlib import Path

from ddpm_studio.__main__ import main


def _platform_check() -> int | None:
    """1 with the report on stderr when the bundle's xcb plugin lacks system libraries, else None."""
    from ddpm_studio.__main__ import _is_command_line

    root = getattr(sys, "_MEIPASS", None)
    if root is None or not sys.platform.startswith("linux") or _is_command_line(sys.argv[1:]) \
            or "--self-test" in sys.argv[1:]:
        return None
    from ddpm_studio import paths
    from ddpm_studio.app.logs import LOG_FILE_NAME
    from ddpm_studio.platform_libs import preflight_report

    report = preflight_report(Path(root) / "PySide6" / "Qt" / "plugins" / "platforms",
                              log_path=paths.log_dir() / LOG_FILE_NAME)
    if report is None:
        return None
    sys.stderr.write(report + "\n")
    return 1


if __name__ == "__main__":
    code = _platform_check()
    sys.exit(main() if code is None else code)
