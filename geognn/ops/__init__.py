"""Scatter, segment and fused message-passing ops.

Every layer that aggregates over edges calls these, never ``index_add_``
directly. Tensors on the CPU run the C++ kernels of ``geognn._C``, CUDA
tensors its CUDA kernels, and anything else (or a missing build) the
pure-PyTorch implementations in :mod:`geognn.ops.reference`.
"""

from geognn.ops._native import HAS_CPU_KERNELS, HAS_CUDA_KERNELS, HAS_NATIVE
from geognn.ops.csr import CSRGraph, csr
from geognn.ops.message import message_sum
from geognn.ops.outer import neighbor_slots, outer_message_sum
from geognn.ops.scatter import scatter, segment

__all__ = [
    "CSRGraph",
    "HAS_CPU_KERNELS",
    "HAS_CUDA_KERNELS",
    "HAS_NATIVE",
    "csr",
    "message_sum",
    "neighbor_slots",
    "outer_message_sum",
    "scatter",
    "segment",
]
