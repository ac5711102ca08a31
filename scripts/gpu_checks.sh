#!/usr/bin/env bash
# The GPU checks in one prepared run, sized for one call of the borrowed GPU machine (python3 with a CUDA torch,
# PyG, e3nn, pytest, nvcc and ninja; no RDKit, ASE, vesin or QM9) or any machine with a CUDA device.
#
#   scripts/gpu_checks.sh [--only build|tests|sanitizer|bench] [MOLECULES.pt] [OUT_DIR]
#
# Steps, most important first, each logged to OUT_DIR/NAME.log and timed in OUT_DIR/summary.txt; the next step
# runs even when one fails, and a step that would start after the budget (GPU_BUDGET seconds, default 480) is
# recorded as "not run: budget" so that the call ends inside its limit:
#   0. preflight: torch sees the GPU; nvcc, ninja and compute-sanitizer are found (or the summary says not)
#   1. build: the extension for this GPU's architecture only, MAX_JOBS = every core, into build/gpu, which is kept:
#      a second call (or `--only tests`) compiles only what changed since
#   2. tests: one pytest per file, the fastest and most important first (index trust, bad indices, CUDA-graph
#      replay, ops, the rows kernel, Coulomb, SchNet, autocast, Cormorant); every file is self-contained
#   3. sanitizer: compute-sanitizer memcheck and racecheck on tests/cuda/graph_replay.py (bad edges replayed)
#   4. bench: kernels.py (message_sum at 1M and 10M edges, lane groups 32 vs the default), models.py (SchNet beside
#      PyG at 100 and 1000 molecules; AMP; reduce-overhead), featurize.py (Coulomb on 100,000 molecules, CUDA vs
#      CPU kernel) and cormorant.py (a training step), from MOLECULES.pt
#
# MOLECULES.pt holds QM9 molecules for step 4; write it where QM9 is installed and carry it (runs/ is ignored):
#   .venv/bin/python benchmarks/models.py --molecules 100000 --save-molecules runs/qm9-100k.pt \
#       --libraries geognn --settings default --batches 1 --rounds 1 --hidden 8 --interactions 1
# Without it step 4 runs only the kernel benchmarks.
# OUT_DIR: default $OUT (the device tool's folder), else runs/gpu. Environment: GPU_PYTHON (default python3),
# GPU_BUDGET (seconds for the whole run), STEP_TIMEOUT (seconds per step, default 200).
set -uo pipefail

only=""
if [[ "${1:-}" == "--only" ]]; then only="${2:?--only needs build, tests, sanitizer or bench}"; shift 2; fi
molecules="${1:-}"
out="${2:-${OUT:-runs/gpu}}"
py="${GPU_PYTHON:-python3}"
budget="${GPU_BUDGET:-480}"
limit="${STEP_TIMEOUT:-200}"
mkdir -p "$out"
summary="$out/summary.txt"
start_all=$SECONDS
failed=0
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg

say() { echo "$*" | tee -a "$summary"; }
wanted() { [[ -z "$only" || "$only" == "$1" ]]; }

step() {  # step NAME COMMAND...: under the time limit and the budget, logged to OUT/NAME.log
    local name="$1"; shift
    local left=$((budget - (SECONDS - start_all)))
    if (( left < 20 )); then say "$name: not run: budget of $budget s spent"; return; fi
    local cap=$(( left < limit ? left : limit ))
    local t0=$SECONDS
    timeout "$cap" "$@" > "$out/$name.log" 2>&1
    local rc=$?
    say "$name: exit $rc in $((SECONDS - t0)) s$([[ $rc -eq 124 ]] && echo " (stopped at its $cap s limit)")"
    [[ $rc -eq 0 ]] || failed=1
}

# --- 0. preflight ---------------------------------------------------------------------------------------
{ date -u; git rev-parse HEAD 2>/dev/null; } > "$summary"
"$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_checks: torch sees no CUDA device')" \
    || exit 2
say "$("$py" -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name(), \
'| sm_%d%d' % torch.cuda.get_device_capability())")"
for tool in nvcc ninja compute-sanitizer; do
    if command -v "$tool" > /dev/null; then say "found $tool: $("$tool" --version 2>&1 | tail -n 1)"
    else say "MISSING $tool$([[ $tool == ninja ]] && echo ': the build runs one compiler at a time (slow)')"; fi
done
cores=$(nproc)
arch=$("$py" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')

# --- 1. build (kept between calls) ------------------------------------------------------------------------
step build env MAX_JOBS="$cores" FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$arch" \
    "$py" setup.py build_ext --build-lib build/gpu/lib --build-temp build/gpu/tmp
extension="$(ls build/gpu/lib/geognn/_C*.so 2>/dev/null | head -n 1)"
if [[ -z "$extension" ]]; then say "no extension was built: see $out/build.log"; exit 1; fi
export GEOGNN_EXTENSION="$PWD/$extension" GEOGNN_REQUIRE_NATIVE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# --- 2. tests ---------------------------------------------------------------------------------------------
if wanted tests; then
    for file in tests/cuda/test_index_trust.py tests/cuda/test_cuda_bad_indices.py \
                tests/cuda/test_cuda_graph_replay.py tests/cuda/test_cuda_ops.py tests/cuda/test_message_sum_rows.py \
                tests/featurize/test_coulomb_cuda.py tests/cuda/test_cuda_schnet.py tests/cuda/test_autocast.py \
                tests/cuda/test_cuda_cormorant.py; do
        step "test-$(basename "$file" .py)" "$py" -m pytest -q -p no:cacheprovider -rfE "$file"
    done
fi

# --- 3. compute-sanitizer on a replay with bad edges --------------------------------------------------------
if wanted sanitizer; then
    if command -v compute-sanitizer > /dev/null; then
        for tool in memcheck racecheck; do
            step "sanitizer-$tool" compute-sanitizer --tool "$tool" --error-exitcode 3 "$py" tests/cuda/graph_replay.py
        done
    else
        say "sanitizer: not run: compute-sanitizer is not on the PATH"
    fi
fi

# --- 4. benchmarks ----------------------------------------------------------------------------------------
if wanted bench; then
    step bench-kernels-1M "$py" benchmarks/kernels.py --device cuda --edges 1000000 --nodes 50000
    step bench-message-10M "$py" benchmarks/kernels.py --device cuda --edges 10000000 --nodes 500000 \
        --only message_sum
    step bench-message-10M-F64-lanes32 env GEOGNN_MESSAGE_SUM_LANES=32 "$py" benchmarks/kernels.py --device cuda \
        --edges 10000000 --nodes 500000 --features 64 --only message_sum --no-memory
    step bench-message-10M-F64-lanes-default "$py" benchmarks/kernels.py --device cuda --edges 10000000 \
        --nodes 500000 --features 64 --only message_sum --no-memory
    if [[ -n "$molecules" && -f "$molecules" ]]; then
        for size in 100 1000; do
            step "bench-models-bs$size" "$py" benchmarks/models.py --device cuda --load-molecules "$molecules" \
                --molecules $((size * 10)) --batch-size "$size" --libraries geognn,pyg --settings default
        done
        step bench-models-bs100-amp-bf16 "$py" benchmarks/models.py --device cuda --load-molecules "$molecules" \
            --molecules 1000 --batch-size 100 --libraries geognn --settings default --amp bfloat16
        step bench-models-bs100-amp-fp16 "$py" benchmarks/models.py --device cuda --load-molecules "$molecules" \
            --molecules 1000 --batch-size 100 --libraries geognn --settings default --amp float16
        step bench-models-bs100-reduce-overhead "$py" benchmarks/models.py --device cuda --load-molecules \
            "$molecules" --molecules 1000 --batch-size 100 --libraries geognn --settings default --batches 9 \
            --compile reduce-overhead
        step bench-coulomb-100k "$py" benchmarks/featurize.py --device cuda --only coulomb \
            --load-molecules "$molecules" --n-molecules 100000
        step bench-cormorant "$py" benchmarks/cormorant.py --device cuda --load-molecules "$molecules" \
            --batch-sizes 25,100 --max-l 1,2,3 --rounds 5
    else
        say "bench-models, bench-coulomb, bench-cormorant: not run: no molecules file (see the header)"
    fi
fi
say "total: $((SECONDS - start_all)) s of a $budget s budget; $([[ $failed -eq 0 ]] && echo 'every step passed' \
|| echo 'some step failed: see its log')"
exit $failed
