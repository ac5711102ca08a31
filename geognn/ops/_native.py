"""Loads the native extension once and records what it can do.

Capability flags are probed here, at import, so each op's dispatch is a cheap
attribute lookup. ``GEOGNN_REQUIRE_NATIVE=1`` (set by ``make test`` and CI)
turns a missing extension into an import error instead of a fallback;
``GEOGNN_DISABLE_NATIVE=1`` forces the pure-PyTorch reference path;
``GEOGNN_EXTENSION=/path/to/_C.so`` loads that build instead of the one in the
package (``make test-gpu`` builds a CUDA extension beside the CPU one of
``.venv`` without replacing it).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings

import torch

_LOAD_ERROR: Exception | None = None


def _load_extension() -> None:
    """Imports geognn._C, from ``GEOGNN_EXTENSION`` when that names a file; its import registers the ops."""
    path = os.environ.get("GEOGNN_EXTENSION")
    if not path:
        from geognn import _C  # noqa: F401  (registers torch.ops.geognn.*)

        return
    if not os.path.isfile(path):
        raise ImportError(f"GEOGNN_EXTENSION={path} is not a file; point it at a built geognn/_C*.so or unset it")
    spec = importlib.util.spec_from_file_location("geognn._C", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["geognn._C"] = module


if os.environ.get("GEOGNN_DISABLE_NATIVE", "0") == "1":
    HAS_NATIVE = False
else:
    try:
        _load_extension()
        from geognn.ops import _fake  # noqa: F401  (shapes for torch.compile)

        HAS_NATIVE = True
    except ImportError as err:  # pragma: no cover - exercised only without a build
        HAS_NATIVE = False
        _LOAD_ERROR = err
        if os.environ.get("GEOGNN_REQUIRE_NATIVE", "0") == "1":
            raise ImportError(
                "geognn's native extension geognn._C did not load and GEOGNN_REQUIRE_NATIVE=1 forbids the "
                f"pure-PyTorch fallback: {err}. Rebuild it with `make install` (or `pip install -e .`)."
            ) from err

OPS = ("csr", "scatter_reduce", "segment_reduce", "segment_broadcast", "arg_scatter", "message_sum", "edge_product")


def _has_kernels(dispatch_key: str) -> bool:
    return HAS_NATIVE and all(
        torch._C._dispatch_has_kernel_for_dispatch_key(f"geognn::{op}", dispatch_key) for op in OPS
    )


HAS_CPU_KERNELS = _has_kernels("CPU")
HAS_CUDA_KERNELS = _has_kernels("CUDA")

_warned = False


def use_native(*tensors: torch.Tensor) -> bool:
    """Whether the native kernels handle tensors on this device.

    CPU tensors go to the C++ kernels, CUDA tensors to the CUDA kernels when the
    build has them; anything else (or a missing build) takes the reference path.
    """
    device = tensors[0].device.type
    if device == "cpu" and HAS_CPU_KERNELS:
        return True
    if device == "cuda" and HAS_CUDA_KERNELS:
        return True
    _warn_fallback(device)
    return False


def _warn_fallback(device: str) -> None:
    global _warned
    if _warned or os.environ.get("GEOGNN_DISABLE_NATIVE", "0") == "1":
        return
    _warned = True
    reason = f"it failed to load ({_LOAD_ERROR})" if _LOAD_ERROR else f"it has no kernels for device '{device}'"
    warnings.warn(
        f"geognn: using the pure-PyTorch reference ops because {reason}. Results are the same, only slower.",
        RuntimeWarning,
        stacklevel=3,
    )
