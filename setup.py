"""Builds the native extension geognn._C from kernels/ (everything else is in pyproject.toml).

C++ CPU kernels are always built. CUDA kernels are added when torch is a CUDA
build and nvcc is found (CUDA_HOME), or when FORCE_CUDA=1. The decision comes
from the toolchain, never from whether a GPU is present at build time.
"""
import glob
import os
import shutil
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

import torch
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))
KERNELS = os.path.join("kernels")


def _want_cuda() -> bool:
    if os.environ.get("GEOGNN_NO_CUDA", "0") == "1":
        return False
    forced = os.environ.get("FORCE_CUDA", "0") == "1"
    if forced and torch.version.cuda is None:
        sys.exit(
            "FORCE_CUDA=1 but the installed torch is a CPU build "
            f"({torch.__version__}); install a CUDA build (e.g. torch==2.14.1) to compile kernels/cuda."
        )
    if forced and CUDA_HOME is None:
        sys.exit("FORCE_CUDA=1 but no CUDA toolkit was found: set CUDA_HOME or put nvcc on the PATH.")
    return forced or (torch.version.cuda is not None and CUDA_HOME is not None)


def _pip_cuda_includes() -> list[str]:
    """pip's nvidia-* wheels put cusparse.h/cublas_v2.h here; ATen's CUDA headers include them."""
    try:
        import nvidia  # noqa: F401  (namespace package installed with CUDA torch)
    except ImportError:
        return []
    found = []
    for base in nvidia.__path__:
        found += glob.glob(os.path.join(base, "*", "include"))
    return sorted(found)


def _extension():
    sources = [os.path.join(KERNELS, name) for name in ("registration.cpp", "common.cpp", "coulomb_args.cpp", "validate.cpp")]
    sources += sorted(glob.glob(os.path.join(KERNELS, "cpu", "*.cpp")))
    include_dirs = [os.path.join(ROOT, KERNELS, "include")]
    cxx = ["-O3", "-fopenmp"]  # the C++ standard is the one torch asks for
    # ATen's parallel_for is an OpenMP region compiled into *our* object code;
    # at run time libgomp resolves to the copy torch already loaded.
    extra_link = ["-fopenmp"]
    if not _want_cuda():
        return CppExtension(
            "geognn._C", sources, include_dirs=include_dirs,
            extra_compile_args={"cxx": cxx}, extra_link_args=extra_link,
        )
    sources += sorted(glob.glob(os.path.join(KERNELS, "cuda", "*.cu")))
    include_dirs += _pip_cuda_includes()
    nvcc = ["-O3", "--expt-relaxed-constexpr", "-lineinfo"]
    return CUDAExtension(
        "geognn._C", sources, include_dirs=include_dirs,
        define_macros=[("GEOGNN_WITH_CUDA", "1")],
        extra_compile_args={"cxx": cxx, "nvcc": nvcc}, extra_link_args=extra_link,
    )


class BuildPyWithDatasets(build_py):
    """Ships datasets/ (small bundled KG triples) inside the wheel as geognn/_datasets.

    Editable installs read them from the checkout instead (geognn.data.kg finds both).
    """

    def run(self):
        super().run()
        if not getattr(self, "editable_mode", False):
            shutil.copytree(os.path.join(ROOT, "datasets"), os.path.join(self.build_lib, "geognn", "_datasets"),
                            dirs_exist_ok=True)


setup(
    ext_modules=[_extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True), "build_py": BuildPyWithDatasets},
)
