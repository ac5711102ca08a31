"""The krr suite adapter: invocations per mode, and records (with ratios and agreement) from the script's lines."""

from pathlib import Path

from geognn.bench.records import attach_ratios
from geognn.bench.suites import SUITES, Options

SUITE = SUITES["krr"]


def _lines():
    common = dict(kind="time", n=2000, device="cpu", repeats=3)
    return [
        {"settings": True, "kernel": "laplacian"},
        {**common, "what": "kernel build", "library": "geognn", "impl": "geognn kernel_matrix", "median_s": 0.2,
         "min_s": 0.19, "max_s": 0.3, "peak_extra_MB": 40.0},
        {**common, "what": "kernel build", "library": "qmllib", "impl": "qmllib laplacian_kernel_symmetric",
         "median_s": 0.8, "min_s": 0.7, "max_s": 0.9, "peak_extra_MB": 30.0},
        {**common, "what": "kernel build", "library": "sklearn", "impl": "scikit-learn laplacian_kernel",
         "median_s": 5.0, "min_s": 5.0, "max_s": 5.0, "peak_extra_MB": None},
        {"kind": "agreement", "n": 2000, "library": "qmllib", "n_test": 1000, "max_abs_diff_eV": 4e-12},
        {"library": "sklearn", "skipped": "scikit-learn is not installed here"},
        {**common, "what": "cross-validation", "library": "geognn", "impl": "geognn CV, eigendecomposition",
         "median_s": 30.0, "min_s": 30.0, "max_s": 30.0, "grid": "3 sigmas x 8 lambdas x 5 folds"},
    ]


def test_quick_and_full_invocations_name_sizes_and_usable_peers():
    quick = SUITE.invocations(Options(suites=["krr"], out=Path("x"), quick=True), {"qmllib"}, Path("benchmarks"))
    full = SUITE.invocations(Options(suites=["krr"], out=Path("x")), {"qmllib", "sklearn"}, Path("benchmarks"))
    assert quick[0].script == "krr" and "1000,2000" in quick[0].args
    assert "geognn,qmllib" in quick[0].args
    assert "1000,2000,4000,8000,16000" in full[0].args and "geognn,qmllib,sklearn" in full[0].args


def test_records_carry_ratios_memory_and_the_agreement_with_each_peer():
    invocation = SUITE.invocations(Options(suites=["krr"], out=Path("x")), {"qmllib"}, Path("benchmarks"))[0]
    parsed = SUITE.parse(_lines(), invocation, Options(suites=["krr"], out=Path("x")), {"qmllib"})
    assert parsed.failed_peers == {"sklearn": "scikit-learn is not installed here"}
    records = parsed.records
    assert [r.library for r in records] == ["geognn", "qmllib", "geognn"]  # sklearn not usable: left out
    ours, qmllib, cv = records
    assert ours.primary and not cv.primary and ours.peak_memory_bytes == 40 * 2**20
    assert qmllib.extra["max_abs_prediction_diff_eV"] == 4e-12
    attach_ratios(records)
    assert ours.ratios[0]["peer"] == "qmllib laplacian_kernel_symmetric"
    assert abs(ours.ratios[0]["ratio"] - 4.0) < 1e-12 and abs(ours.ratios[0]["memory_ratio"] - 0.75) < 1e-12
