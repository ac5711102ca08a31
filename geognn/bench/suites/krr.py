"""Suite "krr": kernel ridge regression on Coulomb matrices beside qmllib and scikit-learn.

Runs ``benchmarks/krr.py``: the training kernel, the Cholesky solve and the
whole fit at N = 1,000 ... 16,000 QM9 molecules (--quick: 1,000 and 2,000)
on the same precomputed sorted_l2 Coulomb matrices, peak memory of each, the
agreement of the predictions with each peer (eV), and geognn's
cross-validation by repeated Cholesky against eigendecomposition. With
``--device cuda`` geognn's kernel, solve and fit run on the GPU and the peers
on the CPU (each record says its device, so ratios compare like with like).
"""

from __future__ import annotations

from pathlib import Path

from geognn.bench.records import Record
from geognn.bench.suites.base import Invocation, Options, Parsed, library_list

NAME = "krr"
DESCRIPTION = "kernel ridge regression (kernel build, Cholesky solve, fit) vs qmllib and scikit-learn KernelRidge"
PEERS = ("qmllib", "sklearn")
FEATURES = "Laplacian kernel, sorted_l2 Coulomb matrices of QM9 molecules"
HEADLINE = {"kernel build", "fit"}


def invocations(options: Options, usable: set[str], scripts_dir: Path) -> list[Invocation]:
    if options.quick:
        sizes, repeats, cv_sizes = "1000,2000", 3, "1000"
    else:
        sizes, repeats, cv_sizes = "1000,2000,4000,8000,16000", 3, "1000,2000"
    args = ["--sizes", sizes, "--repeats", str(repeats), "--cv-sizes", cv_sizes, "--threads", str(options.threads),
            "--libraries", library_list(PEERS, usable), "--device", options.device]
    return [Invocation("krr", args, f"N = {sizes.replace(',', ', ')} training molecules", {"sizes": sizes})]


def parse(lines: list[dict], invocation: Invocation, options: Options, usable: set[str]) -> Parsed:
    parsed = Parsed()
    agreement = {}
    for line in lines:
        if line.get("kind") == "agreement":
            agreement[(line["library"], line["n"])] = line["max_abs_diff_eV"]
    for line in lines:
        if "skipped" in line:
            parsed.failed_peers[line["library"]] = line["skipped"]
            continue
        if line.get("kind") != "time":
            continue
        library = line["library"]
        if library != "geognn" and library not in usable:
            continue
        what = line["what"]
        extra = {k: line[k] for k in ("grid", "chosen") if k in line}
        if library != "geognn" and (library, line["n"]) in agreement:
            extra["max_abs_prediction_diff_eV"] = agreement[(library, line["n"])]
        record = Record(
            suite=NAME, what=f"KRR {what}, {FEATURES}" if what != "cross-validation" else
            f"KRR 5-fold cross-validation ({line.get('grid', 'grid')}), {FEATURES}",
            impl=line["impl"], library=library, size=line["n"], size_unit="training molecules",
            device=line.get("device", options.device), median=line["median_s"], min=line["min_s"],
            max=line["max_s"], repeats=line["repeats"],
            primary=library == "geognn" and "eigendecomposition" not in line["impl"],
            headline=library == "geognn" and what in HEADLINE and line["n"] == 16000, extra=extra)
        if line.get("peak_extra_MB") is not None:
            record.peak_memory_bytes = int(line["peak_extra_MB"] * 2**20)
        parsed.records.append(record)
    return parsed
