"""How time grows with size: series of (size, median) per implementation and their fitted log-log slope.

A slope of 1 is linear in edges or molecules; above 1, each extra item costs
more than the last (caches overflow, for instance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from geognn.bench.records import Record

SCALING_SUITES = {"kernels": "edges", "models": "molecules"}


@dataclass
class Series:
    suite: str
    what: str
    impl: str
    setting: str
    sizes: list[float]
    medians: list[float]  # seconds

    @property
    def label(self) -> str:
        return self.impl if self.setting == "default" else f"{self.impl} ({self.setting})"

    def slope(self) -> float:
        return fit_slope(self.sizes, self.medians)[0]


def fit_slope(sizes: list[float], times: list[float]) -> tuple[float, float]:
    """Least-squares line through (log size, log time): (slope, intercept)."""
    xs, ys = [math.log(s) for s in sizes], [math.log(t) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope, my - slope * mx


def series(records: list[Record]) -> list[Series]:
    """Timed implementations of the kernels and models suites measured at two sizes or more."""
    found: dict[tuple, Series] = {}
    for r in records:
        if SCALING_SUITES.get(r.suite) != r.size_unit or r.metric != "time" or not r.median or r.size <= 0:
            continue
        key = (r.suite, r.what, r.impl, r.setting, r.device)
        s = found.setdefault(key, Series(r.suite, r.what, r.impl, r.setting, [], []))
        s.sizes.append(float(r.size))
        s.medians.append(r.median)
    out = []
    for s in found.values():
        if len(set(s.sizes)) >= 2:
            order = sorted(range(len(s.sizes)), key=s.sizes.__getitem__)
            s.sizes, s.medians = [s.sizes[k] for k in order], [s.medians[k] for k in order]
            out.append(s)
    return out
