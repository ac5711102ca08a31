#!/usr/bin/env bash
# Sets up .venv-bench: the peer libraries geognn is benchmarked against, beside geognn itself.
#
#   bash benchmarks/setup_peers.sh          # idempotent; a second run only checks
#   .venv-bench/bin/python benchmarks/models.py
#
# What it installs (the steps of ../shared/PEERS.md, run and checked here):
#   - torch==2.13.0 (the CPU build) pinned by a constraints file, so no later step can move it;
#   - torch-geometric (PyG's SchNet; its radius_graph needs pyg-lib, which is not on
#     PyPI, so benchmarks/models.py passes the graph through SchNet's interaction_graph hook);
#   - schnetpack 2.1.1 with --no-deps (2.1.1 pins sympy<=1.12, which torch 2.13 cannot
#     have, and pip would otherwise fall back to 2.0.4), then the requirements it declares,
#     minus that sympy pin and its developer tools (black, pre-commit); it imports on
#     torch 2.13 once `torch.utils.data.dataloader.T_co` is aliased (benchmarks/models.py does it);
#   - torch-scatter built from source where it builds (the kernel benchmark's peer);
#   - qmllib and scikit-learn (the kernel ridge regression peers of benchmarks/krr.py);
#   - geognn's own runtime dependencies (read from pyproject.toml: dependencies + qm9 + bench);
#   - MACE (mace-torch 0.3.16, the force-field peer of benchmarks/forcefield.py) into a venv of its
#     own, .venv-mace, with the same pinned torch: mace-torch pins e3nn==0.4.4, which geognn's e3nn
#     cannot share, so geognn is never imported there (benchmarks/forcefield_mace.py reads the frame
#     files with torch.load). Set up first, with its own ready marker; where it fails to install,
#     the force-field benchmark reports MACE as not installed and the rest goes on.
#
# geognn itself is NOT installed into .venv-bench: the benchmark runs it from this checkout
# (benchmarks/models.py puts the repository first on sys.path), with the native extension
# geognn/_C*.so that `make install` built in .venv against the same torch 2.13.0+cpu wheel.
# The script checks at the end that this extension loads in .venv-bench.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BENCH_VENV:-$ROOT/.venv-bench}"
PYTHON="${PYTHON:-python3.11}"
TORCH="torch==2.13.0"

MACE_VENV="${MACE_VENV:-$ROOT/.venv-mace}"
MACE="mace-torch==0.3.16"

setup_mace() {
    if [[ -f "$MACE_VENV/.peers-ready" ]]; then
        echo "setup_peers: $MACE_VENV is ready (delete $MACE_VENV/.peers-ready to reinstall)"
        return 0
    fi
    test -x "$MACE_VENV/bin/python" || "$PYTHON" -m venv "$MACE_VENV"
    echo "$TORCH" > "$MACE_VENV/constraints.txt"
    local pip=("$MACE_VENV/bin/pip" install --disable-pip-version-check -q -c "$MACE_VENV/constraints.txt")
    "${pip[@]}" "$TORCH" && "${pip[@]}" "$MACE" || return 1
    "$MACE_VENV/bin/python" -c "import mace, torch_ema, ase; from mace.calculators import MACECalculator; \
import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__; \
from importlib.metadata import version; print('setup_peers: .venv-mace: mace-torch', version('mace-torch'), \
'e3nn', version('e3nn'), 'torch', torch.__version__)" || return 1
    touch "$MACE_VENV/.peers-ready"
}
setup_mace || echo "setup_peers: mace-torch did not install into $MACE_VENV; benchmarks/forcefield.py will report MACE as not installed"

if [[ -f "$VENV/.peers-ready" ]]; then
    echo "setup_peers: $VENV is ready (delete $VENV/.peers-ready to reinstall)"
    exit 0
fi

test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
echo "$TORCH" > "$VENV/constraints.txt"   # nothing may move torch once it is in
PIP=("$VENV/bin/pip" install --disable-pip-version-check -q -c "$VENV/constraints.txt")

"${PIP[@]}" --upgrade pip "setuptools>=69" wheel
"${PIP[@]}" "$TORCH"

# geognn's runtime dependencies, as pyproject.toml declares them.
mapfile -t GEOGNN_DEPS < <("$VENV/bin/python" - "$ROOT/pyproject.toml" <<'EOF'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
extras = project.get("optional-dependencies", {})
deps = list(project["dependencies"]) + extras.get("qm9", []) + extras.get("bench", [])
print("\n".join(dict.fromkeys(d for d in deps if not d.startswith("torch>"))))
EOF
)
"${PIP[@]}" "${GEOGNN_DEPS[@]}"

# Peers.
"${PIP[@]}" "torch-geometric>=2.5"
"${PIP[@]}" --no-deps "schnetpack==2.1.1"
mapfile -t SPK_DEPS < <("$VENV/bin/python" - <<'EOF'
import re
from importlib.metadata import requires
skip = {"sympy", "black", "pre-commit", "torch"}   # see the header: sympy<=1.12 conflicts with torch 2.13
for req in requires("schnetpack") or []:
    if "extra ==" in req:
        continue
    name = re.split(r"[ <>=!~;\[]", req, maxsplit=1)[0].lower()
    if name not in skip:
        print(req.split(";")[0].strip())
EOF
)
"${PIP[@]}" "${SPK_DEPS[@]}" "torchmetrics>=1.4" tensorboardX
# Kernel ridge regression peers of benchmarks/krr.py: qmllib (Fortran kernels, LAPACK Cholesky; a manylinux
# wheel) and scikit-learn's KernelRidge.
"${PIP[@]}" "qmllib>=1.1" "scikit-learn>=1.3"

# torch-scatter, the kernel peer of benchmarks/kernels.py: no wheel for this torch, so it builds from
# source (about 6.5 minutes on 2 cores). Where it does not build, the kernel benchmark says so and runs
# without it.
MAX_JOBS="${MAX_JOBS:-2}" "${PIP[@]}" --no-build-isolation torch-scatter \
    || echo "setup_peers: torch-scatter did not build here; benchmarks/kernels.py will report it as not installed"

# Checks: the pinned torch, both peers import, geognn's extension loads from the checkout.
"$VENV/bin/python" - "$ROOT" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import torch
assert torch.__version__.startswith("2.13.0"), torch.__version__
import torch.utils.data.dataloader as dl
dl.T_co = getattr(dl, "T_co", None) or dl._T_co
import schnetpack, torch_geometric
import qmllib.kernels, sklearn.kernel_ridge
import geognn.ops
if not geognn.ops.HAS_NATIVE:
    sys.exit("setup_peers: geognn's native extension does not load in .venv-bench; run `make install` first")
print(f"setup_peers: torch {torch.__version__}, torch_geometric {torch_geometric.__version__}, "
      f"schnetpack {schnetpack.__version__}, geognn native kernels loaded")
EOF
touch "$VENV/.peers-ready"
