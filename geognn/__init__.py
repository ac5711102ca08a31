"""geognn: geometric graph neural networks for chemistry.

Units everywhere: positions in Å, energies in eV, forces in eV/Å, atomic
numbers as int64 ``z``. Graphs are PyTorch Geometric ``Data``/``Batch`` objects.
"""

__version__ = "0.1.0"

from geognn import ops  # noqa: E402

__all__ = ["ops", "__version__"]
