"""Records: ratios are peer / geognn within one comparison, stored once, and files are checked."""

import pytest

from geognn.bench.records import Record, attach_ratios, validate_record


def rec(impl, library, median, setting="default", **kw):
    base = dict(suite="kernels", what="scatter_sum fwd, random index", size=1000, size_unit="edges")
    return Record(impl=impl, library=library, median=median, setting=setting, **{**base, **kw})


def test_a_ratio_is_peer_over_geognn_and_the_peers_faster_setting_is_marked():
    ours = rec("geognn", "geognn", 1.0, primary=True)
    slow, fast = rec("PyG", "pyg", 4.0, "default"), rec("PyG", "pyg", 2.0, "flush")
    attach_ratios([ours, slow, fast])
    by_setting = {e["setting"]: e for e in ours.ratios}
    assert by_setting["default"]["ratio"] == 4.0 and by_setting["flush"]["ratio"] == 2.0
    assert by_setting["flush"]["best_setting"] and not by_setting["default"]["best_setting"]
    assert slow.ratios == [] and fast.ratios == []  # only geognn records carry ratios


def test_records_of_other_sizes_or_devices_are_not_compared():
    ours = rec("geognn", "geognn", 1.0, primary=True)
    attach_ratios([ours, rec("index_add", "torch", 3.0, size=2000), rec("index_add", "torch", 3.0, device="cuda")])
    assert ours.ratios == []


def test_per_item_records_compare_figures_per_item_across_sizes():
    ours = rec("geognn", "geognn", 1.0, size=10_000, per_item=True, primary=True)
    ase = rec("ase", "ase", 1.0, size=1000, per_item=True)  # ten times slower per molecule
    attach_ratios([ours, ase])
    assert ours.ratios[0]["ratio"] == pytest.approx(10.0)


def test_the_primary_record_carries_the_suites_paired_ratio_and_the_memory_ratio():
    ours = rec("geognn", "geognn", 1.0, primary=True, peak_memory_bytes=100)
    other = rec("geognn, graph built once", "geognn", 0.9, peak_memory_bytes=100)
    peer = rec("unfused", "torch", 2.0, paired_ratio=2.2, peak_memory_bytes=400)
    attach_ratios([ours, other, peer])
    assert ours.ratios[0]["paired"] == 2.2 and ours.ratios[0]["memory_ratio"] == 4.0
    assert "paired" not in other.ratios[0]


def test_a_record_round_trips_through_its_dict_and_unknown_fields_are_refused():
    r = rec("geognn", "geognn", 1.0, min=0.9, max=1.2, repeats=3, extra={"features": 128})
    assert Record.from_dict(r.to_dict()) == r
    with pytest.raises(ValueError, match="unknown record fields"):
        Record.from_dict({**r.to_dict(), "speed": 3})


@pytest.mark.parametrize("change, problem", [
    ({"median": 2.0, "min": 0.5, "max": 1.0}, "outside [min, max]"),
    ({"median": -1.0}, "non-negative"),
    ({"median": None}, "neither a median"),
    ({"what": ""}, "non-empty string"),
    ({"bogus": 1}, "unknown record fields"),
])
def test_validation_names_what_is_wrong(change, problem):
    data = {**rec("geognn", "geognn", 1.0).to_dict(), **change}
    assert any(problem in p for p in validate_record(data))
    assert validate_record(rec("geognn", "geognn", 1.0).to_dict()) == []
