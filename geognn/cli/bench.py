"""``geognn bench``: run a benchmark suite of benchmarks/ (a source checkout) with its own options."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS_ENV = "GEOGNN_BENCHMARKS"
REPOSITORY_HINT = "a source checkout of geognn (git clone the repository, then `pip install -e .` in it)"

_EPILOG = f"""examples:
  geognn bench --list
  geognn bench kernels -- --edges 100000 --repeats 3     quick kernel check
  geognn bench featurize -- --n-molecules 1000
  geognn bench models -- --molecules 200 --batches 2
  geognn bench kernels -- --help                        the suite's own options

Everything after `--` goes to the suite unchanged. Each suite prints one JSON line per
measurement (times in seconds, sizes in items) and never asserts on time; see
benchmarks/RESULTS.md for the figures and the machine they came from.

The suites live in benchmarks/ of the source tree, not in the installed package. They are
looked for in --benchmarks-dir, then ${BENCHMARKS_ENV}, then ./benchmarks, then beside the
geognn package of a source checkout (editable install).
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="run a benchmark suite (kernels, featurize, models) from benchmarks/",
        description="Run one benchmark suite of benchmarks/ in this Python, passing its own options through.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("suite", nargs="?", metavar="SUITE",
                   help="suite to run: the name of a file in benchmarks/ without .py, e.g. kernels, featurize, "
                        "models (see --list)")
    p.add_argument("suite_args", nargs=argparse.REMAINDER, metavar="-- OPTIONS",
                   help="options for the suite, after `--` (see `geognn bench SUITE -- --help`)")
    p.add_argument("--list", action="store_true", help="list the suites found and where, then exit")
    p.add_argument("--benchmarks-dir", type=Path, metavar="DIR",
                   help=f"folder holding the suites (default: ${BENCHMARKS_ENV}, ./benchmarks, or the source "
                        "checkout's benchmarks/)")
    p.set_defaults(func=run_bench)


def candidate_dirs(explicit: Path | None = None) -> list[Path]:
    """Where the suites may be, in order of precedence."""
    if explicit is not None:
        return [explicit]
    found = []
    if os.environ.get(BENCHMARKS_ENV):
        found.append(Path(os.environ[BENCHMARKS_ENV]))
    found.append(Path.cwd() / "benchmarks")
    import geognn

    found.append(Path(geognn.__file__).resolve().parent.parent / "benchmarks")  # editable install / checkout
    return found


def find_benchmarks(explicit: Path | None = None) -> Path:
    """The benchmarks folder; raises FileNotFoundError saying where it looked and what to do."""
    dirs = candidate_dirs(explicit)
    for d in dirs:
        if d.is_dir() and suites(d):
            return d
    looked = ", ".join(str(d) for d in dict.fromkeys(dirs))
    raise FileNotFoundError(
        f"no benchmark suites found (looked in: {looked}). The suites ship with {REPOSITORY_HINT}, not with "
        f"the installed package: run `geognn bench` from such a checkout, or point --benchmarks-dir or "
        f"${BENCHMARKS_ENV} at its benchmarks/ folder")


def suites(directory: Path) -> dict[str, Path]:
    """Suite name -> script, for every ``*.py`` of ``directory`` not starting with ``_``."""
    return {p.stem: p for p in sorted(directory.glob("*.py")) if not p.name.startswith("_")}


def _first_line(script: Path) -> str:
    import ast

    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def run_bench(args) -> int:
    directory = find_benchmarks(args.benchmarks_dir)
    available = suites(directory)
    if args.list or not args.suite:
        print(f"benchmark suites in {directory}:")
        for name, script in available.items():
            print(f"  {name:12s} {_first_line(script)}")
        if not args.list:
            print("run one with: geognn bench SUITE [-- OPTIONS]")
        return 0
    if args.suite not in available:
        raise ValueError(f"no suite {args.suite!r} in {directory}; choose one of {', '.join(available)} "
                         f"(geognn bench --list)")
    suite_args = list(args.suite_args)
    if suite_args and suite_args[0] == "--":
        suite_args = suite_args[1:]
    # A fresh interpreter: suites set threads and flush-to-zero before torch starts its thread pool.
    command = [sys.executable, str(available[args.suite]), *suite_args]
    print(f"geognn: running {' '.join(command)}", file=sys.stderr, flush=True)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130
