"""PNG charts of a run: ratio bars per suite, and time against size with fitted slopes.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no display
needed), written atomically.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from geognn.bench.records import Record, groups, primary_of
from geognn.bench.scaling import SCALING_SUITES, Series, fit_slope

LEADS, TRAILS = "#2a7f3f", "#b8322a"


def _save(fig, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from geognn.data.atomic_io import atomic_write_bytes

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    # No software/date metadata: the same results give the same bytes.
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return atomic_write_bytes(path, buffer.getvalue())


def ratio_bars(records: list[Record], suite: str, path: Path) -> Path | None:
    """Horizontal bars of geognn's ratio to each peer (primary records), log scale; None if no ratio."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullFormatter

    bars = []
    for group in groups([r for r in records if r.suite == suite]).values():
        ours = primary_of(group)
        if ours is None:
            continue
        for entry in ours.ratios:
            if entry.get("ratio"):
                setting = "" if entry["setting"] == "default" else f" ({entry['setting']})"
                size = f"{ours.size:,.0f} {ours.size_unit}" if not ours.per_item else ""
                bars.append((f"{ours.what}{', ' + size if size else ''}\nvs {entry['peer']}{setting}",
                             entry["ratio"]))
    if not bars:
        return None
    fig = Figure(figsize=(9, 0.55 * len(bars) + 1.2))
    ax = fig.add_subplot()
    labels, values = zip(*reversed(bars))
    ax.barh(range(len(values)), values, color=[LEADS if v >= 1 else TRAILS for v in values])
    ax.set_yticks(range(len(values)), labels, fontsize=6.5)
    ax.set_xscale("log")
    ax.set_xlim(min(0.5, min(values) / 1.5), max(2.0, max(values) * 1.6))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axvline(1.0, color="black", linewidth=0.8)
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.2f}×", va="center", fontsize=7)
    ax.set_xlabel("peer time / geognn time (> 1: geognn faster)")
    ax.set_title(f"{suite}: geognn against its peers, same run")
    fig.tight_layout()
    return _save(fig, path)


def scaling_plot(all_series: list[Series], path: Path) -> Path | None:
    """Log-log time against size, one panel per suite, each series with its fitted slope; None if no series."""
    from matplotlib.figure import Figure

    suites = [s for s in SCALING_SUITES if any(x.suite == s for x in all_series)]
    if not suites:
        return None
    fig = Figure(figsize=(7.5 * len(suites), 5.5))
    for k, suite in enumerate(suites, 1):
        ax = fig.add_subplot(1, len(suites), k)
        for s in (x for x in all_series if x.suite == suite):
            slope, intercept = fit_slope(s.sizes, s.medians)
            points = ax.plot(s.sizes, s.medians, marker="o", linestyle="none",
                             label=f"{s.label} — {s.what}: slope {slope:.2f}")
            ends = [min(s.sizes), max(s.sizes)]  # the fitted line, drawn over the measured range
            ax.plot(ends, [math.exp(intercept) * x**slope for x in ends], linestyle="--", linewidth=1,
                    color=points[0].get_color())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(SCALING_SUITES[suite])
        ax.set_ylabel("median time (s)")
        ax.set_title(f"{suite}: time against {SCALING_SUITES[suite]}")
        ax.legend(fontsize=6, loc="upper left")
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
