"""results.md and the PNG charts of one results file.

The Markdown depends only on the results file, so rendering it twice gives
the same bytes (``geognn bench --report results.json`` regenerates it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from geognn.bench import fmt, plots, scaling
from geognn.bench.records import Record, groups
from geognn.bench.results import records as results_records

LEGEND = ("Ratios are peer time / geognn time (per item where the sizes differ), both measured in this run: "
          "above 1 geognn is faster. **Bold**: geognn leads; " + fmt.TRAILS + ": geognn is slower. "
          "\"paired\" is the median of per-round ratios (the figure load drifts move least); \"memory\" is the peer's "
          "peak memory / geognn's. "
          "Times are medians over interleaved repeats, with min–max; a blank peak memory was not measured by "
          "that suite.")


def run_summary(results: dict[str, Any]) -> list[str]:
    """Who, what, when and where: the lines that say which run the figures come from."""
    m, v, git = results["machine"], results["versions"], results["git"]
    commit = (git.get("commit") or "unknown")[:10] + (" with uncommitted changes" if git.get("dirty") else "")
    when = results.get("started", "date not recorded")
    if results.get("finished"):
        when += f" to {results['finished']}"
    if results.get("wall_s") is not None:
        when += f" ({results['wall_s']:,.0f} s)"
    versions = ", ".join(f"{k} {val}" for k, val in v.items())
    if m.get("description"):
        where = m["description"]
    else:
        gpus = ", ".join(m.get("gpus") or []) or "no GPU"
        where = f"{m.get('cpu_model')}, {m.get('cores')} cores usable, {m.get('memory_gib')} GiB, {gpus}"
    lines = [f"- Command: `{results.get('command', 'not recorded')}`", f"- When: {when}; commit {commit}",
             f"- Machine: {where}; load average {fmt.load(m)}", f"- Versions: {versions}"]
    if results.get("source") == "transcribed":
        lines.append(f"- Transcribed from {results.get('transcribed_from', 'a hand-written table')}")
    lines += [f"- Note: {note}" for note in results.get("notes", [])]
    return lines


def peers_table(results: dict[str, Any]) -> list[str]:
    rows = ["| peer | suites | status | version, or how to install it |", "|---|---|---|---|"]
    for key, entry in results["peers"].items():
        detail = entry.get("version", "") if entry["status"] == "installed" else f"`{entry.get('install', '')}`"
        if entry["status"] == "failed":
            detail = f"{entry.get('reason', '')[:200]}"
        rows.append(f"| {entry.get('label', key)} | {entry.get('suites', '')} | {entry['status']} | {detail} |")
    if any(e["status"] == "absent" for e in results["peers"].values()):
        rows.append("")
        rows.append("All peers at once, into `.venv-bench`: `bash benchmarks/setup_peers.sh`.")
    return rows


def comparison_rows(records: list[Record]) -> list[str]:
    """geognn's primary (and headline) records against every peer of their comparison."""
    rows = ["| what | size | geognn | median (min–max) | peer | setting | median (min–max) | speed-up |",
            "|---|---|---|---|---|---|---|---|"]
    for group in groups(records).values():
        ours = [r for r in group if r.is_geognn and r.ratios and (r.primary or r.headline)]
        peers = {(p.impl, p.setting): p for p in group if not p.is_geognn}
        for g in ours:
            for entry in g.ratios:
                p = peers.get((entry["peer"], entry["setting"]))
                best = " (best)" if entry.get("best_setting") and sum(
                    q.library == entry.get("library") for q in peers.values()) > 1 else ""
                rows.append(f"| {g.what} | {'per item' if g.per_item else fmt.size(g)} | {g.impl} | "
                            f"{_figure(g)} | {entry['peer']} | {entry['setting']}{best} | "
                            f"{_figure(p) if p else '—'} | {fmt.ratio_entry(entry)} |")
    return rows if len(rows) > 2 else []


def _figure(r: Record) -> str:
    spread = fmt.spread(r)
    return fmt.value(r) + (f" ({spread})" if spread else "")


def measurement_rows(records: list[Record]) -> list[str]:
    rows = ["| what | size | implementation | setting | median | min–max | repeats | peak memory |",
            "|---|---|---|---|---|---|---|---|"]
    for r in records:
        rows.append(f"| {r.what} | {fmt.size(r)} | {r.impl} | {r.setting} | {fmt.value(r)} | {fmt.spread(r)} | "
                    f"{r.repeats if r.repeats is not None else ''} | {fmt.memory(r.peak_memory_bytes)} |")
    return rows


def render(results: dict[str, Any], charts: dict[str, str] | None = None) -> str:
    """results.md for ``results``; ``charts`` maps a chart's name to its file name (as written beside it)."""
    charts = charts or {}
    records = results_records(results)
    out = ["# geognn bench results", "", *run_summary(results), "", LEGEND, "", "## Peers", "",
           *peers_table(results), "", "## Suites", "", "| suite | status | wall | commands |", "|---|---|---|---|"]
    for entry in results["suites"]:
        commands = "<br>".join(f"`{c}`" for c in entry.get("commands", [])) or entry.get("reason", "")
        if entry.get("reason") and entry.get("commands"):
            commands += f"<br>{entry['reason']}"
        wall = f"{entry['wall_s']:,.0f} s" if entry.get("wall_s") is not None else ""
        out.append(f"| {entry['name']} | {entry['status']} | {wall} | {commands} |")
    for entry in results["suites"]:
        mine = [r for r in records if r.suite == entry["name"]]
        if not mine:
            continue
        out += ["", f"## {entry['name']}", ""]
        comparisons = comparison_rows(mine)
        if comparisons:
            out += ["geognn against its peers:", "", *comparisons, ""]
        if f"ratios_{entry['name']}" in charts:
            out += [f"![{entry['name']}: ratios]({charts['ratios_' + entry['name']]})", ""]
        out += ["All measurements:", "", *measurement_rows(mine)]
    series = scaling.series(records)
    if series:
        out += ["", "## Scaling", "", "Median time against size, log-log; slope of the least-squares line "
                "(1: linear).", ""]
        if "scaling" in charts:
            out += [f"![scaling]({charts['scaling']})", ""]
        out += ["| suite | what | implementation | sizes | slope |", "|---|---|---|---|---|"]
        for s in series:
            sizes = ", ".join(f"{x:,.0f}" for x in s.sizes)
            out.append(f"| {s.suite} | {s.what} | {s.label} | {sizes} | {s.slope():.2f} |")
    return "\n".join(out) + "\n"


def write_report(results: dict[str, Any], out: Path) -> list[Path]:
    """results.md and the PNG charts of ``results`` into ``out``; returns the paths written."""
    from geognn.data.atomic_io import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    records = results_records(results)
    charts, written = {}, []
    for entry in results["suites"]:
        path = plots.ratio_bars(records, entry["name"], out / f"ratios_{entry['name']}.png")
        if path is not None:
            charts[f"ratios_{entry['name']}"] = path.name
            written.append(path)
    path = plots.scaling_plot(scaling.series(records), out / "scaling.png")
    if path is not None:
        charts["scaling"] = path.name
        written.append(path)
    written.insert(0, atomic_write_text(out / "results.md", render(results, charts)))
    return written
