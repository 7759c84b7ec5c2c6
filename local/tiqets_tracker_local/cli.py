"""The `tiqets-tracker` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_BAD_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiqets-tracker",
        description="Track confirmed Tiqets orders to a final outcome (see README.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="track simulated orders covering every outcome through the real workflow, locally",
        description=(
            "Stands up the local stack (moto) and the Tiqets simulator and tracks one order per"
            " outcome through the real state machine and handlers, 60 times faster than real"
            " time. Exits 1 if any order ends with the wrong outcome."
        ),
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("demo-output"),
        help="folder for the exported vouchers and summary.json (default: demo-output)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from tiqets_tracker_local.demo import run_demo

        args.out.mkdir(parents=True, exist_ok=True)
        return run_demo(args.out)
    return EXIT_BAD_USAGE


if __name__ == "__main__":
    sys.exit(main())
