"""How figures are written in tables and progress lines: times, sizes, memory and ratios.

One place, so that results.md, README's table and the progress lines print a
figure the same way. Ratios are peer / geognn: **bold** where geognn leads
(> 1.00 as printed), flagged "⚠ trails" where it is slower (< 1.00).
"""

from __future__ import annotations

from typing import Any

from geognn.bench.records import Record

TRAILS = "⚠ trails"


def significant(x: float) -> str:
    """Three significant figures, thousands separated: 2,338 / 963 / 59.0 / 2.43."""
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def duration(seconds: float) -> str:
    """Seconds in the unit that keeps three significant figures: µs below 1 ms, ms below 10 s."""
    if seconds < 1e-3:
        return f"{significant(seconds * 1e6)} µs"
    if seconds < 10:
        return f"{significant(seconds * 1e3)} ms"
    return f"{significant(seconds)} s"


def quantity(x: float, unit: str) -> str:
    return duration(x) if unit == "s" else f"{x:.2f} {unit}"


def item_name(size_unit: str) -> str:
    """"molecules" -> "molecule": the unit of a per-item figure."""
    return size_unit[:-1] if size_unit.endswith("s") else size_unit


def _per(r: Record, x: float) -> float:
    return x / r.size if r.per_item and r.size else x


def value(r: Record) -> str:
    """The record's figure: median (or mean ± std), per item where it is compared per item."""
    if r.median is None and r.mean is None:
        return "—"
    suffix = f"/{item_name(r.size_unit)}" if r.per_item else ""
    if r.median is None:
        std = f" ± {quantity(_per(r, r.std), r.unit).split()[0]}" if r.std is not None else ""
        text = quantity(_per(r, r.mean), r.unit)
        number, unit = text.split(" ", 1)
        return f"{number}{std} {unit}{suffix} (mean of {r.repeats})" if r.repeats else f"{number}{std} {unit}{suffix}"
    return quantity(_per(r, r.median), r.unit) + suffix


def spread(r: Record) -> str:
    """min–max, in the unit of :func:`value` ("" when not recorded)."""
    if r.min is None or r.max is None:
        return ""
    low, high = quantity(_per(r, r.min), r.unit), quantity(_per(r, r.max), r.unit)
    return f"{low.split()[0]}–{high}"


def memory(n_bytes: int | None) -> str:
    return "" if not n_bytes else f"{significant(n_bytes / 2**20)} MiB"


def size(r: Record) -> str:
    n = int(r.size) if float(r.size).is_integer() else r.size
    return f"{n:,} {r.size_unit}" if isinstance(n, int) else f"{n} {r.size_unit}"


def times(x: float) -> str:
    """A ratio as printed: 2.43×, 12.1×, 305×."""
    return f"{significant(x)}×"


def _shown(x: float) -> float:
    """The ratio as printed, so that bold and flags agree with the digits a reader sees."""
    return float(times(x).rstrip("×").replace(",", ""))


def ratio(x: float | None, significant_difference: bool = True) -> str:
    """A ratio (peer / geognn), bold where geognn leads, flagged where it trails."""
    if x is None:
        return "—"
    if not significant_difference:
        return times(x)
    if _shown(x) > 1:
        return f"**{times(x)}**"
    if _shown(x) < 1:
        return f"{times(x)} {TRAILS}"
    return times(x)


def ratio_range(values: list[float], significant_difference: bool = True) -> str:
    """One ratio, or its range over runs: **1.58–1.95×**; flagged when geognn trails in any run."""
    if times(min(values)) == times(max(values)):  # one run, or runs that print alike
        return ratio(values[0], significant_difference)
    text = f"{times(min(values)).rstrip('×')}–{times(max(values))}"
    if not significant_difference:
        return text
    trailing = sum(_shown(v) < 1 for v in values)
    if trailing:
        return f"{text} {TRAILS} in {trailing} of {len(values)} runs"
    return f"**{text}**" if all(_shown(v) > 1 for v in values) else text


def ratio_entry(entry: dict[str, Any]) -> str:
    """A stored ratio entry: the speed-up, its paired figure, the memory ratio and any note."""
    text = ratio(entry.get("ratio"), entry.get("significant", True))
    if entry.get("paired") is not None:
        text += f" (paired {times(entry['paired'])})"
    if entry.get("memory_ratio"):
        text += f"; memory {ratio(entry['memory_ratio'])}"
    if entry.get("note"):
        text += f"; {entry['note']}"
    return text


def load(machine: dict[str, Any]) -> str:
    """The load average line of a machine record: measured before/after, or as a transcribed run noted it."""
    if "load" in machine:
        return str(machine["load"])
    before, after = machine.get("load_before"), machine.get("load_after")
    parts = []
    if before:
        parts.append(f"{before[0]:.2f} before")
    if after:
        parts.append(f"{after[0]:.2f} after")
    return ", ".join(parts) + " (1-minute)" if parts else "not recorded"
