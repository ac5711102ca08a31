"""Kernel ridge regression building blocks: distances, kernels, the Cholesky solve, cross-validation, memory.

The model that puts them together on Coulomb matrices is
:class:`geognn.models.KernelRidge`; these pieces also work on any (n, F)
float64 features:

    from geognn.krr import kernel_matrix, solve_in_place, cross_validate
    k = kernel_matrix(x_train, None, "laplacian", sigma=3000.0)      # (N, N), float64
    alpha = solve_in_place(k, y_train - y_train.mean(0), 1e-8)       # k is overwritten by its factor
    y_test = kernel_matrix(x_test, x_train, "laplacian", 3000.0) @ alpha + y_train.mean(0)
"""

from geognn.krr.cross_validation import CV_METHODS, CrossValidation, cross_validate, default_sigmas
from geognn.krr.distances import METRICS, column_order, pack_rows, pairwise_distances, pairwise_distances_reference
from geognn.krr.kernels import KERNELS, kernel_from_distances_, kernel_matrix
from geognn.krr.memory import KernelMemoryError, available_memory, check_fits, largest_fitting_rows
from geognn.krr.solve import NotPositiveDefinite, solve_in_place

__all__ = ["CV_METHODS", "CrossValidation", "KERNELS", "KernelMemoryError", "METRICS", "NotPositiveDefinite",
           "available_memory", "check_fits", "column_order", "cross_validate", "default_sigmas",
           "kernel_from_distances_", "kernel_matrix", "largest_fitting_rows", "pack_rows", "pairwise_distances",
           "pairwise_distances_reference", "solve_in_place"]
