"""Kernel ridge regression benchmarks: geognn beside qmllib and scikit-learn on the same features, in one run.

    python benchmarks/krr.py                                  # N = 1,000 ... 16,000, 2 threads
    python benchmarks/krr.py --sizes 1000,2000 --repeats 3    # quick
    python benchmarks/krr.py --device cuda                    # geognn's fit on a GPU beside the CPU peers

All three get the same precomputed features: sorted_l2 Coulomb matrices
(n_atoms_max 29, upper triangle, float64) of random QM9 molecules (seed 0),
U0 atomization energies in eV, a Laplacian kernel with sigma 4000 and lambda
1e-8 (values near what cross-validation picks on this data). Measured at
each training-set size N:

- kernel build: the symmetric N x N training kernel (geognn ``kernel_matrix``,
  qmllib ``laplacian_kernel_symmetric``, scikit-learn
  ``metrics.pairwise.laplacian_kernel``);
- solve: (K + lambda I) alpha = y from a precomputed K (geognn ``solve_in_place``
  on a copy made outside the timer, as its fit builds K where it factorises it;
  qmllib ``cho_solve``, which also restores its input; scikit-learn
  ``KernelRidge(kernel="precomputed").fit``);
- fit: features to coefficients (geognn ``KernelRidge.fit_features``, qmllib
  kernel + ``cho_solve``, scikit-learn ``KernelRidge(kernel="laplacian").fit``);
- agreement: the largest difference of the test predictions (eV) between
  geognn and each peer on the same features and hyperparameters;
- cross-validation: geognn's 5-fold grid search (3 sigmas x 8 lambdas) by
  repeated Cholesky and by eigendecomposition, at --cv-sizes.

Implementations run in turn (A B C A B C ...) for --repeats rounds after one
warm-up. Peak memory is measured in a fresh subprocess per implementation and
size: the peak RSS (CPU, sampled every millisecond) or torch's peak allocation (CUDA) above what was in
use once the features existed. One JSON line per measurement; never asserts
on time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # geognn from this checkout (.venv-bench has none)


def _set_threads(threads: int) -> None:
    # Before numpy, torch and qmllib start their thread pools: OpenMP (qmllib), OpenBLAS/MKL (scikit-learn's
    # and numpy's BLAS) and torch all use the same number of threads.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000,2000,4000,8000,16000", help="training-set sizes N (molecules)")
    p.add_argument("--n-test", type=int, default=1000, help="test molecules for the agreement check")
    p.add_argument("--repeats", type=int, default=3, help="timed rounds per size after a warm-up (default: 3)")
    p.add_argument("--large-repeats", type=int, default=1,
                   help="timed rounds from N = 8,000 on, where one fit takes minutes (default: 1)")
    p.add_argument("--libraries", default="geognn,qmllib,sklearn", help="comma-separated, from geognn,qmllib,sklearn")
    p.add_argument("--sklearn-max", type=int, default=4000,
                   help="largest N scikit-learn is timed at (its fit of 2,000 took 6 s here, and grows as N^3)")
    p.add_argument("--memory-max", type=int, default=8000,
                   help="largest N whose peak memory is probed (each probe repeats the call; beyond it the N x N "
                        "float64 matrix, 8 N^2 bytes, is what each library holds)")
    p.add_argument("--cv-sizes", default="1000,2000", help="sizes of the cross-validation timing ('' for none)")
    p.add_argument("--threads", type=int, default=2, help="threads for every library (default: 2)")
    p.add_argument("--device", default="cpu", help="device of geognn's fit: cpu or cuda (peers run on the CPU)")
    p.add_argument("--sigma", type=float, default=4000.0, help="Laplacian kernel width (e^2/Å)")
    p.add_argument("--lam", type=float, default=1e-8, help="regulariser lambda")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    p.add_argument("--probe", help=argparse.SUPPRESS)        # internal: LIBRARY,WHAT,N,FEATURES_FILE
    return p.parse_args(argv)


ARGS = _args()
_set_threads(ARGS.threads)

import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(ARGS.threads)

LABELS = {
    ("kernel build", "geognn"): "geognn kernel_matrix",
    ("kernel build", "qmllib"): "qmllib laplacian_kernel_symmetric",
    ("kernel build", "sklearn"): "scikit-learn laplacian_kernel",
    ("solve", "geognn"): "geognn solve_in_place (torch Cholesky)",
    ("solve", "qmllib"): "qmllib cho_solve",
    ("solve", "sklearn"): "scikit-learn KernelRidge(precomputed).fit",
    ("fit", "geognn"): "geognn KernelRidge.fit_features",
    ("fit", "qmllib"): "qmllib laplacian_kernel_symmetric + cho_solve",
    ("fit", "sklearn"): "scikit-learn KernelRidge(laplacian).fit",
}


def emit(**fields):
    print(json.dumps(fields), flush=True)


def load_features(n_total: int):
    """sorted_l2 Coulomb matrices (n_total, 435) float64 and U0 (n_total,) eV of random QM9 molecules (seed 0)."""
    from geognn.data import QM9
    from geognn.featurize.coulomb import CoulombMatrix

    qm9 = QM9("U0", progress=False)
    chosen = np.random.default_rng(0).choice(len(qm9), size=n_total, replace=False)
    data = [qm9[int(i)] for i in chosen]
    cm = CoulombMatrix(29, permutation="sorted_l2", flatten=True, dtype=torch.float64)
    x = cm.create([(d.z.numpy(), d.pos.double().numpy()) for d in data])
    y = torch.cat([d.y[:, 0] for d in data]).double()
    return x, y


def peer_modules(libraries):
    mods = {}
    if "qmllib" in libraries:
        try:
            import qmllib.kernels
            import qmllib.solvers

            mods["qmllib"] = qmllib
        except ImportError as err:
            emit(library="qmllib", skipped=f"qmllib is not installed here ({err})")
    if "sklearn" in libraries:
        try:
            import sklearn.kernel_ridge
            import sklearn.metrics.pairwise

            mods["sklearn"] = sklearn
        except ImportError as err:
            emit(library="sklearn", skipped=f"scikit-learn is not installed here ({err})")
    return mods


# --- one call of each implementation ---------------------------------------------------------------
def prepare(library, what, x, y, device):
    """A no-argument callable running one implementation once; its inputs are made here, outside any timer."""
    from geognn.krr import kernel_matrix, solve_in_place
    from geognn.models import KernelRidge

    sigma, lam = ARGS.sigma, ARGS.lam
    xn, yc = x.numpy(), (y - y.mean()).numpy()
    if what == "solve":
        # The same K for everyone (geognn's equals qmllib's to 1e-16, see the agreement lines).
        k = kernel_matrix(x.to(device) if library == "geognn" else x, None, "laplacian", sigma)
        prepared = k if library == "geognn" else k.numpy()
    if library == "geognn":
        xd, yd = x.to(device), torch.from_numpy(yc).to(device)
        if what == "kernel build":
            return lambda: kernel_matrix(xd, None, "laplacian", sigma)
        if what == "solve":
            return lambda: solve_in_place(prepared, yd, lam)
        return lambda: KernelRidge(sigma=sigma, regularization=lam).fit_features(x, y, device=device)
    if library == "qmllib":
        import qmllib.kernels
        import qmllib.solvers

        if what == "kernel build":
            return lambda: qmllib.kernels.laplacian_kernel_symmetric(xn, sigma)
        if what == "solve":
            return lambda: qmllib.solvers.cho_solve(prepared, yc, l2reg=lam)
        return lambda: qmllib.solvers.cho_solve(qmllib.kernels.laplacian_kernel_symmetric(xn, sigma), yc, l2reg=lam)
    import sklearn.kernel_ridge
    import sklearn.metrics.pairwise

    if what == "kernel build":
        return lambda: sklearn.metrics.pairwise.laplacian_kernel(xn, gamma=1.0 / sigma)
    if what == "solve":
        return lambda: sklearn.kernel_ridge.KernelRidge(alpha=lam, kernel="precomputed").fit(prepared, yc)
    return lambda: sklearn.kernel_ridge.KernelRidge(alpha=lam, kernel="laplacian", gamma=1.0 / sigma).fit(xn, yc)


def run_once(library, what, x, y, device):
    """Seconds of one call of an implementation (its inputs prepared outside the timer)."""
    call = prepare(library, what, x, y, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    result = call()
    sync()
    seconds = time.perf_counter() - start
    del result, call
    return seconds


def agreement(x_train, y_train, x_test, libraries, device):
    """Largest |prediction difference| (eV) on the test molecules between geognn and each peer (same model)."""
    from geognn.models import KernelRidge

    sigma, lam = ARGS.sigma, ARGS.lam
    ours = KernelRidge(sigma=sigma, regularization=lam).fit_features(x_train, y_train, device=device)
    pred = ours.predict_features(x_test)[:, 0].numpy()
    mean = float(y_train.mean())
    out = {}
    if "qmllib" in libraries:
        import qmllib.kernels
        import qmllib.solvers

        alpha = qmllib.solvers.cho_solve(qmllib.kernels.laplacian_kernel_symmetric(x_train.numpy(), sigma),
                                         (y_train - y_train.mean()).numpy(), l2reg=lam)
        theirs = qmllib.kernels.laplacian_kernel(x_test.numpy(), x_train.numpy(), sigma) @ alpha + mean
        out["qmllib"] = float(np.abs(theirs - pred).max())
    if "sklearn" in libraries and len(x_train) <= ARGS.sklearn_max:
        import sklearn.kernel_ridge

        model = sklearn.kernel_ridge.KernelRidge(alpha=lam, kernel="laplacian", gamma=1.0 / sigma)
        model.fit(x_train.numpy(), (y_train - y_train.mean()).numpy())
        out["sklearn"] = float(np.abs(model.predict(x_test.numpy()) + mean - pred).max())
    return out


def _current_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _RssPeak:
    """The largest RSS seen while the block runs, sampled every millisecond on a thread.

    The process's lifetime peak (getrusage) would report the imports' peak for a small call.
    """

    def __enter__(self):
        import threading

        self.peak = _current_rss()
        self._stop = threading.Event()

        def sample():
            while not self._stop.is_set():
                self.peak = max(self.peak, _current_rss())
                self._stop.wait(0.001)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _current_rss())
        return False


def probe(spec: str) -> None:
    """In a fresh process: the peak memory of one call above what was in use before it."""
    library, what, n, path = spec.split(",")
    saved = torch.load(path, weights_only=True)
    x, y = saved["x"][: int(n)], saved["y"][: int(n)]
    device = torch.device(ARGS.device if library == "geognn" else "cpu")
    run_once(library, what, x[:50], y[:50], device)  # code loaded (numba's cache, LAPACK) before measuring
    call = prepare(library, what, x, y, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        call()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        base = _current_rss()
        with _RssPeak() as rss:
            call()
        peak = rss.peak - base
    print(json.dumps({"peak_extra_bytes": max(0, int(peak))}), flush=True)


def peak_memory(library, what, n, path):
    command = [sys.executable, os.path.abspath(__file__), "--probe", f"{library},{what},{n},{path}",
               "--threads", str(ARGS.threads), "--device", ARGS.device, "--sigma", str(ARGS.sigma),
               "--lam", str(ARGS.lam)]
    done = subprocess.run(command, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)["peak_extra_bytes"]
    return None


def main() -> int:
    if ARGS.probe:
        probe(ARGS.probe)
        return 0
    from geognn.krr import cross_validate, pairwise_distances

    sizes = [int(s) for s in ARGS.sizes.split(",") if s.strip()]
    cv_sizes = [int(s) for s in ARGS.cv_sizes.split(",") if s.strip()]
    libraries = [s.strip() for s in ARGS.libraries.split(",") if s.strip()]
    device = torch.device(ARGS.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here")
    mods = peer_modules(libraries)
    libraries = ["geognn"] + [lib for lib in libraries if lib in mods]
    n_max = max(sizes + cv_sizes)
    x_all, y_all = load_features(n_max + ARGS.n_test)
    x_test, x_pool, y_pool = x_all[:ARGS.n_test], x_all[ARGS.n_test:], y_all[ARGS.n_test:]
    emit(settings=True, features="sorted_l2 Coulomb matrices, n_atoms_max 29, upper triangle, float64",
         kernel="laplacian", sigma=ARGS.sigma, lam=ARGS.lam, threads=ARGS.threads, device=str(device),
         libraries=libraries, torch=torch.__version__,
         gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None)
    # Warm-up: numba compiles (or loads its cache), every library touches its code once.
    for lib in libraries:
        for what in ("kernel build", "solve", "fit"):
            run_once(lib, what, x_pool[:200], y_pool[:200], device if lib == "geognn" else torch.device("cpu"))
    tmp = tempfile.NamedTemporaryFile(suffix=".pt", delete=False)
    torch.save({"x": x_pool, "y": y_pool}, tmp.name)
    try:
        for n in sizes:
            x, y = x_pool[:n], y_pool[:n]
            repeats = ARGS.repeats if n < 8000 else ARGS.large_repeats
            for what in ("kernel build", "solve", "fit"):
                active = [lib for lib in libraries if not (lib == "sklearn" and n > ARGS.sklearn_max)]
                times = {lib: [] for lib in active}
                for _ in range(repeats):
                    for lib in active:
                        times[lib].append(run_once(lib, what, x, y, device if lib == "geognn" else torch.device("cpu")))
                for lib in active:
                    probe_it = not ARGS.no_memory and n <= ARGS.memory_max
                    memory = peak_memory(lib, what, n, tmp.name) if probe_it else None
                    t = times[lib]
                    emit(kind="time", what=what, library=lib, impl=LABELS[(what, lib)], n=n,
                         device=str(device) if lib == "geognn" else "cpu", median_s=statistics.median(t),
                         min_s=min(t), max_s=max(t), repeats=len(t),
                         peak_extra_MB=None if memory is None else round(memory / 2**20, 1))
            for lib, diff in agreement(x, y, x_test, libraries, device).items():
                emit(kind="agreement", n=n, library=lib, n_test=ARGS.n_test, max_abs_diff_eV=diff)
        for n in cv_sizes:
            x, y = x_pool[:n], y_pool[:n]
            distances = pairwise_distances(x.to(device), None, "l1")
            sigmas = [ARGS.sigma / 4, ARGS.sigma, ARGS.sigma * 4]
            lambdas = [10.0 ** e for e in range(-14, 0, 2)] + [1e-1]
            times, choices = {}, {}
            for method in ("cholesky", "eigh"):
                start = time.perf_counter()
                result = cross_validate(x, y, "laplacian", sigmas, lambdas, folds=5, method=method, device=device,
                                        distances=distances)
                times[method] = time.perf_counter() - start
                choices[method] = (result.best_sigma, result.best_lambda)
            for method, label in (("cholesky", "repeated Cholesky"), ("eigh", "eigendecomposition")):
                emit(kind="time", what="cross-validation", library="geognn", impl=f"geognn CV, {label}", n=n,
                     device=str(device), median_s=times[method], min_s=times[method], max_s=times[method], repeats=1,
                     grid=f"{len(sigmas)} sigmas x {len(lambdas)} lambdas x 5 folds",
                     chosen={"sigma": choices[method][0], "lambda": choices[method][1]})
    finally:
        os.unlink(tmp.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
