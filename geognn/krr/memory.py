"""How much memory a kernel model needs, how much there is, and a clear error when it will not fit.

A fit on N training rows holds one N x N float64 kernel matrix (8 N^2 bytes),
factorised in place; cross-validation on n rows holds the distances, the
kernel of one sigma, and the training block of a fold with its factor or
eigenvectors (about 3.3 n x n matrices, see :data:`CV_MATRICES`). Predictions
are made in blocks of test rows whose kernel rows stay under a block budget.
"""

from __future__ import annotations

import math
import os

import torch

__all__ = ["CV_MATRICES", "FIT_MATRICES", "KernelMemoryError", "available_memory", "check_fits",
           "largest_fitting_rows", "matrix_bytes"]

# N x N float64 matrices held at the peak of a fit (the kernel, factorised in place) and of cross-validation
# with 5 folds (distances + kernel + 0.8^2 training block + 0.8^2 factor or eigenvectors + validation block).
FIT_MATRICES = 1.0
CV_MATRICES = 3.5
# What is left for everything else (features, the Python process, other programs) when the limit is the
# machine's available memory.
_HEADROOM = 0.9


class KernelMemoryError(ValueError):
    """The kernel matrix of a fit or cross-validation would not fit in the memory of its device."""


def matrix_bytes(n_rows: int, matrices: float = FIT_MATRICES) -> int:
    """Bytes of ``matrices`` float64 matrices of n_rows x n_rows."""
    return int(math.ceil(matrices * 8 * n_rows * n_rows))


def available_memory(device: str | torch.device = "cpu") -> int:
    """Bytes that can be allocated now on ``device``: MemAvailable on the CPU, free memory on a GPU."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def largest_fitting_rows(budget_bytes: int, matrices: float = FIT_MATRICES) -> int:
    """The largest N whose ``matrices`` N x N float64 matrices fit in ``budget_bytes``."""
    return max(0, int(math.isqrt(max(0, int(budget_bytes / (8 * matrices))))))


def check_fits(n_rows: int, device: str | torch.device = "cpu", memory_limit: int | None = None,
               matrices: float = FIT_MATRICES, what: str = "the fit", rows_per_molecule: int = 1) -> None:
    """Raises :class:`KernelMemoryError` if ``matrices`` n_rows x n_rows float64 matrices do not fit.

    Args:
        n_rows: kernel rows (training molecules times augmented copies).
        device: where the matrices live.
        memory_limit: bytes allowed (default: 90% of what :func:`available_memory` reports now).
        what: named in the message ("the fit", "cross-validation").
        rows_per_molecule: augmented copies per molecule, to state the largest number of molecules.
    """
    budget = int(memory_limit) if memory_limit is not None else int(_HEADROOM * available_memory(device))
    need = matrix_bytes(n_rows, matrices)
    if need <= budget:
        return
    largest = largest_fitting_rows(budget, matrices)
    per = max(1, int(rows_per_molecule))
    molecules = f" ({largest // per:,} molecules at {per} augmented copies each)" if per > 1 else ""
    raise KernelMemoryError(
        f"{what} on {n_rows:,} kernel rows needs {need / 2**30:.2f} GiB ({matrices:g} x {n_rows:,}^2 float64) "
        f"but {budget / 2**30:.2f} GiB is available on {torch.device(device)}; the largest that fits is "
        f"{largest:,} rows{molecules}. What helps: fewer training molecules (--n-train), fewer augmented "
        f"copies (--augment), a smaller cross-validation subset (--cv-size), a device with more memory "
        f"(--device cuda), or a larger --memory-limit if more memory is really free")
