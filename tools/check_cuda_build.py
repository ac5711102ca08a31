"""Checks a CUDA build of geognn._C without a GPU: it imports, and every op has a CUDA kernel.

Usage: python tools/check_cuda_build.py BUILD_LIB_DIR   (the --build-lib of `setup.py build_ext`)
Run by `make check-cuda` in the CUDA virtual environment.
"""

import glob
import importlib.util
import os
import shutil
import subprocess
import sys

import torch

OPS = ("csr", "scatter_reduce", "segment_reduce", "segment_broadcast", "arg_scatter", "message_sum", "edge_product",
       "coulomb_matrix")
# csr maps integers to integers; coulomb_matrix is a featurizer (its gradients take the torch path).
DIFFERENTIABLE = OPS[1:-1]
REQUIRED_ARCHS = ("sm_80", "sm_90")


def _cuobjdump() -> str:
    """cuobjdump from the toolkit, else the copy that ships with triton (a dependency of CUDA torch)."""
    candidates = [shutil.which("cuobjdump"), os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "cuobjdump")]
    import triton  # noqa: PLC0415  (only needed when the toolkit lacks cuobjdump)

    candidates.append(os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump"))
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise SystemExit("cuobjdump not found (looked on PATH, in CUDA_HOME/bin and in triton's bundled tools)")


def main(build_lib: str) -> int:
    found = glob.glob(os.path.join(build_lib, "geognn", "_C*.so"))
    if len(found) != 1:
        print(f"expected one geognn/_C*.so under {build_lib}, found {found}")
        return 1
    so_path = found[0]
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}); extension {so_path}")

    # Importing the module runs its static registrations (TORCH_LIBRARY blocks).
    spec = importlib.util.spec_from_file_location("geognn._C", so_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print(f"imported {module.__name__}: {module.__doc__}")

    failures = []
    for op in OPS:
        keys = ("CPU", "CUDA", "Autograd") if op in DIFFERENTIABLE else ("CPU", "CUDA")
        for key in keys:
            if not torch._C._dispatch_has_kernel_for_dispatch_key(f"geognn::{op}", key):
                failures.append(f"geognn::{op} has no {key} kernel")
    # The fat binary must carry device code of every .cu file for every architecture we promise.
    listing = subprocess.run([_cuobjdump(), "--list-elf", so_path], capture_output=True, text=True, check=True)
    cubins = sorted(line.split(":")[-1].strip() for line in listing.stdout.splitlines() if "cubin" in line)
    print("device code:", ", ".join(cubins))
    sources = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob("kernels/cuda/*.cu"))
    for stem in sources:
        for arch in REQUIRED_ARCHS:
            if f"{stem}.{arch}.cubin" not in cubins:
                failures.append(f"kernels/cuda/{stem}.cu has no {arch} device code in {so_path}")
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print(f"OK: {len(OPS)} ops, each with CPU and CUDA kernels (and autograd where differentiable); sm_80 and sm_90 device code "
              f"for each of {len(sources)} .cu files")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
