"""Checks a CUDA build of geognn._C without a GPU: it imports, and every op has a CUDA kernel.

Usage: python tools/check_cuda_build.py BUILD_LIB_DIR   (the --build-lib of `setup.py build_ext`)
Run by `make check-cuda` in the CUDA virtual environment.
"""

import glob
import importlib.util
import os
import subprocess
import sys

import torch

OPS = ("csr", "segment_reduce", "segment_broadcast", "arg_scatter", "message_sum", "edge_product")
REQUIRED_ARCHS = ("sm_80", "sm_90")


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
        for key in ("CPU", "CUDA", "Autograd"):
            if not torch._C._dispatch_has_kernel_for_dispatch_key(f"geognn::{op}", key):
                failures.append(f"geognn::{op} has no {key} kernel")
    # The fat binary must carry device code for every architecture we promise.
    listing = subprocess.run(["cuobjdump", "--list-elf", so_path], capture_output=True, text=True)
    archs = listing.stdout
    for arch in REQUIRED_ARCHS:
        if arch not in archs:
            failures.append(f"no {arch} device code in {so_path}")
    print(f"device code: {sorted(set(a for a in REQUIRED_ARCHS if a in archs))}")
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print(f"OK: {len(OPS)} ops, each with CPU, CUDA and Autograd kernels; sm_80 and sm_90 device code")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
