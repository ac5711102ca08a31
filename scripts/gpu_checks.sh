#!/usr/bin/env bash
# The GPU checks in one run, for a machine with a CUDA device and a Python that has a CUDA torch, PyG and e3nn
# (the borrowed H200 has those but neither RDKit, ASE nor QM9). Steps, each logged and timed on its own, the
# next one run even when one fails:
#   1. make test-gpu: build the kernels for the GPU present (build/gpu) and run tests/cuda and the other CUDA tests
#   2. benchmarks/kernels.py --device cuda at E = 1M and 10M edges, F = 128 (message_sum against the copy bandwidth)
#   3. benchmarks/models.py --device cuda: SchNet forward + backward beside PyG at batches of 100 and 1000
#      molecules, eager and (geognn) torch.compile(mode="reduce-overhead")
#
#   scripts/gpu_checks.sh MOLECULES.pt [OUT_DIR]
#
# MOLECULES.pt holds QM9 molecules for step 3; write it where QM9 is installed and carry it to the GPU machine:
#   .venv/bin/python benchmarks/models.py --molecules 10000 --save-molecules runs/qm9-10k.pt \
#       --libraries geognn --settings default --batches 1 --rounds 1 --hidden 8 --interactions 1
# OUT_DIR (default: $OUT, else runs/gpu) receives one log per step and summary.txt.
# Environment: GPU_PYTHON (default python3), STEP_TIMEOUT seconds per step (default 240).
set -uo pipefail

molecules="${1:?usage: scripts/gpu_checks.sh MOLECULES.pt [OUT_DIR]}"
out="${2:-${OUT:-runs/gpu}}"
py="${GPU_PYTHON:-python3}"
limit="${STEP_TIMEOUT:-240}"
mkdir -p "$out"
[[ -f "$molecules" ]] || { echo "gpu_checks: no molecules file $molecules (see the header of this script)" >&2; exit 2; }
"$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_checks: torch sees no CUDA device')" \
    || exit 2

summary="$out/summary.txt"
{ date -u; "$py" -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"; git rev-parse HEAD; } \
    > "$summary" 2>&1
failed=0

step() {  # step NAME COMMAND...: runs under the time limit, logs to OUT/NAME.log, records rc and seconds
    local name="$1"; shift
    local start=$SECONDS
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    local rc=$?
    echo "$name: exit $rc in $((SECONDS - start)) s" | tee -a "$summary"
    [[ $rc -eq 0 ]] || failed=1
}

# tests/cuda needs only torch, PyG and e3nn; the Coulomb and Cormorant CUDA tests also read QM9 (and ASE's g2).
gpu_tests="tests/cuda"
if "$py" -c "import ase; from geognn.data import iter_qm9_rows; next(iter(iter_qm9_rows(1)))" > /dev/null 2>&1; then
    gpu_tests="$gpu_tests tests/featurize/test_coulomb_cuda.py tests/models/test_cormorant.py"
else
    echo "test-gpu: QM9 or ASE missing here: tests/featurize/test_coulomb_cuda.py and tests/models/test_cormorant.py" \
        "left out (run them where both are installed)" | tee -a "$summary"
fi
step test-gpu make test-gpu GPU_PYTHON="$py" GPU_TESTS="$gpu_tests"
extension="$(ls build/gpu/lib/geognn/_C*.so 2>/dev/null | head -n 1)"
export GEOGNN_EXTENSION="$extension" GEOGNN_REQUIRE_NATIVE=1
step kernels-1M "$py" benchmarks/kernels.py --device cuda --edges 1000000 --nodes 50000
step kernels-10M "$py" benchmarks/kernels.py --device cuda --edges 10000000 --nodes 500000 --only message_sum
for size in 100 1000; do
    step "models-bs$size" "$py" benchmarks/models.py --device cuda --load-molecules "$molecules" \
        --molecules $((size * 10)) --batch-size "$size" --libraries geognn,pyg --settings default
    step "models-bs$size-reduce-overhead" "$py" benchmarks/models.py --device cuda --load-molecules "$molecules" \
        --molecules $((size * 10)) --batch-size "$size" --libraries geognn,pyg --settings default \
        --batches 9 --compile reduce-overhead
done
exit $failed
