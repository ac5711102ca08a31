#!/usr/bin/env bash
# The geognn demo (`make demo`): train a small SchNet on a QM9 subset for a few minutes on a CPU,
# then predict the atomization energy U0 and the HOMO-LUMO gap of a handful of molecules given as
# SMILES, print them as a table with units, and say where the plots are.
#
#   scripts/demo.sh [VENV_BIN]     VENV_BIN: folder holding `geognn` and `python` (default: from PATH)
#
# Sizes can be shrunk for a quick check. The defaults are the real demo: 197 s on 2 idle cores (measured
# 2026-11-22; one epoch of 20000 molecules 9 s), much longer when other jobs compete for the cores:
#   DEMO_N_TRAIN=20000 DEMO_N_VAL=1000 DEMO_N_TEST=1000 DEMO_EPOCHS=20 DEMO_OUT=runs/demo
#   DEMO_QM9_LIMIT=N draws the molecules from the first N of QM9 only (default: all 130831)
set -euo pipefail

bin_dir="${1:-}"
if [[ -n "$bin_dir" ]]; then
    geognn="$bin_dir/geognn"
    python="$bin_dir/python"
    if [[ ! -x "$geognn" ]]; then
        echo "demo: no geognn in $bin_dir; install geognn there first (make install), or pass the right folder" >&2
        exit 1
    fi
else
    if ! geognn="$(command -v geognn)"; then
        echo "demo: the geognn command is not on PATH; run \`make demo\`, or pass the venv's bin folder:" \
             "scripts/demo.sh .venv/bin" >&2
        exit 1
    fi
    python="$(dirname "$geognn")/python"
    [[ -x "$python" ]] || python="python3"
fi

n_train="${DEMO_N_TRAIN:-20000}"
n_val="${DEMO_N_VAL:-1000}"
n_test="${DEMO_N_TEST:-1000}"
epochs="${DEMO_EPOCHS:-20}"
out="${DEMO_OUT:-runs/demo}"
limit=()
[[ -n "${DEMO_QM9_LIMIT:-}" ]] && limit=(--qm9-limit "$DEMO_QM9_LIMIT")
export MPLBACKEND="${MPLBACKEND:-Agg}"

started=$SECONDS
echo "== geognn demo: SchNet on $n_train QM9 molecules, $epochs epochs, targets U0 and gap (eV)"
echo "   (the first run also unpacks QM9 into the cache: \${GEOGNN_CACHE:-~/.cache/geognn})"
"$geognn" train --model schnet --dataset qm9 --target U0,gap \
    --n-train "$n_train" --n-val "$n_val" --n-test "$n_test" --epochs "$epochs" \
    --hidden-channels 64 --num-filters 64 --num-interactions 3 --num-rbf 50 --cutoff 5.0 \
    --batch-size 50 --lr 1e-3 --warmup-steps 100 --plateau-patience 3 --seed 0 --out "$out" ${limit[@]+"${limit[@]}"}
trained=$SECONDS

# A handful of molecules as SMILES; the last one is deliberately broken: it is reported and skipped.
molecules="$out/demo_molecules.smi"
cat > "$molecules" <<'EOF'
CCO ethanol
c1ccccc1 benzene
CC(=O)O acetic_acid
O water
CN methylamine
C1CC(C broken_smiles
EOF

echo
echo "== predicting U0 and the HOMO-LUMO gap for $molecules (conformers: RDKit ETKDG + MMFF, seed 0)"
"$geognn" predict --checkpoint "$out/best.pt" --input "$molecules" --output "$out/predictions.csv" --no-progress

"$python" - "$out/predictions.csv" <<'EOF'
import csv
import sys

with open(sys.argv[1], newline="") as handle:
    rows = list(csv.reader(handle))
widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
numeric = [k for k, name in enumerate(rows[0]) if "(" in name]
print()
for i, row in enumerate(rows):
    cells = [c.rjust(w) if k in numeric or k == 2 else c.ljust(w) for k, (c, w) in enumerate(zip(row, widths))]
    print("  " + "  ".join(cells))
    if i == 0:
        print("  " + "  ".join("-" * w for w in widths))
print("\n  U0: atomization energy at 0 K (total energy minus free-atom energies), eV;"
      " gap: LUMO - HOMO energy, eV.")
EOF

echo
echo "== done in $((SECONDS - started)) s (training $((trained - started)) s)"
echo "   learning curve: $out/learning_curve.png"
echo "   parity plot:    $out/parity.png"
echo "   predictions:    $out/predictions.csv;  metrics: $out/metrics.csv, $out/metrics.json"
echo "   checkpoint:     $out/best.pt  (geognn predict --checkpoint $out/best.pt --input YOUR.smi)"
echo "   a model trained longer (100,000 molecules) ships with geognn: geognn zoo;"
echo "                   geognn predict --checkpoint zoo:schnet-qm9-small --input YOUR.smi"
