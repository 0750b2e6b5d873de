"""The `ddpm-studio` command line: the parser of every command, and `main(argv)` with its exit statuses."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from ddpm_studio.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, PROG
from ddpm_studio.cli.noise import add_noise
from ddpm_studio.cli.runs import add_runs
from ddpm_studio.cli.sample import add_export, add_sample
from ddpm_studio.cli.train import add_train
from ddpm_studio.data import DataLoadCancelled, DataSourceError, ImageDecodeError
from ddpm_studio.training.checkpoint import CheckpointError
from ddpm_studio.training.runs import RunError

USER_ERRORS = (CheckpointError, RunError, DataSourceError, DataLoadCancelled, ImageDecodeError, ValueError, OSError)


def build_parser() -> argparse.ArgumentParser:
    """The parser of `ddpm-studio` with one subcommand per module of this package."""
    parser = argparse.ArgumentParser(prog=PROG, description="Denoising diffusion models, headless.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train(sub)
    add_sample(sub)
    add_noise(sub)
    add_runs(sub)
    add_export(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    text = getattr(exc, "reason", None) if isinstance(exc, ImageDecodeError) and not str(exc) else str(exc)
    lines = (text or type(exc).__name__).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 error, 2 bad arguments, 130 interrupted)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except USER_ERRORS as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
