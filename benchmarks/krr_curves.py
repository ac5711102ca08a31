"""The QM9 U0 learning curves of `geognn train --model krr` runs, together: one figure and one markdown table.

    python benchmarks/krr_curves.py runs/krr/sorted_l2-laplacian runs/krr/eigenspectrum-gaussian ... \\
        --figure benchmarks/krr_learning_curves.png

Reads each run's metrics.json (test MAE per training-set size, the chosen
sigma and lambda, fit times) and prints a markdown table with the fitted
slopes; the figure puts every curve on one pair of log-log axes, beside the
reference points of Rupp et al. 2012 and Hansen et al. 2013 given with
--reference. Fits nothing itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

KCAL_PER_MOL_IN_EV = 0.0433641  # 1 kcal/mol in eV


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="folders of finished `geognn train --model krr` runs")
    p.add_argument("--figure", type=Path, help="PNG to write (default: none)")
    p.add_argument("--target", default="U0")
    args = p.parse_args(argv)

    from geognn.krr.learning_curve import fit_power_law

    curves = []
    for run in args.runs:
        summary = json.loads((run / "metrics.json").read_text())
        config = summary["model_config"]
        history = summary["history"]
        sizes = [h["n_train"] for h in history]
        mae = [h[f"test_mae_{args.target}"] for h in history]
        copies = f" x{config['augment']}" if config["augment"] > 1 else ""
        label = f"{config['permutation']}{copies}, {config['kernel']}"
        curves.append((label, sizes, mae, fit_power_law(sizes, mae), history))
    all_sizes = sorted({n for _, sizes, _, _, _ in curves for n in sizes})
    print("| Coulomb matrix, kernel | " + " | ".join(f"N={n:,}" for n in all_sizes) + " | slope |")
    print("|---|" + "---:|" * (len(all_sizes) + 1))
    for label, sizes, mae, fit, _ in curves:
        by_size = dict(zip(sizes, mae))
        cells = [f"{by_size[n] * 1000:.0f}" if n in by_size else "" for n in all_sizes]
        print(f"| {label} | " + " | ".join(cells) + f" | {fit['slope']:.2f} |")
    print("\n(test MAE in meV on the same 10,000 QM9 molecules)\n")
    print("| Coulomb matrix, kernel | N | sigma | lambda | cross-validation s | fit s (incl. CV) | predict s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, _, _, _, history in curves:
        for h in history:
            print(f"| {label} | {h['n_train']:,} | {h['sigma']:.4g} | {h['lambda']:g} | {h['cv_time_s']:.0f} | "
                  f"{h['fit_time_s']:.0f} | {h['predict_time_s']:.1f} |")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from geognn.train.checkpoint import atomic_write_bytes

        fig, ax = plt.subplots(figsize=(7, 5))
        for k, (label, sizes, mae, fit, _) in enumerate(curves):
            style = "--" if "gaussian" in label else "-"
            ax.plot(sizes, [m * 1000 for m in mae], style, marker="o", color=f"C{k % 10}",
                    label=f"{label} (slope {fit['slope']:.2f})")
        # Published points (different data sets: QM7/GDB-7, about 7,000 molecules): see benchmarks/RESULTS.md.
        ax.plot([7000], [10 * KCAL_PER_MOL_IN_EV * 1000], "k*", ms=11, label="Rupp 2012, eigenspectrum (GDB-7)")
        ax.plot([5732], [3.07 * KCAL_PER_MOL_IN_EV * 1000], "kP", ms=9, label="Hansen 2013, random CM, Laplacian (QM7)")
        ax.set(xscale="log", yscale="log", xlabel="training molecules N", ylabel="QM9 U0 test MAE (meV)",
               title="KRR on Coulomb matrices, QM9 U0")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        atomic_write_bytes(args.figure, lambda f: fig.savefig(f, format="png", dpi=120))
        plt.close(fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
