"""CoulombMatrix: DScribe's numbers on real QM9 molecules, invariances, units and clear errors."""

import ase
import numpy as np
import pytest
import torch
from dscribe.descriptors import CoulombMatrix as DScribeCoulombMatrix

from geognn.data import iter_qm9_rows
from geognn.featurize import BOHR_IN_ANGSTROM, CoulombMatrix

from .molecules import batched, random_rigid_motion


@pytest.fixture(scope="module")
def qm9():
    return list(iter_qm9_rows(400))


def dscribe(rows, permutation, n_atoms_max=29):
    atoms = [ase.Atoms(numbers=r.z, positions=r.pos) for r in rows]
    return DScribeCoulombMatrix(n_atoms_max=n_atoms_max, permutation=permutation).create(atoms)


def has_tied_row_norms(matrix, n):
    norms = np.sort(np.linalg.norm(matrix[:n, :n], axis=1))
    return bool(np.any(np.diff(norms) < 1e-9 * norms[1:]))


@pytest.mark.parametrize("permutation", ["none", "eigenspectrum"])
def test_matches_dscribe_on_qm9(qm9, permutation):
    ours = CoulombMatrix(29, permutation=permutation)(*batched(qm9)).numpy()
    theirs = dscribe(qm9, permutation).reshape(ours.shape)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-10)


def test_sorted_l2_matches_dscribe_on_qm9_where_the_order_is_unambiguous(qm9):
    ours = CoulombMatrix(29, permutation="sorted_l2")(*batched(qm9)).numpy()
    theirs = dscribe(qm9, "sorted_l2").reshape(ours.shape)
    unambiguous = [k for k, r in enumerate(qm9) if not has_tied_row_norms(theirs[k], len(r.z))]
    assert len(unambiguous) > 0.8 * len(qm9)
    np.testing.assert_allclose(ours[unambiguous], theirs[unambiguous], rtol=1e-12, atol=1e-10)
    # Symmetric molecules tie exactly; any order of the tied rows is a valid sort,
    # so there the row norms must agree, and our matrix must still be a
    # permutation of the unsorted one.
    np.testing.assert_allclose(np.linalg.norm(ours, axis=2), np.linalg.norm(theirs, axis=2), rtol=1e-12, atol=1e-10)
    unsorted = CoulombMatrix(29, permutation="none")(*batched(qm9)).numpy()
    for k in set(range(len(qm9))) - set(unambiguous):
        n = len(qm9[k].z)
        assert np.allclose(np.sort(ours[k, :n, :n].ravel()), np.sort(unsorted[k, :n, :n].ravel()))


def test_definition_on_a_hand_made_molecule():
    z = torch.tensor([8, 1, 1])
    pos = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 2.0, 0.0]], dtype=torch.float64)
    m = CoulombMatrix(4, permutation="none")(z, pos)[0]
    expected = torch.tensor([
        [0.5 * 8**2.4, 8.0, 4.0, 0.0],
        [8.0, 0.5, 1 / np.sqrt(5), 0.0],
        [4.0, 1 / np.sqrt(5), 0.5, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ], dtype=torch.float64)
    torch.testing.assert_close(m, expected)


def test_bohr_distances_scale_off_diagonal_entries_only(qm9):
    args = batched(qm9[:20])
    in_angstrom = CoulombMatrix(29, permutation="none")(*args)
    in_bohr = CoulombMatrix(29, permutation="none", distance_unit="bohr")(*args)
    eye = torch.eye(29, dtype=torch.bool)
    torch.testing.assert_close(in_bohr[:, ~eye], in_angstrom[:, ~eye] * BOHR_IN_ANGSTROM)
    torch.testing.assert_close(in_bohr[:, eye], in_angstrom[:, eye])


@pytest.mark.parametrize("permutation", ["sorted_l2", "eigenspectrum"])
def test_invariant_under_atom_permutation_rotation_and_translation(qm9, permutation):
    rows = [r for r in qm9[100:160]]
    cm = CoulombMatrix(29, permutation=permutation)
    reference = cm(*batched(rows)).numpy()
    theirs = dscribe(rows, "sorted_l2").reshape(len(rows), 29, 29)
    for k, row in enumerate(rows):
        if permutation == "sorted_l2" and has_tied_row_norms(theirs[k], len(row.z)):
            continue  # with tied norms the sorted matrix depends on the input order by design
        perm = torch.randperm(len(row.z), generator=torch.Generator().manual_seed(k))
        pos = torch.from_numpy(random_rigid_motion(row.pos, np.random.default_rng(k)))[perm]
        moved = cm(torch.from_numpy(row.z)[perm], pos)[0].numpy()
        np.testing.assert_allclose(moved, reference[k], rtol=1e-9, atol=1e-9)


def test_none_follows_the_input_order(qm9):
    row = qm9[50]
    perm = torch.arange(len(row.z)).flip(0)
    cm = CoulombMatrix(29, permutation="none")
    a = cm(torch.from_numpy(row.z), torch.from_numpy(row.pos))[0]
    b = cm(torch.from_numpy(row.z)[perm], torch.from_numpy(row.pos)[perm])[0]
    n = len(row.z)
    torch.testing.assert_close(b[:n, :n], a[:n, :n][perm][:, perm])


def test_batch_equals_one_by_one_and_padding_is_zero(qm9):
    rows = qm9[:30]
    cm = CoulombMatrix(29, permutation="sorted_l2")
    together = cm(*batched(rows))
    for k, row in enumerate(rows):
        alone = cm(torch.from_numpy(row.z), torch.from_numpy(row.pos))[0]
        torch.testing.assert_close(together[k], alone)
        n = len(row.z)
        assert torch.count_nonzero(alone[n:]) == 0 and torch.count_nonzero(alone[:, n:]) == 0


def test_shuffled_atoms_and_empty_molecules_give_the_same_rows(qm9):
    rows = qm9[:40]
    z, pos, batch = batched(rows)
    cm = CoulombMatrix(29, permutation="sorted_l2")
    expected = cm(z, pos, batch)
    # Atoms of different molecules interleaved (each molecule's own order kept) and
    # molecule indices spread out, leaving molecules without atoms in between.
    perm = torch.randperm(len(z), generator=torch.Generator().manual_seed(0))
    interleaved = torch.empty_like(perm)
    for b in range(len(rows)):
        interleaved[batch[perm] == b] = (batch == b).nonzero()[:, 0]
    assert not torch.equal(interleaved, torch.arange(len(z)))
    spread = cm(z[interleaved], pos[interleaved], 2 * batch[interleaved])
    assert spread.shape == (2 * len(rows) - 1, 29, 29)
    assert torch.equal(spread[0::2], expected)
    assert torch.count_nonzero(spread[1::2]) == 0


def test_flatten_gives_the_upper_triangle_row_by_row(qm9):
    args = batched(qm9[:10])
    full = CoulombMatrix(29, permutation="sorted_l2")(*args)
    flat = CoulombMatrix(29, permutation="sorted_l2", flatten=True)(*args)
    rows, cols = np.triu_indices(29)
    assert flat.shape == (10, 29 * 30 // 2)
    torch.testing.assert_close(flat, full[:, rows, cols])


def test_random_permutation_is_seeded_and_stays_a_permutation_of_the_matrix(qm9):
    args = batched(qm9[200:220])
    a = CoulombMatrix(29, permutation="random", sigma=2.0, seed=7)
    b = CoulombMatrix(29, permutation="random", sigma=2.0, seed=7)
    first_a, first_b = a(*args), b(*args)
    torch.testing.assert_close(first_a, first_b)
    second_a = a(*args)
    assert not torch.equal(first_a, second_a), "each call should draw fresh noise"
    unsorted = CoulombMatrix(29, permutation="none")(*args)
    for k in range(len(first_a)):
        torch.testing.assert_close(torch.sort(second_a[k].flatten()).values, torch.sort(unsorted[k].flatten()).values)
        n = int(args[2].eq(k).sum())
        assert torch.count_nonzero(second_a[k, n:]) == 0, "padding must stay at the end"


def test_tiny_sigma_random_equals_sorted_l2_when_norms_are_well_separated(qm9):
    row = qm9[300]
    args = (torch.from_numpy(row.z), torch.from_numpy(row.pos))
    sorted_l2 = CoulombMatrix(29, permutation="sorted_l2")(*args)
    if not has_tied_row_norms(sorted_l2[0].numpy(), len(row.z)):
        torch.testing.assert_close(CoulombMatrix(29, permutation="random", sigma=1e-12, seed=0)(*args), sorted_l2)


def test_float32_and_create_from_atoms_agree_with_float64_tensors(qm9):
    rows = qm9[:15]
    cm = CoulombMatrix(29, permutation="eigenspectrum")
    from_tensors = cm(*batched(rows))
    from_atoms = cm.create([ase.Atoms(numbers=r.z, positions=r.pos) for r in rows])
    from_pairs = cm.create([(r.z, r.pos) for r in rows])
    torch.testing.assert_close(from_atoms, from_tensors)
    torch.testing.assert_close(from_pairs, from_tensors)
    in_float32 = CoulombMatrix(29, permutation="eigenspectrum")(*batched(rows, torch.float32))
    assert in_float32.dtype == torch.float32
    torch.testing.assert_close(in_float32.double(), from_tensors, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("permutation", ["none", "sorted_l2", "eigenspectrum"])
def test_float32_output_is_the_float64_result_rounded_once(qm9, permutation):
    as_float64 = CoulombMatrix(29, permutation=permutation)(*batched(qm9))
    as_float32 = CoulombMatrix(29, permutation=permutation, dtype=torch.float32)(*batched(qm9))
    assert as_float64.dtype == torch.float64 and as_float32.dtype == torch.float32
    assert torch.equal(as_float32, as_float64.float())


def test_create_returns_float64_as_dscribe_unless_told(qm9):
    atoms = [ase.Atoms(numbers=r.z, positions=r.pos) for r in qm9[:20]]
    exact = CoulombMatrix(29).create(atoms)
    assert exact.dtype == torch.float64
    rounded = CoulombMatrix(29, dtype=torch.float32).create(atoms)
    assert rounded.dtype == torch.float32 and torch.equal(rounded, exact.float())


def test_two_atoms_at_the_same_place_is_an_error_naming_them(qm9):
    rows = qm9[:3]
    z, pos, batch = batched(rows)
    first_of_2 = int((batch == 2).nonzero()[0])
    pos[first_of_2 + 1] = pos[first_of_2]
    with pytest.raises(ValueError, match="molecule 2: atoms 0 and 1 are at the same position"):
        CoulombMatrix(29)(z, pos, batch)


def test_too_many_atoms_is_an_error_naming_the_molecule(qm9):
    big = max(range(len(qm9)), key=lambda k: len(qm9[k].z))
    with pytest.raises(ValueError, match=f"molecule {big} has {len(qm9[big].z)} atoms, more than n_atoms_max=5"):
        CoulombMatrix(5)(*batched(qm9))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(permutation="sorted"), "permutation must be one of"),
        (dict(permutation="random"), "needs a positive sigma"),
        (dict(permutation="sorted_l2", sigma=1.0), "only used with"),
        (dict(distance_unit="nm"), "distance_unit"),
        (dict(n_atoms_max=0), "n_atoms_max"),
        (dict(dtype=torch.int64), "floating-point dtype"),
    ],
)
def test_bad_settings_are_rejected(kwargs, message):
    args = dict(n_atoms_max=29)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        CoulombMatrix(**args)


def test_non_finite_positions_are_an_error():
    pos = torch.tensor([[0.0, 0.0, 0.0], [float("nan"), 0.0, 0.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="non-finite position.*atom index 1"):
        CoulombMatrix(5)(torch.tensor([1, 1]), pos)


def test_the_callers_thread_count_is_restored_even_after_an_error(qm9):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        CoulombMatrix(29)(*batched(qm9[:5]))
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError):
            CoulombMatrix(3)(*batched(qm9[:5]))  # methane has 5 atoms
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
