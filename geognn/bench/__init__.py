"""The benchmark runner behind ``geognn bench``: geognn measured beside its peers, one results file.

    from geognn.bench import Options, run, write_results
    results = run(Options(suites=["kernels"], out=Path("runs/bench"), quick=True, peers={"torch"}), "my run")
    write_results(results, Path("runs/bench"))      # results.json, results.md, PNG charts

Modules, one job each: :mod:`~geognn.bench.records` (one measurement, ratios),
:mod:`~geognn.bench.peers` (who is compared, installed or not),
:mod:`~geognn.bench.machine` (CPU, load, versions, commit),
:mod:`~geognn.bench.scripts` (running benchmarks/*.py), :mod:`~geognn.bench.suites`
(one adapter per suite), :mod:`~geognn.bench.runner`, :mod:`~geognn.bench.results`
(the file), :mod:`~geognn.bench.report` (results.md), :mod:`~geognn.bench.plots`,
:mod:`~geognn.bench.scaling` and :mod:`~geognn.bench.docs` (the generated
tables of benchmarks/RESULTS.md and README.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from geognn.bench.records import Record
from geognn.bench.report import write_report
from geognn.bench.results import load as load_results
from geognn.bench.runner import run
from geognn.bench.suites import SUITES, Options

__all__ = ["Options", "Record", "SUITES", "load_results", "run", "write_report", "write_results"]


def write_results(results: dict[str, Any], out: Path) -> list[Path]:
    """``out/results.json`` and the report beside it (results.md, PNG charts); returns the paths written."""
    from geognn.bench.results import write

    return [write(results, out / "results.json"), *write_report(results, out)]
