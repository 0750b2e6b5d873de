"""Entry point: `ddpm-studio` with no arguments opens the app, with a subcommand runs headless."""

from __future__ import annotations

import multiprocessing
import sys

CLI_GLOBAL_FLAGS = ("-v", "--verbose")  # the command line's own flags, allowed before the command
CLI_ONLY_FLAGS = ("-h", "--help", "--version")


def _is_command_line(args: list[str]) -> bool:
    """A command (its name after any global flags: `ddpm-studio -v runs`) or --help/--version goes to the command
    line; no arguments, or the app's own flags (--reset-settings, --source, ...), open the app."""
    rest = list(args)
    while rest and rest[0] in CLI_GLOBAL_FLAGS:
        rest.pop(0)
    if len(rest) < len(args):
        return True  # a global flag of the command line: the CLI parser reads the rest (or says what is missing)
    return bool(rest) and (not rest[0].startswith("-") or rest[0] in CLI_ONLY_FLAGS)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the GUI, the self-test or the headless CLI."""
    multiprocessing.freeze_support()  # first, for the frozen (PyInstaller) build
    args = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in args:
        from ddpm_studio.selftest import main as selftest_main

        return selftest_main([a for a in args if a != "--self-test"])
    if not _is_command_line(args):
        from ddpm_studio.gui.application import main as gui_main

        return gui_main(args)
    from ddpm_studio.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
