"""README's headline table and RESULTS.md's summary are generated from the results files of record."""

from pathlib import Path

import pytest

from geognn.bench import docs
from geognn.bench.results import load

from .conftest import kernel_records, make_results

ROOT = Path(__file__).resolve().parents[2]
RECORD = sorted((ROOT / "benchmarks" / "results").glob("*.json"))


def test_the_results_files_of_record_are_valid_and_say_where_their_figures_come_from():
    assert RECORD, "benchmarks/results/ holds the runs of record"
    for path in RECORD:
        run = load(path)  # raises on a malformed file
        assert run["command"] and run["machine"] and run["started"]
        if run["source"] == "transcribed":
            assert "benchmarks/RESULTS.md" in run["transcribed_from"]


def test_readme_and_results_md_tables_are_up_to_date_with_the_results_files():
    stale = docs.update([load(p) for p in RECORD], root=ROOT, check=True)
    assert stale == [], f"regenerate with: {docs.REGENERATE}"


def test_the_generated_tables_do_not_depend_on_the_order_of_the_files():
    runs = [load(p) for p in RECORD]
    assert docs.headline(runs) == docs.headline(runs[::-1])
    assert docs.summary(runs) == docs.summary(runs[::-1])


def test_a_region_is_replaced_between_its_markers_and_the_prose_around_it_is_kept():
    begin, end = docs.begin_marker("headline"), docs.end_marker("headline")
    text = f"prose before\n{begin}\nold table\n{end}\nprose after\n"
    new = docs.replace_region(text, "headline", "| new |")
    assert new == f"prose before\n{begin}\n| new |\n{end}\nprose after\n"
    assert docs.replace_region(new, "headline", "| new |") == new
    with pytest.raises(ValueError, match="no generated region 'summary'.*add the two lines"):
        docs.replace_region(text, "summary", "x")


def test_a_headline_measured_in_several_runs_shows_its_range_and_the_number_of_runs():
    runs = [make_results(kernel_records(scale=1.0), started="2026-12-01T10:00:00Z"),
            make_results(kernel_records(scale=1.5), started="2026-12-02T10:00:00Z")]
    table = docs.headline(runs)
    row = next(line for line in table.splitlines() if line.startswith("| message_sum"))
    assert "4.00–6.00 ms (2 runs)" in row and "**2.00–3.00×**" in row and "2026-12-01 to 2026-12-02, 2 runs" in row
    trailing = next(line for line in table.splitlines() if line.startswith("| scatter_max"))
    assert "0.50× ⚠ trails" in trailing
