"""permutation="sorted_canonical": the same matrix for every atom order, on the native kernel and the torch path."""

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from ase.collections import g2

from geognn.data import iter_qm9_rows
from geognn.featurize import CoulombMatrix
from geognn.featurize.canonical_order import compare_leaves, equitable_partition, search_leaves
from geognn.featurize.coulomb import _half_z_to_2_4, _tie_rtol
from geognn.ops import _native

from .molecules import batched, random_rigid_motion

needs_native = pytest.mark.skipif(not _native.HAS_NATIVE, reason="native extension not built")
ROUTES = [pytest.param(True, id="native", marks=needs_native), pytest.param(False, id="torch-path")]


@pytest.fixture(scope="module")
def g2_molecules():
    return [SimpleNamespace(name=name, z=g2[name].numbers.astype(np.int64), pos=g2[name].positions)
            for name in g2.names]


@pytest.fixture(scope="module")
def qm9():
    return list(iter_qm9_rows(500))


def featurizer(native, n_atoms_max=29, **kwargs):
    cm = CoulombMatrix(n_atoms_max, permutation="sorted_canonical", **kwargs)
    cm.use_native = native
    return cm


def moved_copies(rows, copies, seed, motion=True):
    """Each molecule with its atoms shuffled (and rotated and translated if ``motion``), ``copies`` times over."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(copies):
        for row in rows:
            perm = rng.permutation(len(row.z))
            pos = random_rigid_motion(row.pos, rng) if motion else row.pos
            out.append(SimpleNamespace(z=row.z[perm], pos=pos[perm]))
    return out


def changed(copies, reference, rtol):
    """Indices of molecules whose moved copies differ from the reference beyond rtol (relative to the entries)."""
    k = len(reference)
    copies = copies.view(-1, *reference.shape)
    scale = reference.abs().clamp_min(1.0)
    return sorted(set(((copies - reference).abs() > rtol * scale).flatten(2).any(2).nonzero()[:, 1].tolist()) & set(range(k)))


@pytest.mark.parametrize("native", ROUTES)
def test_every_atom_order_rotation_and_translation_gives_the_same_matrix_in_float64(g2_molecules, qm9, native):
    rows = g2_molecules + qm9
    cm = featurizer(native)
    reference = cm(*batched(rows))
    moved = cm(*batched(moved_copies(rows, copies=5, seed=0)))
    assert changed(moved, reference, 1e-10) == []


def test_sorted_l2_changes_with_the_atom_order_where_sorted_canonical_does_not(g2_molecules):
    # The measurement: symmetric atoms (ethane's hydrogens, ...) tie in norm, and sorted_l2 keeps the
    # input order among them.
    moved = batched(moved_copies(g2_molecules, copies=1, seed=5))
    names = {}
    for permutation in ("sorted_l2", "sorted_canonical"):
        cm = CoulombMatrix(29, permutation=permutation)
        names[permutation] = [g2_molecules[k].name
                              for k in changed(cm(*moved), cm(*batched(g2_molecules)), 1e-10)]
    assert len(names["sorted_l2"]) >= 10 and "C2H6" in names["sorted_l2"]
    assert names["sorted_canonical"] == []


@pytest.mark.parametrize("native", ROUTES)
def test_float32_exactly_symmetric_molecules_under_rigid_motion_and_qm9_under_permutation(g2_molecules, qm9, native):
    cm = featurizer(native)
    reference = cm(*batched(g2_molecules, torch.float32))
    moved = cm(*batched(moved_copies(g2_molecules, copies=3, seed=1), torch.float32))
    assert changed(moved, reference, 1e-4) == []
    # QM9's near-symmetries are broken by about the float32 tie tolerance (1.2e-5), so a rotation's float32
    # rounding of the positions can move them across it (the case the docstring leaves open); a permutation
    # keeps every position's bits.
    reference = cm(*batched(qm9, torch.float32))
    moved = cm(*batched(moved_copies(qm9, copies=2, seed=2, motion=False), torch.float32))
    assert changed(moved, reference, 1e-6) == []


@pytest.mark.parametrize("name", ["CH4", "NH3", "H2O", "C2H4", "SiH4"])
def test_every_permutation_of_a_small_symmetric_molecule(name):
    atoms = g2[name]
    z, pos = torch.from_numpy(atoms.numbers), torch.from_numpy(atoms.positions)
    perms = torch.tensor(list(itertools.permutations(range(len(z)))))
    batch = torch.arange(len(perms)).repeat_interleave(len(z))
    out = CoulombMatrix(8, permutation="sorted_canonical")(z[perms].flatten(), pos[perms].flatten(0, 1), batch)
    torch.testing.assert_close(out, out[:1].expand_as(out), rtol=1e-12, atol=0)


def test_atoms_that_refinement_leaves_interchangeable_can_be_ordered_any_way(g2_molecules, qm9):
    # Where colour refinement leaves several atoms in one cell, the search tries each of them in turn; on every
    # g2 and QM9 molecule every branch gives the same matrix, so their order does not change it.
    searched = 0
    for row in g2_molecules + qm9:
        matrix = CoulombMatrix(len(row.z), permutation="none")(torch.from_numpy(row.z),
                                                               torch.from_numpy(row.pos))[0].numpy()
        norms = np.linalg.norm(matrix, axis=1)
        leaves = list(search_leaves(matrix, norms, 1e-10))
        assert all(compare_leaves(matrix, leaf, leaves[0], 1e-10) == 0 for leaf in leaves), row
        searched += len(leaves) > 1
    assert searched >= 40  # CH4, benzene, ethane, ...: the search is exercised, not skipped


def test_benzene_needs_the_search_beyond_refinement():
    # g2's benzene is D6h only to its 6 printed decimals; this one is D6h to rounding.
    angle = np.arange(6) * np.pi / 3
    ring = np.stack([np.cos(angle), np.sin(angle), np.zeros(6)], axis=1)
    z, pos = torch.tensor([6] * 6 + [1] * 6), torch.from_numpy(np.concatenate([1.39 * ring, 2.47 * ring]))
    matrix = CoulombMatrix(12, permutation="none")(z, pos)[0].numpy()
    cells = equitable_partition(matrix, [list(range(12))], 1e-10)
    assert sorted(len(c) for c in cells) == [6, 6]  # carbons and hydrogens: refinement alone cannot order them
    assert len(list(search_leaves(matrix, np.linalg.norm(matrix, axis=1), 1e-10))) == 12  # |D6h| on the atoms


def platonic_clusters():
    """Cube (8 atoms, 48 symmetries), icosahedron (12, 120) and dodecahedron (20, 120), in Å, as (z, pos)."""
    phi = (1 + 5 ** 0.5) / 2
    signs = np.array(list(itertools.product([-1, 1], repeat=3)), dtype=float)

    def cyclic(points):
        return np.concatenate([np.roll(points, shift, axis=1) for shift in range(3)])

    cube = signs
    icosahedron = cyclic(np.unique(signs[:, :2], axis=0) @ np.array([[0, 1, 0], [0, 0, phi]]))
    dodecahedron = np.concatenate([signs, cyclic(np.unique(signs[:, :2], axis=0) @ np.array([[0, 1 / phi, 0],
                                                                                            [0, 0, phi]]))])
    return [SimpleNamespace(z=np.full(len(p), 6), pos=1.4 * p) for p in (cube, icosahedron, dodecahedron)]


@pytest.mark.parametrize("native", ROUTES)
def test_highly_symmetric_clusters_need_the_pruned_search_and_stay_invariant(native):
    clusters = platonic_clusters()
    assert [len(c.z) for c in clusters] == [8, 12, 20]
    cm = featurizer(native, n_atoms_max=20)
    reference = cm(*batched(clusters))
    moved = cm(*batched(moved_copies(clusters, copies=4, seed=3)))
    assert changed(moved, reference, 1e-10) == []
    if native:  # the pruned search of the kernel keeps the matrix of the reference's full search
        torch.testing.assert_close(reference, featurizer(False, n_atoms_max=20)(*batched(clusters)),
                                   rtol=1e-12, atol=0)


@needs_native
@pytest.mark.parametrize("pos_dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("flatten", [False, True])
def test_native_kernel_equals_the_torch_path(g2_molecules, qm9, pos_dtype, flatten):
    rows = g2_molecules + qm9[:300]
    native, reference = featurizer(True, flatten=flatten), featurizer(False, flatten=flatten)
    args = batched(rows, pos_dtype)
    assert native._native_applies(args[1], pos_dtype)
    tol = dict(rtol=1e-12, atol=1e-12) if pos_dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(native(*args), reference(*args), **tol)


@pytest.mark.parametrize("native", ROUTES)
def test_without_tied_norms_it_is_sorted_l2(qm9, native):
    args = batched(qm9)
    sorted_l2 = CoulombMatrix(29, permutation="sorted_l2")
    sorted_l2.use_native = native
    expected = sorted_l2(*args)
    ours = featurizer(native)(*args)
    same = [k for k in range(len(qm9)) if torch.equal(ours[k], expected[k])]
    assert len(same) >= 490  # only molecules with exactly symmetric atoms (a handful in QM9) differ
    assert torch.equal(featurizer(native, dtype=torch.float32)(*args), ours.float())


@pytest.mark.parametrize("native", ROUTES)
def test_edge_cases_single_atom_padding_empty_and_batch_equals_one_by_one(g2_molecules, native):
    cm = featurizer(native, n_atoms_max=20)
    one = cm(torch.tensor([6]), torch.zeros(1, 3, dtype=torch.float64))
    assert one.shape == (1, 20, 20) and one[0, 0, 0] == 0.5 * 6 ** 2.4 and torch.count_nonzero(one) == 1
    assert cm(torch.zeros(0, dtype=torch.int64), torch.zeros(0, 3, dtype=torch.float64)).shape == (0, 20, 20)
    rows = g2_molecules[::8]
    together = cm(*batched(rows))
    for k, row in enumerate(rows):
        alone = cm(torch.from_numpy(row.z), torch.from_numpy(row.pos))[0]
        assert torch.equal(together[k], alone)
        n = len(row.z)
        assert torch.count_nonzero(alone[n:]) == 0 and torch.count_nonzero(alone[:, n:]) == 0


@needs_native
def test_direct_op_call_orders_canonically():
    atoms = g2["C2H6"]
    z, pos = torch.from_numpy(atoms.numbers), torch.from_numpy(atoms.positions)
    perm = torch.tensor([7, 1, 4, 0, 2, 6, 3, 5])
    ptr = torch.tensor([0, 8, 16])
    args = (torch.cat([z, z[perm]]), torch.cat([pos, pos[perm]]), ptr, _half_z_to_2_4(pos), None, 8,
            "sorted_canonical", 0.0, _tie_rtol(pos.dtype), 1.0, False, torch.float64)
    out = torch.ops.geognn.coulomb_matrix(*args)
    torch.testing.assert_close(out[0], out[1], rtol=1e-12, atol=0)
