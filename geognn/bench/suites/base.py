"""What every suite adapter shares: the run's options, one script invocation, and what parsing yields.

A suite adapter turns the run's options into invocations of a script of
benchmarks/ (arguments per size: full, or ``--quick``) and turns the JSON
lines each invocation printed into records. It measures nothing itself: the
scripts do, so ``python benchmarks/X.py`` and ``geognn bench`` give the same
figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geognn.bench.records import Record


@dataclass
class Options:
    """A run's choices (the options of ``geognn bench``)."""

    suites: list[str]
    out: Path
    quick: bool = False
    device: str = "cpu"
    peers: set[str] = field(default_factory=set)  # requested peer keys
    threads: int = 2
    benchmarks_dir: Path | None = None


@dataclass
class Invocation:
    """One run of one script: ``python benchmarks/<script>.py <args>``."""

    script: str
    args: list[str]
    label: str                                   # what this invocation measures, for progress lines
    context: dict[str, Any] = field(default_factory=dict)  # sizes etc. the parser needs


@dataclass
class Parsed:
    """What an invocation's lines yield: records, peers that failed to run, and notes for the report."""

    records: list[Record] = field(default_factory=list)
    failed_peers: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Unsupported(Exception):
    """The suite cannot run with these options (e.g. no --device cuda); the run records why and goes on."""


def library_list(candidates: tuple[str, ...], usable: set[str]) -> str:
    """``geognn`` plus the usable peers among ``candidates``, comma-separated (a script's --libraries)."""
    return ",".join(["geognn", *[c for c in candidates if c in usable]])
