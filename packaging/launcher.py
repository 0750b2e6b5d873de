"""PyInstaller entry script for the frozen DDPM Studio (packaging/ddpm-studio.spec).

It only hands over to `ddpm_studio.__main__.main`, which calls `multiprocessing.freeze_support()`
before anything else (needed by frozen builds whose code starts worker processes), then opens the
app, runs `--self-test`, or runs a headless CLI subcommand.
"""

import sys

from ddpm_studio.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
