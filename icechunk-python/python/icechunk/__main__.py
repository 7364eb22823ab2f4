"""Command line: ``python -m icechunk demo [PATH]``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m icechunk", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="play the talk's scenarios (plain Zarr, then icechunk) on local disk",
    )
    demo.add_argument(
        "path", nargs="?", default=None, help="directory to use (default: a temporary one)"
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        from icechunk.demo import run

        return run(args.path)
    return 2  # pragma: no cover (argparse refuses unknown commands)


if __name__ == "__main__":
    sys.exit(main())
