"""Kernel ridge regression on Coulomb matrices: the model the Coulomb matrix was made for.

Rupp, Tkatchenko, Müller & von Lilienfeld (PRL 2012) predicted atomization
energies from Coulomb matrices with kernel ridge regression (KRR); Hansen et
al. (JCTC 2013) compared the ways of making the matrix independent of the atom
order (sorted, randomly sorted as augmentation, eigenspectrum) and the
kernels (Laplacian best). :class:`KernelRidge` is that model:

    features  x = upper triangle of the Coulomb matrix (or its eigenspectrum), float64
    kernel    k(x, x') = exp(-|x - x'|_1 / sigma)  or  exp(-|x - x'|_2^2 / (2 sigma^2))
    fit       (K + lambda I) alpha = y - mean(y)        (Cholesky, in place; all targets at once)
    predict   y(x) = sum_i alpha_i k(x, x_i) + mean(y)

``sigma`` and ``lambda`` are chosen by k-fold cross-validation on a log grid
(:mod:`geognn.krr.cross_validation`) unless given. The model keeps its
training molecules (atomic numbers and positions, a few hundred bytes each)
and the coefficients; the features are recomputed from them when needed, so
a checkpoint of 16,000 QM9 molecules is about 4 MB instead of the 56 MB of
their Coulomb matrices. A model fitted on precomputed features
(:meth:`KernelRidge.fit_features`) keeps those instead.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from geognn.featurize.coulomb import PERMUTATIONS, CoulombMatrix
from geognn.krr import memory
from geognn.krr.cross_validation import CrossValidation, cross_validate
from geognn.krr.distances import column_order, pack_rows, pairwise_distances
from geognn.krr.kernels import check_sigma, kernel_from_distances_, metric_of
from geognn.krr.solve import check_lambda, solve_in_place

__all__ = ["KernelRidge"]

# Test rows per block of prediction: their kernel rows against the training set stay under this many bytes.
DEFAULT_BLOCK_BYTES = 256 * 2**20
# Molecules cross-validation runs on by default: 77 grid points x 5 folds of 1,600 rows take about a minute
# on 2 cores (a Cholesky solve of 1,600 rows: 0.14 s); the fit itself then uses every training molecule.
DEFAULT_CV_SIZE = 2000
_GEOMETRY_BUFFERS = ("train_z", "train_pos", "train_ptr")


class KernelRidge(nn.Module):
    """Kernel ridge regression on Coulomb-matrix features, on the CPU or a CUDA device, in float64.

    Args:
        kernel: "laplacian" (L1 distance) or "gaussian" (squared L2).
        permutation: how the Coulomb matrix is made independent of the atom
            order (:class:`geognn.featurize.CoulombMatrix`): "sorted_l2",
            "sorted_canonical", "random" (randomly sorted: the training set is
            augmented with ``augment`` random matrices per molecule and each
            prediction averages ``predict_samples`` of them), "eigenspectrum"
            or "none".
        n_atoms_max: size of the matrices (29 for QM9); larger molecules cannot be predicted.
        sigma: kernel width in feature units (e²/Å with ``distance_unit="angstrom"``); None: not yet chosen.
        regularization: lambda added to the kernel's diagonal (K_ii = 1); None: not yet chosen.
        num_targets: T, the number of targets fitted together.
        distance_unit: of the Coulomb matrix, "angstrom" (as geognn's featurizer) or "bohr" (as Rupp et al.).
        augment: random matrices per training molecule (``permutation="random"`` only).
        random_noise: width of the noise added to the row norms by "random" (Montavon et al. 2012 use 1).
        predict_samples: random matrices averaged per prediction (default: ``augment``).
        seed: seed of the random matrices of training and of prediction.
        species: atomic numbers seen in training (set by the fit); others are refused by ``geognn predict``.
        block_bytes: memory bound of one block of test-against-training kernel rows at prediction.

    Call the fitted model on a PyG ``Data``/``Batch`` with ``z`` (N,) and
    ``pos`` (N, 3) in Å: ``{"y": (B, T)}`` float64 in the targets' units.
    """

    needs_graph = False  # geognn predict builds no radius graph for it

    def __init__(self, kernel: str = "laplacian", permutation: str = "sorted_l2", n_atoms_max: int = 29,
                 sigma: float | None = None, regularization: float | None = None, num_targets: int = 1,
                 distance_unit: str = "angstrom", augment: int = 1, random_noise: float = 1.0,
                 predict_samples: int | None = None, seed: int = 0, species: Sequence[int] | None = None,
                 block_bytes: int = DEFAULT_BLOCK_BYTES):
        super().__init__()
        metric_of(kernel)
        if permutation not in PERMUTATIONS:
            raise ValueError(f"permutation must be one of {PERMUTATIONS}, got {permutation!r}")
        if int(augment) != augment or augment < 1:
            raise ValueError(f"augment must be a positive integer, got {augment!r}")
        if augment > 1 and permutation != "random":
            raise ValueError(f"augment={augment} needs permutation='random' (other permutations give the same "
                             f"matrix every time), not {permutation!r}")
        if int(num_targets) != num_targets or num_targets < 1:
            raise ValueError(f"num_targets must be a positive integer, got {num_targets!r}")
        if int(block_bytes) < 1:
            raise ValueError(f"block_bytes must be positive, got {block_bytes!r}")
        self.kernel = kernel
        self.permutation = permutation
        self.n_atoms_max = int(n_atoms_max)
        self.sigma = None if sigma is None else check_sigma(sigma)
        self.regularization = None if regularization is None else check_lambda(regularization)
        self.num_targets = int(num_targets)
        self.distance_unit = distance_unit
        self.augment = int(augment)
        self.random_noise = float(random_noise)
        self.predict_samples = int(predict_samples) if predict_samples is not None else self.augment
        if self.predict_samples < 1:
            raise ValueError(f"predict_samples must be a positive integer, got {predict_samples!r}")
        self.seed = int(seed)
        self.species = None if species is None else sorted(int(z) for z in species)
        self.block_bytes = int(block_bytes)
        self.max_z = 118  # what the Coulomb matrix takes; ``species`` says what the model has seen
        self.cutoff = None
        self.readout = "none"
        self.cv_result: CrossValidation | None = None
        # The fitted state (buffers, so state_dict and checkpoints carry them): the training molecules
        # or features, the coefficients and the per-target offsets.
        self.register_buffer("train_z", torch.zeros(0, dtype=torch.uint8))
        self.register_buffer("train_pos", torch.zeros(0, 3, dtype=torch.float64))
        self.register_buffer("train_ptr", torch.zeros(1, dtype=torch.int64))
        self.register_buffer("train_features", torch.zeros(0, 0, dtype=torch.float64))
        self.register_buffer("alpha", torch.zeros(0, self.num_targets, dtype=torch.float64))
        self.register_buffer("target_offset", torch.zeros(self.num_targets, dtype=torch.float64))
        self._rows_cache = None
        CoulombMatrix(self.n_atoms_max, **self._cm_options())  # checks distance_unit and random_noise now

    # --- configuration ------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this model (with the chosen sigma and lambda): a checkpoint's model_config."""
        return dict(kernel=self.kernel, permutation=self.permutation, n_atoms_max=self.n_atoms_max,
                    sigma=self.sigma, regularization=self.regularization, num_targets=self.num_targets,
                    distance_unit=self.distance_unit, augment=self.augment, random_noise=self.random_noise,
                    predict_samples=self.predict_samples, seed=self.seed, species=self.species,
                    block_bytes=self.block_bytes)

    @property
    def fitted(self) -> bool:
        return self.alpha.shape[0] > 0

    @property
    def num_train_rows(self) -> int:
        """Kernel rows of the training set: molecules times augmented copies."""
        return int(self.alpha.shape[0])

    def extra_repr(self) -> str:
        state = f"{self.num_train_rows:,} training rows" if self.fitted else "not fitted"
        return (f"kernel={self.kernel}, permutation={self.permutation}, sigma={self.sigma}, "
                f"regularization={self.regularization}, num_targets={self.num_targets}, {state}")

    # --- features -----------------------------------------------------------------------
    def _cm_options(self) -> dict[str, Any]:
        options: dict[str, Any] = dict(permutation=self.permutation, flatten=True, distance_unit=self.distance_unit,
                                       dtype=torch.float64)
        if self.permutation == "random":
            options["sigma"] = self.random_noise
        return options

    def _featurizer(self, seed: int) -> CoulombMatrix:
        # A fresh generator per call: the same molecules always get the same random matrices.
        return CoulombMatrix(self.n_atoms_max, seed=seed, **self._cm_options())

    def featurize(self, z: torch.Tensor, pos: torch.Tensor, batch: torch.Tensor | None = None,
                  draws: int = 1, seed: int | None = None) -> torch.Tensor:
        """Features (draws, B, F) float64 of B molecules: z (N,) int64, pos (N, 3) Å, batch (N,) or None.

        ``draws`` > 1 only differs from 1 for "random": independent random matrices.
        """
        cm = self._featurizer(self.seed if seed is None else seed)
        pos = pos.detach().to(torch.float64)
        return torch.stack([cm(z, pos, batch) for _ in range(draws)]).cpu()

    def featurize_molecules(self, molecules: Sequence, draws: int = 1, seed: int | None = None) -> torch.Tensor:
        """Features (draws, B, F) of a list of ASE ``Atoms``, ``Molecule`` records or ``(z, pos)`` pairs (Å)."""
        cm = self._featurizer(self.seed if seed is None else seed)
        return torch.stack([cm.create(molecules) for _ in range(draws)])

    # --- fitting ------------------------------------------------------------------------
    def fit(self, molecules: Sequence, y: torch.Tensor, **options) -> "KernelRidge":
        """Fits on molecules (ASE ``Atoms``, ``Molecule`` records or ``(z, pos)`` pairs, pos in Å).

        Args:
            molecules: B training molecules.
            y: (B, T) or (B,) targets in their units (eV for energies).
            options: those of :meth:`fit_features` (``sigmas``, ``lambdas``, ``folds``,
                ``cv_size``, ``cv_method``, ``device``, ``memory_limit``, ``progress``).

        Returns:
            self, with ``sigma``, ``regularization``, ``species`` and (when
            they were chosen here) ``cv_result`` set.
        """
        molecules = list(molecules)
        zs, positions = [], []
        for k, mol in enumerate(molecules):
            z, pos = _z_and_pos(mol, k)
            zs.append(z)
            positions.append(pos)
        features = self.featurize_molecules(list(zip(zs, positions)), draws=self.augment)
        self._fit_rows(features, y, options)
        counts = torch.tensor([len(z) for z in zs], dtype=torch.int64)
        ptr = torch.zeros(len(zs) + 1, dtype=torch.int64)
        torch.cumsum(counts, 0, out=ptr[1:])
        z_all = torch.from_numpy(np.concatenate(zs)) if zs else torch.zeros(0, dtype=torch.int64)
        self.train_z = z_all.to(torch.uint8)
        self.train_pos = _compact_positions(np.concatenate(positions) if zs else np.zeros((0, 3)))
        self.train_ptr = ptr
        self.train_features = torch.zeros(0, 0, dtype=torch.float64)
        self.species = sorted(set(int(v) for v in z_all.tolist()))
        return self

    def fit_features(self, features: torch.Tensor, y: torch.Tensor, **options) -> "KernelRidge":
        """Fits on precomputed features: (B, F) rows, or (draws, B, F) augmented copies of B molecules.

        Keyword options:
            sigmas, lambdas: cross-validation grids (default: see :mod:`geognn.krr.cross_validation`);
                ignored for a hyperparameter the model already has (``sigma``, ``regularization``).
            folds (5), cv_size (2000: molecules, drawn at random, that cross-validation runs on),
            cv_method ("auto"), device ("cpu"), memory_limit (bytes; default 90% of what is free),
            progress (False).
        """
        features = torch.as_tensor(features, dtype=torch.float64)
        self._fit_rows(features if features.dim() == 3 else features[None], y, options)
        self.train_features = (features if features.dim() == 3 else features[None]).reshape(-1, features.shape[-1])
        self.train_z = torch.zeros(0, dtype=torch.uint8)
        self.train_pos = torch.zeros(0, 3, dtype=torch.float64)
        self.train_ptr = torch.zeros(1, dtype=torch.int64)
        return self

    def _fit_rows(self, features: torch.Tensor, y: torch.Tensor, options: dict) -> None:
        """Fits on (draws, B, F) features of B molecules; rows ordered draw by draw."""
        known = {"sigmas", "lambdas", "folds", "cv_size", "cv_method", "device", "memory_limit", "progress"}
        unknown = set(options) - known
        if unknown:
            raise TypeError(f"unknown fit option(s) {sorted(unknown)}; known: {sorted(known)}")
        device = torch.device(options.get("device", "cpu"))
        draws, b, _f = features.shape
        y = torch.as_tensor(y, dtype=torch.float64).cpu()
        y = y[:, None] if y.dim() == 1 else y
        if y.shape != (b, self.num_targets):
            raise ValueError(f"y must be ({b}, {self.num_targets}) for {b} molecules and num_targets="
                             f"{self.num_targets}, got {tuple(y.shape)}")
        if not bool(torch.isfinite(y).all()):
            row = int((~torch.isfinite(y)).any(dim=1).nonzero()[0])
            raise ValueError(f"training molecule {row} has a non-finite target {y[row].tolist()}")
        if b < 2:
            raise ValueError(f"kernel ridge regression needs at least 2 training molecules, got {b}")
        rows = features.reshape(draws * b, -1)
        y_rows = y.repeat(draws, 1)
        groups = torch.arange(b).repeat(draws)
        limit = options.get("memory_limit")
        memory.check_fits(rows.shape[0], device, limit, memory.FIT_MATRICES, "the fit", draws)
        if self.sigma is None or self.regularization is None:
            self.cv_result = self._cross_validate(rows, y_rows, groups, b, device, options)
            self.sigma = self.cv_result.best_sigma if self.sigma is None else self.sigma
            self.regularization = (self.cv_result.best_lambda if self.regularization is None
                                   else self.regularization)
        order = column_order(rows)
        source = pack_rows(rows, order, metric_of(self.kernel)) if device.type == "cpu" else rows.to(device)
        k = torch.empty(rows.shape[0], rows.shape[0], dtype=torch.float64, device=device)
        pairwise_distances(source, None, metric_of(self.kernel), out=k)
        del source
        kernel_from_distances_(k, self.kernel, self.sigma)
        offset = y_rows.mean(dim=0)
        alpha = solve_in_place(k, (y_rows - offset).to(device), self.regularization)
        del k
        self.alpha = alpha.cpu()
        self.target_offset = offset
        self._rows_cache = None

    def _cross_validate(self, rows, y_rows, groups, molecules, device, options) -> CrossValidation:
        cv_size = int(options.get("cv_size", DEFAULT_CV_SIZE))
        if cv_size < 2:
            raise ValueError(f"cv_size must be at least 2 molecules, got {cv_size}")
        if molecules > cv_size:
            chosen = torch.randperm(molecules, generator=torch.Generator().manual_seed(self.seed))[:cv_size]
            keep = torch.isin(groups, chosen)
            rows, y_rows, groups = rows[keep], y_rows[keep], groups[keep]
        memory.check_fits(rows.shape[0], device, options.get("memory_limit"), memory.CV_MATRICES,
                          "cross-validation", self.augment)
        return cross_validate(rows, y_rows, self.kernel,
                              sigmas=[self.sigma] if self.sigma is not None else options.get("sigmas"),
                              lambdas=[self.regularization] if self.regularization is not None
                              else options.get("lambdas"),
                              folds=options.get("folds", 5), groups=groups,
                              method=options.get("cv_method", "auto"), seed=self.seed, device=device,
                              progress=options.get("progress", False))

    # --- prediction ---------------------------------------------------------------------
    def _training_rows(self, device: torch.device):
        """The training rows in the form the kernel code takes on ``device`` (computed once, then cached)."""
        if self._rows_cache is not None and self._rows_cache[0] == device:
            return self._rows_cache[1], self._rows_cache[2]
        if self.train_features.numel():
            rows = self.train_features.cpu()
        else:
            ptr = self.train_ptr.cpu()
            counts = ptr[1:] - ptr[:-1]
            batch = torch.repeat_interleave(torch.arange(counts.numel()), counts)
            rows = self.featurize(self.train_z.cpu().long(), self.train_pos.cpu(), batch,
                                  draws=self.augment).reshape(-1, self._num_features())
        if rows.shape[0] != self.num_train_rows:
            raise ValueError(f"the model holds {rows.shape[0]} training rows for {self.num_train_rows} coefficients")
        order = column_order(rows)
        prepared = pack_rows(rows, order, metric_of(self.kernel)) if device.type == "cpu" else rows.to(device)
        self._rows_cache = (device, prepared, order)
        return prepared, order

    def _num_features(self) -> int:
        n = self.n_atoms_max
        return n if self.permutation == "eigenspectrum" else n * (n + 1) // 2

    def predict_features(self, features: torch.Tensor) -> torch.Tensor:
        """Predictions (B, T) float64 for features (B, F), or the mean over draws of (draws, B, F)."""
        if not self.fitted:
            raise RuntimeError("this KernelRidge is not fitted: call fit(molecules, y) or fit_features(features, y)")
        features = torch.as_tensor(features, dtype=torch.float64)
        draws = features[None] if features.dim() == 2 else features
        device = self.alpha.device
        train, order = self._training_rows(device)
        metric = metric_of(self.kernel)
        alpha = self.alpha
        n_train = alpha.shape[0]
        step = max(1, self.block_bytes // (8 * max(n_train, 1)))
        out = torch.zeros(draws.shape[1], self.num_targets, dtype=torch.float64, device=device)
        for sample in draws:
            for first in range(0, sample.shape[0], step):
                block = sample[first:first + step]
                block = pack_rows(block, order, metric) if device.type == "cpu" else block.to(device)
                k = pairwise_distances(block, train, metric)
                out[first:first + step] += kernel_from_distances_(k, self.kernel, self.sigma) @ alpha
        return (out / draws.shape[0] + self.target_offset.to(device)).cpu()

    def predict_molecules(self, molecules: Sequence) -> torch.Tensor:
        """Predictions (B, T) float64 for a list of molecules (as :meth:`fit` takes them)."""
        molecules = [_z_and_pos(m, k) for k, m in enumerate(molecules)]
        return self.predict_features(self.featurize_molecules(molecules, self.predict_samples, self.seed + 1))

    def forward(self, data, forces: bool = False) -> dict[str, torch.Tensor]:
        """``{"y": (B, T)}`` float64 for a PyG ``Data``/``Batch`` (``z`` (N,), ``pos`` (N, 3) Å, ``batch``)."""
        if forces:
            raise ValueError("KernelRidge on Coulomb matrices predicts energies, not forces: sorted matrices "
                             "change order as atoms move, so the model is not a smooth function of positions")
        batch = getattr(data, "batch", None)
        features = self.featurize(data.z, data.pos, batch, self.predict_samples, self.seed + 1)
        num_graphs = getattr(data, "num_graphs", None)
        if num_graphs is not None and features.shape[1] != int(num_graphs):
            raise ValueError(f"the batch says {int(num_graphs)} molecules but its atoms belong to "
                             f"{features.shape[1]}: a molecule without atoms cannot be predicted")
        return {"y": self.predict_features(features)}

    # --- checkpoints ------------------------------------------------------------------------
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        # The buffers' sizes are those of the training set, which a fresh model does not know yet.
        for name in (*_GEOMETRY_BUFFERS, "train_features", "alpha", "target_offset"):
            incoming = state_dict.get(prefix + name)
            if isinstance(incoming, torch.Tensor):
                setattr(self, name, torch.empty_like(incoming, device=getattr(self, name).device))
        self._rows_cache = None
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def _apply(self, fn, recurse=True):
        self._rows_cache = None  # moved to another device: prepare the training rows there
        return super()._apply(fn, recurse)


def _z_and_pos(mol, index: int):
    """(z (n,) int64, pos (n, 3) float64 Å) of an ASE Atoms, a Molecule record or a (z, pos) pair."""
    if hasattr(mol, "get_atomic_numbers"):
        z, pos = mol.get_atomic_numbers(), mol.get_positions()
    elif hasattr(mol, "z") and hasattr(mol, "pos"):
        if mol.pos is None:
            raise ValueError(f"molecule {index} ({getattr(mol, 'identifier', '?')}) has no 3D positions")
        z, pos = mol.z, mol.pos
    else:
        z, pos = mol
    z = np.asarray(z.cpu() if isinstance(z, torch.Tensor) else z, dtype=np.int64)
    pos = np.asarray(pos.detach().cpu() if isinstance(pos, torch.Tensor) else pos, dtype=np.float64)
    if pos.shape != (len(z), 3):
        raise ValueError(f"molecule {index}: {len(z)} atomic numbers but positions of shape {pos.shape}")
    return z, pos


def _compact_positions(pos: np.ndarray) -> torch.Tensor:
    """Positions as stored: float32 when that holds them exactly (QM9's are float32), else float64.

    Features are recomputed from the stored positions (in float64), so they
    equal those the coefficients were fitted on either way; float32 halves
    the size of a checkpoint.
    """
    pos32 = pos.astype(np.float32)
    if np.array_equal(pos32.astype(np.float64), pos):
        return torch.from_numpy(pos32)
    return torch.from_numpy(np.ascontiguousarray(pos, dtype=np.float64))
