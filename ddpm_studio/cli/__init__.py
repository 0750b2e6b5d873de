"""`ddpm-studio` headless commands: train, sample, noise, runs, export.

Each command parses flags into the same typed configs the GUI edits, then calls the training/engine
layers. Long work shows a progress bar on stderr; results go to files (their paths on stdout). On a
bad input the command exits non-zero with one line: "ddpm-studio: error: <reason>" (no traceback).
Multi-process training: `torchrun --nproc_per_node N -m ddpm_studio train ...` (rank 0 writes files).

    main.py      the parser and `main(argv)`: dispatch, exit codes, one-line errors
    common.py    the program name, exit codes and what several commands share
    progress.py  the stderr progress bar
    train.py     `train` (new runs and --resume, under torchrun too)
    sample.py    `sample` and `export`: using a trained model
    noise.py     `noise`: the forward process as an image grid
    runs.py      `runs`: the table of runs on disk
"""

from ddpm_studio.cli.main import build_parser, main
from ddpm_studio.cli.progress import ProgressBar
from ddpm_studio.cli.train import config_from_args

__all__ = ["ProgressBar", "build_parser", "config_from_args", "main"]
