"""The results file: one run's machine, versions, commit, peers, suites and records, as JSON.

Layout (``format`` ``geognn-bench/1``)::

    {"format": "geognn-bench/1",
     "source": "geognn bench" | "transcribed",   # transcribed: figures copied from a hand-written table
     "command": "...", "started": "...Z", "finished": "...Z", "wall_s": 123.4,
     "options": {"suites": [...], "quick": false, "device": "cpu", "peers": [...], "threads": 2},
     "machine": {"cpu_model": ..., "cores": 2, "memory_gib": ..., "gpus": [], "load_before": [1, 5, 15 min],
                 "load_after": [...]} ,          # a transcribed run may give "description" and "load" as text
     "versions": {"python": ..., "geognn": ..., "torch": ...},
     "git": {"commit": ..., "dirty": false},
     "peers": {"pyg": {"status": "installed" | "absent" | "not requested" | "failed", "version" | "install" ...}},
     "suites": [{"name": "kernels", "status": "ok" | "failed" | "not run", "commands": [...], "wall_s": ...,
                 "reason": ...}],
     "notes": ["..."],
     "records": [Record.to_dict(), ...]}

Files are written atomically (a reader never sees half a file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geognn.bench.records import Record, validate_record

FORMAT = "geognn-bench/1"
REQUIRED = ("format", "source", "machine", "versions", "git", "peers", "suites", "records")


def to_json(results: dict[str, Any]) -> str:
    return json.dumps(results, indent=1, ensure_ascii=False) + "\n"


def write(results: dict[str, Any], path: Path) -> Path:
    from geognn.data.atomic_io import atomic_write_text

    return atomic_write_text(path, to_json(results))


def validate(results: Any) -> list[str]:
    """Problems with a results object (empty when it is well-formed)."""
    if not isinstance(results, dict):
        return ["a results file holds one JSON object"]
    problems = [f"missing key {k!r}" for k in REQUIRED if k not in results]
    if results.get("format") != FORMAT:
        problems.append(f"format is {results.get('format')!r}, expected {FORMAT!r}")
    if not isinstance(results.get("records", []), list):
        problems.append("records must be a list")
        return problems
    for data in results.get("records", []):
        problems += validate_record(data) if isinstance(data, dict) else [f"a record is not an object: {data!r}"]
    for entry in results.get("suites", []):
        if not isinstance(entry, dict) or "name" not in entry or "status" not in entry:
            problems.append(f"a suite entry needs 'name' and 'status': {entry!r}")
    return problems


def load(path: Path) -> dict[str, Any]:
    """A results file, checked; raises ValueError naming what is wrong with it."""
    try:
        results = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not JSON: {err}") from None
    problems = validate(results)
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ValueError(f"{path} is not a geognn bench results file: {'; '.join(problems[:5])}{more}")
    return results


def records(results: dict[str, Any]) -> list[Record]:
    return [Record.from_dict(r) for r in results["records"]]
