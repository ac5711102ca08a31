# geognn: every target sets up what it needs on a fresh machine.
#   make test        CPU venv (.venv), pinned CPU torch, native build, pytest
#   make check-cuda  CUDA venv (.venv-cuda), torch CUDA build, nvcc build of kernels/cuda for sm_80 + sm_90
#   make test-gpu    the GPU test suite on this machine's CUDA device (tests/cuda and the other CUDA tests)
#   make bench       geognn bench: every suite beside the peer libraries (.venv-bench), runs/bench/
#   make demo        train a small SchNet on QM9 and predict for a few SMILES
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
CUDA_VENV ?= .venv-cuda
TORCH_CPU := torch==2.13.0
TORCH_CUDA := torch==2.14.1
# /usr/local/bin/nvcc may be a wrapper script, so prefer the toolkit's own folder.
CUDA_HOME ?= $(or $(wildcard /usr/local/cuda),$(shell dirname $$(dirname $$(command -v nvcc 2>/dev/null || echo /x/bin/nvcc))))
export MAX_JOBS ?= 2

KERNEL_SOURCES := $(shell find kernels -type f) setup.py
PIP = $(VENV)/bin/pip install --disable-pip-version-check -c $(VENV)/constraints.txt

.PHONY: test install check-cuda test-gpu bench demo clean

# --- CPU environment --------------------------------------------------------
$(VENV)/.deps: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	# Nothing may move torch off the CPU build once it is in.
	echo "$(TORCH_CPU)" > $(VENV)/constraints.txt
	$(PIP) -q --upgrade pip "setuptools>=69" wheel ninja
	$(PIP) -q $(TORCH_CPU)
	$(PIP) -q "torch-geometric>=2.5" "e3nn>=0.5" "rdkit>=2023.9" "ase>=3.22" numpy "vesin>=0.3" \
		"matscipy>=1.0" "tqdm>=4.60" "matplotlib>=3.7" pytest "hypothesis>=6" "dscribe>=2.1" \
		"qm9pack>=1.0.3" "pandas>=2.0" "psutil>=5" "numba>=0.58" "scikit-learn>=1.3" \
		"optuna>=4.0" "pyyaml>=6" "tblite==0.8.0"
	touch $@

# The native extension is rebuilt whenever a kernel source changes.
$(VENV)/.built: $(VENV)/.deps $(KERNEL_SOURCES)
	$(PIP) -q --no-build-isolation --no-deps -e ".[test,qm9]"
	touch $@

install: $(VENV)/.built

test: $(VENV)/.built
	GEOGNN_REQUIRE_NATIVE=1 MPLBACKEND=Agg $(VENV)/bin/python -m pytest -q tests

# --- CUDA build check (no GPU needed: compile, link, import, registrations) ---
$(CUDA_VENV)/.deps:
	test -x $(CUDA_VENV)/bin/python || $(PYTHON) -m venv $(CUDA_VENV)
	echo "$(TORCH_CUDA)" > $(CUDA_VENV)/constraints.txt
	$(CUDA_VENV)/bin/pip install -q --disable-pip-version-check -c $(CUDA_VENV)/constraints.txt \
		--upgrade pip "setuptools>=69" wheel ninja numpy $(TORCH_CUDA)
	touch $@

check-cuda: $(CUDA_VENV)/.deps
	rm -rf build/cuda
	FORCE_CUDA=1 CUDA_HOME=$(CUDA_HOME) TORCH_CUDA_ARCH_LIST="8.0;9.0" \
		$(CUDA_VENV)/bin/python setup.py -q build_ext --build-lib build/cuda/lib --build-temp build/cuda/tmp
	$(CUDA_VENV)/bin/python tools/check_cuda_build.py build/cuda/lib

# --- GPU test suite (needs a CUDA device) -----------------------------------------
# By default: the CUDA torch of .venv-cuda plus the test dependencies, kernels built for the GPU present,
# into build/gpu (the CPU build of .venv is left alone; GEOGNN_EXTENSION points the tests at this one). The
# build is kept, so a second run compiles only what changed, with every core of the machine. Every test file
# is self-contained (no QM9, RDKit or ASE). On a GPU machine whose Python already has a CUDA torch:
#   make test-gpu GPU_PYTHON=python3        (scripts/gpu_checks.sh runs the files one by one, with benchmarks)
GPU_PYTHON ?=
GPU_TESTS ?= tests/cuda tests/featurize/test_coulomb_cuda.py
ifeq ($(GPU_PYTHON),)
GPU_DEPS := $(CUDA_VENV)/.test-deps
GPU_PY := $(CUDA_VENV)/bin/python
else
GPU_DEPS :=
GPU_PY := $(GPU_PYTHON)
endif

$(CUDA_VENV)/.test-deps: $(CUDA_VENV)/.deps pyproject.toml
	$(CUDA_VENV)/bin/pip install -q --disable-pip-version-check -c $(CUDA_VENV)/constraints.txt \
		"torch-geometric>=2.5" "e3nn>=0.5" "tqdm>=4.60" "matplotlib>=3.7" pytest "hypothesis>=6" "pandas>=2.0"
	touch $@

test-gpu: $(GPU_DEPS)
	@$(GPU_PY) -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else \
		f'make test-gpu needs a CUDA device, and torch {torch.__version__} sees none here. ' \
		'make check-cuda checks the CUDA build without one.')"
	MAX_JOBS=$$(nproc) FORCE_CUDA=1 CUDA_HOME=$(CUDA_HOME) \
		TORCH_CUDA_ARCH_LIST="$$($(GPU_PY) -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')" \
		$(GPU_PY) setup.py -q build_ext --build-lib build/gpu/lib --build-temp build/gpu/tmp
	GEOGNN_EXTENSION="$$(ls $$PWD/build/gpu/lib/geognn/_C*.so)" GEOGNN_REQUIRE_NATIVE=1 MPLBACKEND=Agg \
		$(GPU_PY) -m pytest -q -p no:cacheprovider $(GPU_TESTS)

# --- Demo -----------------------------------------------------------------------
demo: $(VENV)/.built
	MPLBACKEND=Agg bash scripts/demo.sh $(VENV)/bin

# --- Benchmarks (peers in .venv-bench, set up by benchmarks/setup_peers.sh) ------
# `geognn bench` runs inside .venv-bench from this checkout (geognn is not installed there; it uses the
# native build of .venv, made against the same torch): results.json, results.md and charts in runs/bench.
# make bench BENCH_ARGS=--quick         a few minutes;  BENCH_ARGS="--suite all" adds accuracy (long)
BENCH_PY := .venv-bench/bin/python
BENCH_ARGS ?=
bench: $(VENV)/.built
	bash benchmarks/setup_peers.sh
	$(BENCH_PY) -m geognn.cli.main bench --out runs/bench $(BENCH_ARGS)

clean:
	rm -rf build geognn/_C*.so *.egg-info
