"""One benchmark measurement as a record, and the ratios between geognn and its peers.

A record is one implementation measured once in one run: what was measured
(shared by geognn and its peers, e.g. "message_sum fwd+bwd, random index"),
at which size, on which device, by which implementation and library with which
setting, and the figures: the median and the spread (min, max) over
interleaved repeats, and the peak memory where the suite measures it.

Records that share a comparison key (suite, what, device, metric, size unit
and, unless they are compared per item, size) were measured side by side in
one run. Every geognn record of such a group gets one ratio per peer record:
``peer value / geognn value`` (per item where the suite compares per item),
so a ratio above 1 means geognn leads. All metrics here are lower-is-better
(times, errors, memory). Ratios are computed once, when the run ends, and
stored: a report renders the stored figures and never recomputes them, so a
results file transcribed from a hand-written table keeps the ratios that
table printed.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field, fields
from typing import Any

GEOGNN = "geognn"


@dataclass
class Record:
    """One implementation measured in one run (see the module docstring)."""

    suite: str                 # kernels, featurize, models, kg, accuracy
    what: str                  # the measurement, the same text for geognn and its peers
    impl: str                  # the implementation, e.g. "geognn", "unfused x[src]*w + index_add"
    library: str               # "geognn" or a peer's key in geognn.bench.peers.PEERS
    size: float                # problem size, in size_unit
    size_unit: str             # "edges", "molecules", "atoms", "training triples", ...
    median: float | None       # in unit; None only in a transcribed run that recorded a ratio alone
    unit: str = "s"            # "s" for times; "meV" for errors
    metric: str = "time"       # "time", "test MAE", ...: lower is better for all
    setting: str = "default"   # the peer's setting: "default", "flush" (flushed subnormals), "n_jobs=1", ...
    device: str = "cpu"
    min: float | None = None
    max: float | None = None
    repeats: int | None = None
    mean: float | None = None  # where a figure is a mean over repeats (accuracy over initialisations)
    std: float | None = None
    peak_memory_bytes: int | None = None
    per_item: bool = False     # compared per item (sizes may differ between implementations)
    primary: bool = False      # geognn's implementation that the comparison is about
    headline: bool = False     # shown in README's headline table (primary records only)
    paired_ratio: float | None = None  # peer records: median of per-round ratios to the primary, from the suite
    ratios: list[dict[str, Any]] = field(default_factory=list)  # geognn records: one entry per peer record
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown record fields {sorted(unknown)} in {data.get('suite')}/{data.get('what')}")
        return cls(**data)

    @property
    def is_geognn(self) -> bool:
        return self.library == GEOGNN

    def value(self) -> float | None:
        """The figure compared: the median, else the mean; per item when compared per item."""
        v = self.median if self.median is not None else self.mean
        if v is None:
            return None
        return v / self.size if self.per_item and self.size else v

    def comparison_key(self) -> tuple:
        return (self.suite, self.what, self.device, self.metric, self.size_unit,
                None if self.per_item else self.size)


def summary_stats(values: list[float]) -> dict[str, float | int]:
    """Median, min, max and count of ``values`` (the spread fields of a record)."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "repeats": len(values)}


def groups(records: list[Record]) -> dict[tuple, list[Record]]:
    """Records by comparison key, in the order the keys first appear."""
    out: dict[tuple, list[Record]] = {}
    for r in records:
        out.setdefault(r.comparison_key(), []).append(r)
    return out


def attach_ratios(records: list[Record]) -> None:
    """Fills ``ratios`` of every geognn record with one entry per peer record of its comparison.

    Entry: the peer's implementation, library and setting, ``ratio`` (peer /
    geognn, > 1: geognn leads), ``paired`` (the suite's median of per-round
    ratios, for the primary record, where the suite reports it),
    ``memory_ratio`` (peer peak memory / geognn's, where both were measured)
    and ``best_setting`` (this is the peer's fastest setting in the run).
    """
    for group in groups(records).values():
        peers = [r for r in group if not r.is_geognn and r.value() is not None]
        fastest: dict[str, float] = {}
        for p in peers:
            fastest[p.library] = min(fastest.get(p.library, p.value()), p.value())
        for g in group:
            if not g.is_geognn or g.value() is None:
                continue
            g.ratios = [_ratio(g, p, fastest) for p in peers]


def _ratio(g: Record, p: Record, fastest: dict[str, float]) -> dict[str, Any]:
    entry: dict[str, Any] = {"peer": p.impl, "library": p.library, "setting": p.setting,
                             "ratio": p.value() / g.value() if g.value() else None,
                             "best_setting": p.value() == fastest[p.library]}
    if g.primary and p.paired_ratio is not None:
        entry["paired"] = p.paired_ratio
    if g.peak_memory_bytes and p.peak_memory_bytes:
        entry["memory_ratio"] = p.peak_memory_bytes / g.peak_memory_bytes
    return entry


def primary_of(group: list[Record]) -> Record | None:
    """geognn's primary record of a comparison (the first geognn record when none is marked)."""
    ours = [r for r in group if r.is_geognn]
    return next((r for r in ours if r.primary), ours[0] if ours else None)


def validate_record(data: dict[str, Any]) -> list[str]:
    """Problems with one record's dict (empty when it is well-formed)."""
    problems = []
    where = f"{data.get('suite')}/{data.get('what')}/{data.get('impl')}"
    try:
        r = Record.from_dict(data)
    except (TypeError, ValueError) as err:
        return [f"{where}: {err}"]
    for name in ("suite", "what", "impl", "library", "size_unit", "unit", "metric", "setting", "device"):
        if not isinstance(getattr(r, name), str) or not getattr(r, name):
            problems.append(f"{where}: {name} must be a non-empty string")
    for name in ("size", "median", "min", "max", "mean", "std"):
        v = getattr(r, name)
        if v is not None and (not isinstance(v, (int, float)) or v != v or v < 0):
            problems.append(f"{where}: {name} must be a non-negative number, not {v!r}")
    if r.median is None and r.mean is None and not r.ratios:
        problems.append(f"{where}: neither a median, a mean nor a recorded ratio")
    if r.min is not None and r.max is not None and r.median is not None and not r.min <= r.median <= r.max:
        problems.append(f"{where}: median {r.median} outside [min, max] = [{r.min}, {r.max}]")
    for entry in r.ratios:
        if not isinstance(entry, dict) or "peer" not in entry or "ratio" not in entry:
            problems.append(f"{where}: a ratio entry needs 'peer' and 'ratio': {entry!r}")
    if r.ratios and not r.is_geognn:
        problems.append(f"{where}: only geognn records carry ratios")
    return problems
