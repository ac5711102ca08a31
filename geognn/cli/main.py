"""The ``geognn`` command: ``train``, ``tune``, ``predict``, ``featurize``, ``bench``, ``zoo``, ``md`` and ``checkpoint``."""

from __future__ import annotations

import argparse
import sys

from geognn import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geognn",
        description="Geometric graph neural networks for chemistry. Units: positions Å, energies eV, "
                    "forces eV/Å. Run `geognn COMMAND --help` for each command's options.",
    )
    parser.add_argument("--version", action="version", version=f"geognn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    from geognn.cli import bench, checkpoint, featurize, md, predict, train, tune, zoo

    train.add_parser(subparsers)
    tune.add_parser(subparsers)
    predict.add_parser(subparsers)
    featurize.add_parser(subparsers)
    bench.add_parser(subparsers)
    zoo.add_parser(subparsers)
    md.add_parser(subparsers)
    checkpoint.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from geognn.train.checkpoint import CheckpointError

    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, CheckpointError, FloatingPointError) as err:
        # Expected user errors: one clear line, no traceback.
        print(f"geognn {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
