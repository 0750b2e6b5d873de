"""Entry point: `ddpm-studio` with no arguments opens the app, with a subcommand runs headless."""

from __future__ import annotations

import multiprocessing
import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the GUI, the self-test or the headless CLI."""
    multiprocessing.freeze_support()  # first, for the frozen (PyInstaller) build
    args = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in args:
        from ddpm_studio.selftest import main as selftest_main

        return selftest_main([a for a in args if a != "--self-test"])
    if not args or args[0].startswith("-") and args[0] not in ("-h", "--help", "--version"):
        from ddpm_studio.gui.app import main as gui_main

        return gui_main(args)
    from ddpm_studio.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
