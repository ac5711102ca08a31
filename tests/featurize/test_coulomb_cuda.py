"""The CUDA Coulomb-matrix kernel against the CPU kernel, bit for bit, on molecules made here.

Self-contained (no QM9, no ASE: the borrowed GPU machine has neither): random
molecules of every size up to n_atoms_max, and symmetric ones (rings, Platonic
clusters, a methane-like star) whose tied rows send sorted_canonical through its
canonical pass. The n_atoms_max values straddle the CUDA kernel's layouts (up to
32 and 128 atoms per molecule in registers, beyond that in spilled scratch).
Where there is a GPU the CUDA kernel must equal the CPU kernel exactly; on the CPU
the same molecules check the C++ kernel against the pure-PyTorch path.
"""

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from geognn.featurize import CoulombMatrix
from geognn.featurize.coulomb import _half_z_to_2_4, _has_kernel

from .molecules import BAD_COULOMB_CALLS, batched, call_coulomb_op, random_rigid_motion

CUDA = torch.cuda.is_available() and _has_kernel("cuda")
DEVICES = [
    pytest.param("cpu", marks=pytest.mark.skipif(not _has_kernel("cpu"), reason="native extension not built")),
    pytest.param("cuda", marks=pytest.mark.skipif(not CUDA, reason="needs a CUDA device and a CUDA build")),
]
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device and a CUDA build of geognn._C")
SIZES = [4, 29, 32, 33, 64, 128, 129, 256]
PERMUTATIONS = ["none", "sorted_l2", "sorted_canonical", "random"]
ELEMENTS = np.array([1, 6, 7, 8, 9, 16, 17])


def random_molecule(rng, atoms):
    """Atoms of common elements on a jittered 1.5 Å grid (no two closer than about 1 Å), positions in Å."""
    side = int(np.ceil(atoms ** (1 / 3)))
    cells = np.array(list(itertools.product(range(side), repeat=3)), dtype=float)[rng.permutation(side ** 3)[:atoms]]
    pos = 1.5 * cells + 0.2 * rng.uniform(-1, 1, cells.shape)
    return SimpleNamespace(z=rng.choice(ELEMENTS, atoms), pos=pos)


def symmetric_molecules():
    """Molecules with tied rows: rings, the Platonic clusters, a star (methane-like), a linear chain."""
    phi = (1 + 5 ** 0.5) / 2
    signs = np.array(list(itertools.product([-1, 1], repeat=3)), dtype=float)

    def cyclic(points):
        return np.concatenate([np.roll(points, shift, axis=1) for shift in range(3)])

    icosahedron = cyclic(np.unique(signs[:, :2], axis=0) @ np.array([[0, 1, 0], [0, 0, phi]]))
    dodecahedron = np.concatenate([signs, cyclic(np.unique(signs[:, :2], axis=0)
                                                 @ np.array([[0, 1 / phi, 0], [0, 0, phi]]))])
    out = [SimpleNamespace(z=np.full(len(p), 6), pos=1.4 * p) for p in (signs, icosahedron, dodecahedron)]
    for k in (3, 6, 12):  # carbon rings with a hydrogen outside each carbon
        angles = 2 * np.pi * np.arange(k) / k
        ring = np.stack([np.cos(angles), np.sin(angles), np.zeros(k)], axis=1)
        radius = 1.4 * k / (2 * np.pi) + 0.5
        out.append(SimpleNamespace(z=np.array([6] * k + [1] * k), pos=np.concatenate([radius * ring,
                                                                                      (radius + 1.1) * ring])))
    tetrahedron = signs[[0, 3, 5, 6]] / np.sqrt(3)
    out.append(SimpleNamespace(z=np.array([6, 1, 1, 1, 1]), pos=np.concatenate([np.zeros((1, 3)), 1.09 * tetrahedron])))
    out.append(SimpleNamespace(z=np.full(4, 6), pos=np.outer(np.arange(4), [1.3, 0, 0])))
    return out


def molecules_for(n, seed=0):
    rng = np.random.default_rng(seed)
    sizes = sorted({1, 2, 3, max(1, n // 3), max(1, n // 2), max(1, n - 1), n})
    found = [random_molecule(rng, m) for m in sizes for _ in range(2)]
    return found + [m for m in symmetric_molecules() if len(m.z) <= n]


def featurizer(n, permutation, flatten, native=True):
    """A CoulombMatrix on the native kernel (or the torch path); "random" with a fixed seed (the same draws)."""
    cm = CoulombMatrix(n, permutation=permutation, flatten=flatten, sigma=0.5 if permutation == "random" else None,
                       seed=7 if permutation == "random" else None)
    cm.use_native = native
    return cm


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("permutation", PERMUTATIONS)
@pytest.mark.parametrize("flatten", [False, True], ids=["square", "flat"])
@pytest.mark.parametrize("pos_dtype", [torch.float64, torch.float32], ids=str)
def test_kernel_equals_the_cpu_for_every_size_and_order(device, n, permutation, flatten, pos_dtype):
    if device == "cpu" and n not in (4, 33):
        pytest.skip("on the CPU two sizes suffice (tests/featurize/test_coulomb_native.py has QM9); the CUDA run "
                    "covers every layout")
    args = batched(molecules_for(n), pos_dtype)
    expected = featurizer(n, permutation, flatten, native=device == "cuda")(*args)
    got = featurizer(n, permutation, flatten)(*(a.to(device) for a in args))
    assert got.device.type == device
    if device == "cuda":  # the same arithmetic, products rounded alike: bit for bit
        assert torch.equal(got.cpu(), expected)
    else:
        tol = 1e-12 if pos_dtype == torch.float64 else 1e-5
        torch.testing.assert_close(got, expected, rtol=tol, atol=tol)


@needs_cuda
def test_eigenspectrum_on_the_gpu_equals_the_cpu():
    cm = CoulombMatrix(33, permutation="eigenspectrum")
    args = batched(molecules_for(33))
    torch.testing.assert_close(cm(*(a.cuda() for a in args)).cpu(), cm(*args), rtol=1e-10, atol=1e-10)


@needs_cuda
def test_canonical_order_is_invariant_on_the_gpu():
    rows = molecules_for(29) * 3
    rng = np.random.default_rng(0)
    moved = []
    for row in rows:
        perm = rng.permutation(len(row.z))
        moved.append(SimpleNamespace(z=row.z[perm], pos=random_rigid_motion(row.pos, rng)[perm]))
    cm = CoulombMatrix(29, permutation="sorted_canonical")
    torch.testing.assert_close(cm(*(a.cuda() for a in batched(moved))), cm(*(a.cuda() for a in batched(rows))),
                               rtol=1e-10, atol=0)


@needs_cuda
def test_interleaved_atoms_and_empty_molecules():
    z, pos, batch = batched(molecules_for(29))
    perm = torch.randperm(len(z), generator=torch.Generator().manual_seed(1))
    cm = CoulombMatrix(29, permutation="sorted_canonical")
    args = (z[perm], pos[perm], 3 * batch[perm])
    assert torch.equal(cm(*(a.cuda() for a in args)).cpu(), cm(*args))


@pytest.mark.parametrize("device", DEVICES)
def test_the_first_bad_molecule_is_named_as_on_the_cpu(device):
    rows = molecules_for(29)[:6]
    z, pos, batch = batched(rows)
    for b, (i, j) in [(4, (1, 3)), (2, (0, 1))]:  # clashes in molecules 4 and 2: molecule 2 is reported
        first = int((batch == b).nonzero()[0])
        pos[first + j] = pos[first + i]
    with pytest.raises(ValueError, match="molecule 2: atoms 0 and 1 are at the same position"):
        CoulombMatrix(29, permutation="sorted_canonical")(z.to(device), pos.to(device), batch.to(device))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bad, message", BAD_COULOMB_CALLS)
def test_direct_calls_with_bad_arguments_raise_instead_of_crashing(device, bad, message):
    with pytest.raises(ValueError, match=message):
        call_coulomb_op(device, **bad)
    if device == "cuda":
        torch.cuda.synchronize()  # the device is still usable: no kernel faulted


@needs_cuda
def test_tensors_on_two_devices_are_an_error():
    pos = torch.randn(2, 3, dtype=torch.float64, device="cuda")
    with pytest.raises(ValueError, match="pos is on cuda.* but z is on cpu"):
        torch.ops.geognn.coulomb_matrix(torch.tensor([1, 1]), pos, torch.tensor([0, 2], device="cuda"),
                                        _half_z_to_2_4(pos), None, 2, "none", 0.0, 1e-10, 1.0, False, torch.float64)


@needs_cuda
@pytest.mark.parametrize("permutation, expected", [("sorted_l2", 2), ("sorted_canonical", 3)])
def test_the_kernel_synchronises_twice_and_once_more_for_tied_molecules(permutation, expected):
    """One read checks the arguments, one learns whether any molecule failed or needs the canonical pass; the
    canonical pass (symmetric molecules under sorted_canonical) adds the read of its outcome."""
    import warnings

    cm = CoulombMatrix(33, permutation=permutation)
    args = tuple(a.cuda() for a in batched(molecules_for(33)))
    direct = _direct_args(cm, *args)
    torch.ops.geognn.coulomb_matrix(*direct)
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            torch.ops.geognn.coulomb_matrix(*direct)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    assert len(syncs) == expected, [str(w.message) for w in syncs]


def _direct_args(cm, z, pos, batch):
    """The op's arguments for atoms already grouped by molecule (what the featurizer passes it)."""
    counts = torch.bincount(batch)
    ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    return (z, pos, ptr, _half_z_to_2_4(pos), None, cm.n_atoms_max, cm.permutation, 0.0, 1e-10, 1.0, False,
            pos.dtype)
