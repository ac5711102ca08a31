"""``geognn bench``: geognn measured beside its peers in one run; one results file, tables and charts."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from geognn.bench.scripts import BENCHMARKS_ENV, find_benchmarks, first_docstring_line, scripts, subprocess_env

# Kept importable from here (older code and tests import it from the CLI module).
__all__ = ["add_parser", "find_benchmarks", "run_bench"]

DEFAULT_OUT = Path("runs/bench")

_EPILOG = f"""examples:
  geognn bench --quick                                 every speed suite, small sizes (a few minutes)
  geognn bench                                         kernels, featurize, models, kg at full size
  geognn bench --suite all                             the same plus accuracy and forcefield (training, long)
  geognn bench --suite forcefield --quick              force fields on xTB-MD17 vs SchNetPack and MACE (2 epochs)
  geognn bench --suite kernels,models --peers pyg,torch_scatter --out runs/bench-kernels
  geognn bench --report runs/bench/results.json         results.md and charts again, from the file
  geognn bench --report benchmarks/results/*.json --docs   the generated tables of RESULTS.md and README.md
  geognn bench --list                                  the suites, their peers, and the scripts
  geognn bench kernels -- --edges 100000 --repeats 3   one script of benchmarks/ with its own options

A run writes DIR/results.json (every measurement: suite, what, size, device, median and min-max over
interleaved repeats, peak memory, ratio to each peer measured in the same run and the peer's setting;
the machine, its load before and after, library versions and the git commit), DIR/results.md (one
table per suite: ratios in bold where geognn leads, flagged where it trails) and PNG charts (ratio
bars per suite; time against edges and molecules with fitted slopes). It prints a line per
measurement while it runs; each script's output is kept in DIR/logs/. Speed is never asserted.

Peers: torch, torch_scatter (kernels); dscribe, vesin, matscipy, ase (featurize); pyg, schnetpack
(models, accuracy: pyg); pykeen (kg); qmllib, sklearn (krr); schnetpack, mace (forcefield). A peer
that is not installed is reported as absent with the command that installs it;
`bash benchmarks/setup_peers.sh` (or `make bench`) installs them all into .venv-bench (MACE into
.venv-mace: its e3nn pin conflicts with geognn's), and `make bench` then runs this command there.

`geognn bench SCRIPT -- OPTIONS` still runs one script of benchmarks/ with its own options, printing
its JSON lines (no results file). The scripts live in benchmarks/ of the source tree: they are looked
for in --benchmarks-dir, then ${BENCHMARKS_ENV}, then ./benchmarks, then beside the geognn package of a
source checkout.
"""


def add_parser(subparsers) -> None:
    from geognn.bench.suites import DEFAULT_SUITES, SUITES

    p = subparsers.add_parser(
        "bench", help="measure geognn beside its peers (kernels, featurize, models, kg, krr, accuracy, forcefield): "
                      "one results file",
        description="Run benchmark suites with geognn and its peers side by side; write results.json, results.md "
                    "and PNG charts. Or regenerate the report from a results file (--report).",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--suite", metavar="LIST",
                   help=f"comma-separated suites among {', '.join(SUITES)}, or all (default: "
                        f"{','.join(DEFAULT_SUITES)}; accuracy trains for about half an hour, forcefield for "
                        "hours in full)")
    p.add_argument("--quick", action="store_true",
                   help="small sizes and few repeats: every speed suite in a few minutes on 2 cores; never "
                        "runs accuracy; forcefield trains 2 epochs (default: off, full sizes)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where geognn runs: cuda needs a GPU and a CUDA build of geognn; suites without a GPU "
                        "path are reported as not run (default: cpu)")
    p.add_argument("--peers", metavar="LIST", default="all",
                   help="comma-separated peers to compare with (torch, torch_scatter, dscribe, vesin, matscipy, ase, "
                        "pyg, schnetpack, pykeen, qmllib, sklearn, mace), all, or none (default: all)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads in every script (default: 2)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help=f"folder for results.json, results.md, the charts and logs (default: {DEFAULT_OUT}; with "
                        "--report, the folder of the first results file)")
    p.add_argument("--report", nargs="+", type=Path, metavar="RESULTS_JSON",
                   help="run nothing: write results.md and the charts of this results file again (default: off)")
    p.add_argument("--docs", action="store_true",
                   help="with --report: rewrite the generated tables of benchmarks/RESULTS.md and README.md from "
                        "all the results files given (default: off)")
    p.add_argument("--check", action="store_true",
                   help="with --report --docs: change nothing, exit 1 if those tables are not up to date "
                        "(default: off)")
    p.add_argument("--list", action="store_true", help="list the suites, their peers and the scripts, then exit")
    p.add_argument("--benchmarks-dir", type=Path, metavar="DIR",
                   help=f"folder holding the scripts (default: ${BENCHMARKS_ENV}, ./benchmarks, or the source "
                        "checkout's benchmarks/)")
    p.add_argument("script", nargs="?", metavar="SCRIPT",
                   help="run one script of benchmarks/ (its name without .py) with the options after `--`, "
                        "instead of the runner")
    p.add_argument("script_args", nargs=argparse.REMAINDER, metavar="-- OPTIONS",
                   help="options for SCRIPT, after `--` (see `geognn bench SCRIPT -- --help`)")
    p.set_defaults(func=run_bench)


def run_bench(args) -> int:
    if args.list:
        return _list(args)
    if args.script:
        return _run_script(args)
    if args.report:
        return _report(args)
    if args.docs or args.check:
        raise ValueError("--docs and --check go with --report RESULTS_JSON ...")
    return _run(args)


def _list(args) -> int:
    from geognn.bench.peers import PEERS
    from geognn.bench.suites import DEFAULT_SUITES, SUITES

    print("suites (geognn bench --suite LIST):")
    for name, suite in SUITES.items():
        default = "" if name in DEFAULT_SUITES else f"   [only when asked for: --suite {name} or all]"
        print(f"  {name:10s} {suite.DESCRIPTION}{default}")
        print(f"  {'':10s} peers: {', '.join(PEERS[p].label for p in suite.PEERS)}")
    directory = find_benchmarks(args.benchmarks_dir)
    print(f"\nscripts in {directory} (geognn bench SCRIPT -- OPTIONS):")
    for name, script in scripts(directory).items():
        print(f"  {name:12s} {first_docstring_line(script)}")
    return 0


def _run_script(args) -> int:
    runner_options = [name for name, on in (("--suite", args.suite), ("--quick", args.quick),
                                            ("--report", args.report), ("--out", args.out)) if on]
    if runner_options:
        raise ValueError(f"{', '.join(runner_options)} belong to the runner, not to one script: drop SCRIPT "
                         f"({args.script}) to run the suites, or pass the script's own options after `--`")
    directory = find_benchmarks(args.benchmarks_dir)
    available = scripts(directory)
    if args.script not in available:
        raise ValueError(f"no script {args.script!r} in {directory}; choose one of {', '.join(available)} "
                         f"(geognn bench --list)")
    script_args = list(args.script_args)
    if script_args and script_args[0] == "--":
        script_args = script_args[1:]
    # A fresh interpreter: scripts set threads and flush-to-zero before torch starts its thread pool.
    command = [sys.executable, str(available[args.script]), *script_args]
    print(f"geognn: running {' '.join(command)}", file=sys.stderr, flush=True)
    try:
        return subprocess.call(command, env=subprocess_env(quiet=False))
    except KeyboardInterrupt:
        return 130


def _run(args) -> int:
    from geognn.bench import Options, run, write_results
    from geognn.bench.peers import parse_peers
    from geognn.bench.suites import parse_suites

    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, not {args.threads}")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"--device cuda: torch {torch.__version__} sees no GPU on this machine")
    options = Options(suites=parse_suites(args.suite), out=args.out or DEFAULT_OUT, quick=args.quick,
                      device=args.device, peers=parse_peers(args.peers), threads=args.threads,
                      benchmarks_dir=args.benchmarks_dir)
    command = " ".join(["geognn bench", "--suite", ",".join(options.suites), *(["--quick"] if options.quick else []),
                        "--device", options.device, "--peers", args.peers, "--threads", str(options.threads),
                        "--out", str(options.out)])
    results = run(options, command)
    written = write_results(results, options.out)
    failed = [s["name"] for s in results["suites"] if s["status"] == "failed"]
    print(f"geognn bench: {len(results['records'])} measurements in {results['wall_s']:,.0f} s; wrote "
          f"{', '.join(str(p) for p in written)}", file=sys.stderr)
    if failed:
        print(f"geognn bench: suite(s) failed: {', '.join(failed)} (see {options.out / 'logs'})", file=sys.stderr)
    return 1 if failed else 0


def _report(args) -> int:
    from geognn.bench import load_results, write_report

    runs = [load_results(path) for path in args.report]
    if args.docs or args.check:
        from geognn.bench import docs

        stale = docs.update(runs, check=args.check)
        if args.check:
            if stale:
                print(f"geognn bench: out of date: {', '.join(str(p) for p in stale)}; regenerate with "
                      f"geognn bench --report {' '.join(str(p) for p in args.report)} --docs", file=sys.stderr)
                return 1
            print("geognn bench: the generated tables are up to date", file=sys.stderr)
            return 0
        print(f"geognn bench: updated {', '.join(str(p) for p in stale) or 'nothing (already up to date)'}",
              file=sys.stderr)
        return 0
    if len(runs) > 1:
        raise ValueError("--report without --docs renders one results file; give one, or add --docs")
    out = args.out or args.report[0].parent
    written = write_report(runs[0], out)
    print(f"geognn bench: wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    return 0
