"""geognn: geometric graph neural networks for chemistry.

Units everywhere: positions in Å, energies in eV, forces in eV/Å, atomic
numbers as int64 ``z``. Graphs are PyTorch Geometric ``Data``/``Batch`` objects.

Subpackages: :mod:`geognn.ops` (native scatter/segment/message kernels),
:mod:`geognn.featurize`, :mod:`geognn.data`, :mod:`geognn.nn`,
:mod:`geognn.models`, :mod:`geognn.train`, :mod:`geognn.calculators`,
:mod:`geognn.testing`. All but ``ops`` are imported on first use, so
``import geognn`` stays fast.
"""

import importlib

__version__ = "0.2.0"

from geognn import ops  # noqa: E402

_LAZY = ("featurize", "data", "nn", "models", "train", "calculators", "testing", "cli")


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"geognn.{name}")
    raise AttributeError(f"module 'geognn' has no attribute {name!r}")


__all__ = ["ops", "__version__", *_LAZY]
