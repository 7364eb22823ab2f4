"""The ``icechunk`` console script: the command line of the Rust crate ``icechunk-cli``."""

from __future__ import annotations

import signal
import sys

from icechunk._icechunk import cli_main


def main() -> None:
    # The command runs in Rust with the interpreter released, so Python's own Ctrl-C handler
    # would never get to run: let SIGINT end the process as it ends the Rust binary.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.stdout.flush()
    sys.exit(cli_main(["icechunk", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
