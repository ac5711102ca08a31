"""results.md and the charts: what they say, and the same bytes every time."""

import pytest

from geognn.bench import fmt, report, scaling
from geognn.bench.results import records as results_records
from geognn.bench.results import validate

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_report_bolds_where_geognn_leads_and_flags_where_it_trails(results):
    text = report.render(results)
    assert "## kernels" in text and "Test CPU" in text and "0.50 before, 0.70 after" in text
    assert "| message_sum fwd+bwd, random index | 4,000 edges | geognn |" in text
    assert "**3.00×**" in text  # unfused / geognn at every size
    assert "0.50× ⚠ trails" in text  # scatter_max: the peer is twice as fast


def test_an_absent_peer_appears_in_the_report_with_its_install_command(results):
    text = report.render(results)
    assert "| torch-scatter | kernels | absent | `pip install torch-scatter` |" in text
    assert "bash benchmarks/setup_peers.sh" in text


def test_rendering_is_deterministic_and_writes_markdown_and_pngs(results, tmp_path):
    assert validate(results) == []
    first = report.write_report(results, tmp_path / "a")
    second = report.write_report(results, tmp_path / "b")
    assert [p.name for p in first] == ["results.md", "ratios_kernels.png", "scaling.png"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()
    assert all(p.read_bytes().startswith(PNG) for p in first[1:])
    assert "![scaling](scaling.png)" in first[0].read_text()


def test_the_scaling_slope_of_a_power_law_is_its_exponent(results):
    series = scaling.series(results_records(results))
    assert {s.impl for s in series} == {"geognn", "unfused + index_add"}  # scatter_max has one size only
    for s in series:
        assert s.sizes == [1000.0, 2000.0, 4000.0] and s.slope() == pytest.approx(1.0)
    slope, _ = scaling.fit_slope([1, 2, 4], [1, 4, 16])
    assert slope == pytest.approx(2.0)


@pytest.mark.parametrize("seconds, text", [(2.338, "2,338 ms"), (0.059, "59.0 ms"), (0.963, "963 ms"),
                                           (12.5, "12.5 s"), (2.2e-6, "2.20 µs"), (3.05e-4, "305 µs")])
def test_durations_keep_three_significant_figures(seconds, text):
    assert fmt.duration(seconds) == text


@pytest.mark.parametrize("ratios, text", [([2.43], "**2.43×**"), ([0.42], "0.42× ⚠ trails"), ([1.001], "1.00×"),
                                          ([1.58, 1.95], "**1.58–1.95×**"),
                                          ([0.9, 1.2, 1.3], "0.90–1.30× ⚠ trails in 1 of 3 runs")])
def test_ratios_are_bold_when_geognn_leads_and_flagged_when_it_trails(ratios, text):
    assert fmt.ratio_range(ratios) == text
