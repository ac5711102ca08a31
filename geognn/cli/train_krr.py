"""``geognn train --model krr``: kernel ridge regression on Coulomb matrices, one fit per training-set size.

Every size of ``--n-train 1000,2000,4000`` is a nested prefix of one seeded
training pool, evaluated on the same validation and test molecules, so the
sizes give a learning curve (test MAE against N, log-log, with its fitted
slope). Outputs in ``--out``: ``krr-n<N>.pt`` per size, ``best.pt`` (the size
with the lowest validation error), ``metrics.csv`` (one row per size),
``metrics.json`` (test metrics of best.pt, the curve and its slopes, the
cross-validation grids and choices), ``learning_curve.png`` and ``parity.png``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

KRR_MODELS = ("krr",)
# Validation and test molecules when not given: predicting 10,000 molecules against 16,000 training
# molecules takes seconds, the rest of QM9 (110,000) ten times longer at every size.
DEFAULT_N_VAL = 1000
DEFAULT_N_TEST = 10_000


def add_options(parser) -> None:
    """The kernel ridge regression options of ``geognn train`` (their own group in ``--help``)."""
    from geognn.featurize.coulomb import PERMUTATIONS
    from geognn.krr import CV_METHODS, KERNELS
    from geognn.models.kernel_ridge import DEFAULT_CV_SIZE

    group = parser.add_argument_group(
        "kernel ridge regression (with --model krr; --n-train takes a comma-separated list of sizes, each fitted "
        f"in turn; --n-val defaults to {DEFAULT_N_VAL:,}, --n-test to {DEFAULT_N_TEST:,})")
    group.add_argument("--kernel", choices=KERNELS, default="laplacian",
                       help="laplacian: exp(-|x-x'|_1/sigma); gaussian: exp(-|x-x'|_2^2/(2 sigma^2)) (default: laplacian)")
    group.add_argument("--permutation", choices=PERMUTATIONS, default="sorted_l2",
                       help="atom order of the Coulomb matrix: sorted_l2 (rows by norm), sorted_canonical (the same "
                            "matrix for every atom order), random (randomly sorted, with --augment copies per "
                            "training molecule), eigenspectrum (sorted eigenvalues), none (input order) "
                            "(default: sorted_l2)")
    group.add_argument("--augment", type=int, default=None,
                       help="with --permutation random: random matrices per training molecule (Hansen et al. 2013); "
                            "the kernel grows with its square (default: 5 for random, else 1)")
    group.add_argument("--random-noise", type=float, default=1.0,
                       help="with --permutation random: width of the noise added to the row norms before sorting, "
                            "in e^2/Å (default: 1.0)")
    group.add_argument("--predict-samples", type=int, default=None,
                       help="with --permutation random: random matrices averaged per prediction (default: --augment)")
    group.add_argument("--n-atoms-max", type=int, default=None,
                       help="size of the Coulomb matrices (default: the largest molecule of the data, 29 for QM9)")
    group.add_argument("--distance-unit", choices=["angstrom", "bohr"], default="angstrom",
                       help="distances of the Coulomb matrix entries Z_i Z_j / r (default: angstrom)")
    group.add_argument("--sigma", default=None, metavar="S[,S...]",
                       help="kernel width(s) in feature units: one value fixes it, several are the cross-validation "
                            "grid (default: 2^-1 .. 2^9 times the median distance of the data)")
    group.add_argument("--lambda", dest="regularization", default=None, metavar="L[,L...]",
                       help="regulariser(s) added to the kernel diagonal: one value fixes it, several are the grid "
                            "(default: 1e-14, 1e-12, ..., 1e-2)")
    group.add_argument("--cv-folds", type=int, default=5, help="folds of the cross-validation (default: 5)")
    group.add_argument("--cv-size", type=int, default=DEFAULT_CV_SIZE,
                       help=f"training molecules (drawn at random) the cross-validation runs on; the fit uses all "
                            f"(default: {DEFAULT_CV_SIZE})")
    group.add_argument("--cv-method", choices=CV_METHODS, default="auto",
                       help="solves of the cross-validation: cholesky (one per lambda), eigh (one eigendecomposition "
                            "per fold), auto (eigh for grids of more than 14 lambdas, where it was faster here, else "
                            "cholesky) (default: auto)")
    group.add_argument("--memory-limit", type=float, default=None, metavar="GiB",
                       help="memory the kernel matrices may use (default: 90%% of the memory free on the device)")


def parse_sizes(text) -> list[int]:
    """``"1000,2000"`` -> [1000, 2000]; the type of ``--n-train`` (one size for every other model)."""
    if isinstance(text, int):
        return [text]
    if isinstance(text, (list, tuple)):
        return [int(v) for v in text]
    sizes = []
    for part in str(text).split(","):
        part = part.strip().replace("_", "")
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise ValueError(f"--n-train takes positive integers (comma-separated for --model krr), got {text!r}")
        sizes.append(int(part))
    if not sizes:
        raise ValueError(f"--n-train takes positive integers, got {text!r}")
    return sizes


def _floats(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{option} takes comma-separated numbers, got {text!r}") from None
    if not values:
        raise ValueError(f"{option} takes comma-separated numbers, got {text!r}")
    return values


def _molecule_sets(args, targets, sizes, n_val, n_test, progress, seed):
    """(pool, val, test, units, info): lists of (z, pos, y) of QM9 or of a --data file."""
    from geognn.data import QM9, random_split

    if args.dataset == "qm9":
        dataset = QM9(list(targets), limit=args.qm9_limit, progress=progress)
        # Test molecules first, then validation, then the training pool: every run of one seed (whatever its
        # sizes) is then tested on the same molecules, so learning curves of separate runs compare.
        split = random_split(len(dataset), (n_test, n_val, None), seed=args.split_seed)
        pool = split.test[:max(sizes)]
        pick = lambda idx: [_record(dataset[int(i)]) for i in idx]  # noqa: E731
        info = {"dataset": "qm9", "atomization": True, "split_seed": args.split_seed, "split": "test, validation, "
                "training pool in the order of random_split(n, (n_test, n_val, None), seed)",
                "qm9_molecules": len(dataset), "n_train": len(pool), "n_val": len(split.valid),
                "n_test": len(split.train)}
        return pick(pool), pick(split.valid), pick(split.train), dataset.units, info
    from geognn.cli.datasets import file_sets
    from geognn.cli.inputs import report_skipped

    if not args.target_column:
        raise ValueError("--data needs --target-column: the column / SDF property / extxyz key holding the target")
    train, val, test, skipped, info = file_sets(args.data, targets, args.smiles_column, (max(sizes), n_val, n_test),
                                                args.split_seed, cutoff=1.0, conformer_seed=seed)
    report_skipped(skipped, sys.stderr)
    return ([_record(d) for d in train], [_record(d) for d in val], [_record(d) for d in test],
            [args.target_unit] * len(targets), info)


def _record(data):
    import torch

    return data.z.numpy(), data.pos.to(torch.float64).numpy(), data.y.reshape(-1).to(torch.float64)


def run_train_krr(args, config) -> int:
    """Fits one KernelRidge per --n-train size; writes checkpoints, metrics, the learning curve and parity plot."""
    import torch
    from tqdm.auto import tqdm

    from geognn.krr.learning_curve import fit_power_law, plot_learning_curve
    from geognn.models import KernelRidge
    from geognn.train.checkpoint import save_checkpoint
    from geognn.train.metrics import write_json, write_metrics_csv
    from geognn.train.plots import plot_parity

    if args.resume:
        raise ValueError("--resume continues epochs of a trained network; a kernel model is fitted in one solve, "
                         "so run the command again without --resume")
    if args.dataset not in (None, "qm9"):
        raise ValueError(f"--dataset {args.dataset!r}: --model krr fits molecules: --dataset qm9 or --data FILE")
    sizes = sorted(set(parse_sizes(args.n_train if args.n_train is not None else 1000)))
    device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available()
                          else "cpu" if config.device == "auto" else config.device)
    permutation = args.permutation
    augment = args.augment if args.augment is not None else (5 if permutation == "random" else 1)
    if augment > 1 and permutation != "random":
        raise ValueError(f"--augment {augment} needs --permutation random (the other permutations give one matrix "
                         f"per molecule)")
    sigmas, lambdas = _floats(args.sigma, "--sigma"), _floats(args.regularization, "--lambda")
    targets = [t.strip() for t in (args.target if args.dataset == "qm9" else args.target_column or "").split(",")
               if t.strip()]
    n_val = DEFAULT_N_VAL if args.n_val is None else args.n_val
    n_test = DEFAULT_N_TEST if args.n_test is None else args.n_test
    if n_val + n_test == 0:
        raise ValueError("--model krr needs validation or test molecules (--n-val, --n-test) to evaluate each size")
    pool, val, test, units, info = _molecule_sets(args, targets, sizes, n_val, n_test, config.progress, config.seed)
    if len(pool) < sizes[-1]:
        raise ValueError(f"--n-train {sizes[-1]} but only {len(pool)} training molecules are available")
    # QM9's largest molecule has 29 atoms: the model then takes every QM9 molecule, whatever the subset.
    largest = max(len(z) for z, _, _ in pool + val + test)
    n_atoms_max = args.n_atoms_max or (max(29, largest) if args.dataset == "qm9" else largest)
    options = dict(sigmas=sigmas, lambdas=lambdas, folds=args.cv_folds, cv_size=args.cv_size,
                   cv_method=args.cv_method, device=device, progress=config.progress,
                   memory_limit=None if args.memory_limit is None else int(args.memory_limit * 2**30))
    model_options = dict(kernel=args.kernel, permutation=permutation, n_atoms_max=n_atoms_max,
                         num_targets=len(targets), distance_unit=args.distance_unit, augment=augment,
                         random_noise=args.random_noise, predict_samples=args.predict_samples, seed=config.seed,
                         sigma=sigmas[0] if sigmas and len(sigmas) == 1 else None,
                         regularization=lambdas[0] if lambdas and len(lambdas) == 1 else None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"geognn: kernel ridge regression ({args.kernel} kernel, {permutation} Coulomb matrices"
          f"{f', {augment} random matrices per molecule' if augment > 1 else ''}) on {', '.join(map(str, sizes))} "
          f"training molecules (validation {len(val)}, test {len(test)}), targets "
          f"{', '.join(f'{t} ({u})' for t, u in zip(targets, units))}, device {device}, "
          f"{torch.get_num_threads()} thread(s)", file=sys.stderr)
    y_val = torch.stack([y for _, _, y in val]) if val else None
    y_test = torch.stack([y for _, _, y in test]) if test else None
    history, checkpoints, cv_runs, best, test_predictions = [], {}, {}, None, {}
    bar = tqdm(sizes, desc="training-set sizes", unit="fit", disable=not config.progress)
    for n in bar:
        bar.set_postfix(n=n)
        train = pool[:n]
        y_train = torch.stack([y for _, _, y in train])
        model = KernelRidge(**model_options)
        t0 = time.perf_counter()
        model.fit([(z, pos) for z, pos, _ in train], y_train, **options)
        fit_s = time.perf_counter() - t0
        row = {"n_train": n, "train_rows": model.num_train_rows, "sigma": model.sigma,
               "lambda": model.regularization, "fit_time_s": fit_s,
               "cv_time_s": model.cv_result.seconds if model.cv_result else 0.0}
        t0 = time.perf_counter()
        for name, molecules, reference in (("val", val, y_val), ("test", test, y_test)):
            if not molecules:
                continue
            pred = model.predict_molecules([(z, pos) for z, pos, _ in molecules])
            for k, t in enumerate(targets):
                err = pred[:, k] - reference[:, k]
                row[f"{name}_mae_{t}"] = float(err.abs().mean())
                row[f"{name}_rmse_{t}"] = float(err.square().mean().sqrt())
            if name == "test":
                test_predictions[n] = pred
        row["predict_time_s"] = time.perf_counter() - t0
        if model.cv_result is not None:
            cv_runs[str(n)] = model.cv_result.to_dict(targets)
            for warning in model.cv_result.warnings:
                print(f"geognn: N={n}: cross-validation: {warning}", file=sys.stderr)
        history.append(row)
        state = {"model_name": "krr", "model_config": model.config(), "model_state": model.state_dict(),
                 "target_names": targets, "target_units": units, "info": {**info, "n_train": n},
                 "task": "molecule_regression", "selection_metric": "val_mae", "best_epoch": None,
                 "cross_validation": cv_runs.get(str(n)), "train_config": config.to_dict()}
        checkpoints[n] = out / f"krr-n{n}.pt"
        save_checkpoint(checkpoints[n], state)
        score = _selection_score(row, targets, y_train)
        if best is None or score < best[0]:
            best = (score, n, state)
        write_metrics_csv(out / "metrics.csv", history)
        print(f"geognn: N={n}: sigma {model.sigma:.6g}, lambda {model.regularization:g}, fit {fit_s:.1f} s; "
              + ", ".join(f"{t} test MAE {row.get(f'test_mae_{t}', float('nan')):.4g} {u}"
                          for t, u in zip(targets, units)), file=sys.stderr)
    bar.close()
    _, best_n, best_state = best
    save_checkpoint(out / "best.pt", best_state)
    evaluated_on = "test" if test else "validation"
    prefix = "test" if test else "val"
    best_row = next(r for r in history if r["n_train"] == best_n)
    metrics = {k[len(prefix) + 1:]: v for k, v in best_row.items() if k.startswith(f"{prefix}_")}
    curve = {t: [r.get(f"{prefix}_mae_{t}") for r in history] for t in targets}
    fits = {t: fit_power_law(sizes, curve[t]) for t in targets}
    plot_learning_curve(sizes, curve, units, out / "learning_curve.png",
                        title=f"KRR, {args.kernel} kernel, {permutation} Coulomb matrix",
                        label=f"{evaluated_on} MAE")
    if test:
        plot_parity(test_predictions[best_n].numpy(), y_test.numpy(), targets, units, out / "parity.png",
                    title=f"test set, KRR N={best_n}")
    summary = {"model_name": "krr", "task": "molecule_regression", "evaluated_on": evaluated_on,
               "best_n_train": best_n, "best_epoch": None, "epochs_run": None, "metrics": metrics,
               "learning_curve": {"sizes": sizes, f"{prefix}_mae": curve, "fits": fits},
               "cross_validation": cv_runs, "model_config": best_state["model_config"],
               "info": {**info, "n_train": best_n}, "train_config": config.to_dict(), "history": history,
               "checkpoints": {str(n): p.name for n, p in checkpoints.items()}}
    write_json(out / "metrics.json", summary)
    print(f"geognn: best N={best_n} (lowest validation error); {evaluated_on} set:")
    for t, u in zip(targets, units):
        slope = fits[t]["slope"]
        print(f"  {t}: MAE {metrics[f'mae_{t}']:.5g} {u}, RMSE {metrics[f'rmse_{t}']:.5g} {u}"
              + (f"; learning-curve slope {slope:.3f}" if slope is not None else ""))
    print(f"  outputs in {out}/ (best.pt, krr-n*.pt, metrics.csv, metrics.json, learning_curve.png, parity.png)")
    return 0


def _selection_score(row, targets, y_train) -> float:
    """Mean over targets of validation MAE / std of the training targets (test MAE when there is no validation)."""
    prefix = "val" if f"val_mae_{targets[0]}" in row else "test"
    spread = y_train.std(dim=0, unbiased=False).clamp_min(1e-12)
    return sum(row[f"{prefix}_mae_{t}"] / float(spread[k]) for k, t in enumerate(targets)) / len(targets)
