"""The `ddpm-studio` command line: the parser of every command, and `main(argv)` with its exit statuses.

`main` sets up the log file (the same one the app writes, `app/logs.py`), runs the command, and turns whatever
it raises into one line on stderr (`errors.report`); the traceback goes to the log file only.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

import ddpm_studio
from ddpm_studio import paths
from ddpm_studio.app.logs import LOG_FILE_NAME, remove_handlers, setup_logging
from ddpm_studio.cli.common import EXIT_USAGE, PROG, check_runs_dir
from ddpm_studio.cli.ema_sweep import add_ema_sweep
from ddpm_studio.cli.errors import report
from ddpm_studio.cli.eval import add_eval
from ddpm_studio.cli.inpaint import add_inpaint
from ddpm_studio.cli.lab import add_lab
from ddpm_studio.cli.losses import add_losses
from ddpm_studio.cli.noise import add_noise
from ddpm_studio.cli.probe import add_probe
from ddpm_studio.cli.runs import add_runs
from ddpm_studio.cli.sample import add_export, add_sample
from ddpm_studio.cli.sweep import add_sweep
from ddpm_studio.cli.train import add_train

log = logging.getLogger("ddpm_studio.cli")

# the app's own flags (gui/application.py, selftest.py): `ddpm-studio` with no command opens the app
APP_FLAGS_HELP = """\
without a command, ddpm-studio opens the app:
  ddpm-studio [--reset-settings] [--source SOURCE] [--log-level LEVEL]
  --reset-settings      forget the window layout, recent items and settings
  --source SOURCE       open this folder, .zip or builtin:<name> at start
  --log-level LEVEL     DEBUG, INFO, WARNING or ERROR (the log file's level)
  --self-test           check this installation (the bundled GUI stack, torch, a tiny training) and exit

runs live in the user data folder ($DDPM_STUDIO_HOME/runs if set); train, sample, runs and export take
--runs-dir DIR to use another folder. Both the app and the commands log to {log_file}
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of `ddpm-studio` with one subcommand per module of this package."""
    epilog = APP_FLAGS_HELP.format(log_file=paths.log_dir() / LOG_FILE_NAME)
    parser = argparse.ArgumentParser(prog=PROG, description="Denoising diffusion models, headless.", epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details on stderr")
    parser.add_argument("--version", action="version", version=f"%(prog)s {ddpm_studio.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train(sub)
    add_sample(sub)
    add_noise(sub)
    add_runs(sub)
    add_export(sub)
    add_sweep(sub)
    add_ema_sweep(sub)
    add_probe(sub)
    add_inpaint(sub)
    add_eval(sub)
    add_lab(sub)
    add_losses(sub)
    for command in sub.choices.values():  # -v also after the command: `ddpm-studio runs -v`
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                             help="log progress details on stderr")
    return parser


# records the CLI shows in its own words (so they would be said twice): the Trainer's failure (printed from its
# FailedEvent) and, for `train` only, the data set's summary of skipped files (`train` lists every one of them;
# eval, sweep and probe let the summary through, so they too say that files were skipped)
SHOWN_BY_THE_CLI = (("ddpm_studio.training.trainer", "training failed"), ("ddpm_studio.data.dataset", None))


def _terminal_filter(command: str) -> Callable[[logging.LogRecord], bool]:
    shown = SHOWN_BY_THE_CLI if command == "train" else SHOWN_BY_THE_CLI[:1]
    return lambda record: _not_shown_by_the_cli(record, shown)


def _not_shown_by_the_cli(record: logging.LogRecord, shown: tuple[tuple[str, str | None], ...] = SHOWN_BY_THE_CLI
                          ) -> bool:
    for name, prefix in shown:
        if record.name == name and (prefix is None or record.getMessage().startswith(prefix)):
            return record.levelno >= logging.ERROR and prefix is None
    return True


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 error, 2 bad arguments, 70 internal error,
    130 interrupted)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    log_path = setup_logging("DEBUG" if args.verbose else "INFO", terminal="INFO" if args.verbose else "WARNING",
                             prog=PROG, terminal_filter=_terminal_filter(args.command))
    log.info("%s %s: %s", PROG, ddpm_studio.__version__, " ".join(sys.argv[1:] if argv is None else argv))
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        check_runs_dir(getattr(args, "runs_dir", None))
        return func(args)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the one top-level handler: bugs too
        line, code = report(exc, args.command, log_path)
        print(line, file=sys.stderr)
        return code
    finally:
        remove_handlers()
