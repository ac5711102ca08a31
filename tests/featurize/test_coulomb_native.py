"""The native CPU Coulomb-matrix kernel against the pure-PyTorch path (the reference)."""

import pytest
import torch

from geognn.data import iter_qm9_rows
from geognn.featurize import CoulombMatrix
from geognn.featurize.coulomb import _half_z_to_2_4
from geognn.ops import _native

from .molecules import BAD_COULOMB_CALLS, batched, call_coulomb_op

pytestmark = pytest.mark.skipif(not _native.HAS_NATIVE, reason="native extension not built")


@pytest.fixture(scope="module")
def qm9():
    return list(iter_qm9_rows(300))


def both(**kwargs):
    """The same featurizer twice: native kernel, and forced onto the torch path."""
    native, reference = CoulombMatrix(**kwargs), CoulombMatrix(**kwargs)
    reference.use_native = False
    return native, reference


def close(a, b, computed_in):
    # Same formula, same order of rows; only the rounding of |r| may differ (last bit).
    tol = dict(rtol=1e-12, atol=1e-12) if computed_in == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    assert a.dtype == b.dtype and a.shape == b.shape
    torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("permutation", ["none", "sorted_l2"])
@pytest.mark.parametrize("flatten", [False, True])
@pytest.mark.parametrize("pos_dtype, out_dtype", [(torch.float64, None), (torch.float64, torch.float32),
                                                  (torch.float32, None), (torch.float32, torch.float64)])
@pytest.mark.parametrize("unit", ["angstrom", "bohr"])
def test_native_equals_reference_on_qm9(qm9, permutation, flatten, pos_dtype, out_dtype, unit):
    native, reference = both(n_atoms_max=29, permutation=permutation, flatten=flatten, dtype=out_dtype,
                             distance_unit=unit)
    args = batched(qm9, pos_dtype)
    assert native._native_applies(args[1], out_dtype or pos_dtype)
    assert not reference._native_applies(args[1], out_dtype or pos_dtype)
    close(native(*args), reference(*args), pos_dtype)


def test_random_draws_the_same_noise_as_the_reference(qm9):
    native, reference = both(n_atoms_max=29, permutation="random", sigma=0.5, seed=11)
    args = batched(qm9[:100])
    for _ in range(2):  # the second call draws fresh noise on both
        close(native(*args), reference(*args), torch.float64)


def test_interleaved_atoms_and_empty_molecules(qm9):
    z, pos, batch = batched(qm9[:40])
    perm = torch.randperm(len(z), generator=torch.Generator().manual_seed(1))
    native, reference = both(n_atoms_max=29)
    a, b = native(z[perm], pos[perm], 3 * batch[perm]), reference(z[perm], pos[perm], 3 * batch[perm])
    assert a.shape == (3 * 39 + 1, 29, 29)
    close(a, b, torch.float64)


def test_edge_cases_single_atom_empty_input_and_int32_z():
    native, reference = both(n_atoms_max=4)
    one = (torch.tensor([6]), torch.zeros(1, 3, dtype=torch.float64))
    close(native(*one), reference(*one), torch.float64)
    assert native(*one)[0, 0, 0] == 0.5 * 6 ** 2.4
    empty = (torch.zeros(0, dtype=torch.int64), torch.zeros(0, 3, dtype=torch.float64))
    assert native(*empty).shape == (0, 4, 4)
    assert native.create([]).shape == (0, 4, 4)
    z = torch.tensor([8, 1, 1], dtype=torch.int32)
    pos = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 2.0, 0.0]], dtype=torch.float64)
    close(native(z, pos), reference(z, pos), torch.float64)


def test_symmetric_molecules_keep_input_order_for_tied_rows():
    # Benzene-like ring: all six carbons tie exactly in exact arithmetic.
    angles = torch.arange(6, dtype=torch.float64) * (2 * torch.pi / 6)
    pos = torch.stack([1.4 * torch.cos(angles), 1.4 * torch.sin(angles), torch.zeros(6, dtype=torch.float64)], 1)
    z = torch.full((6,), 6)
    native, reference = both(n_atoms_max=6, permutation="sorted_l2")
    a, b = native(z, pos), reference(z, pos)
    assert torch.equal(a, b) or torch.allclose(a, b, rtol=1e-14, atol=0)
    unsorted = CoulombMatrix(6, permutation="none")(z, pos)
    torch.testing.assert_close(a, unsorted)


def test_clash_is_an_error_naming_the_first_molecule_and_atoms(qm9):
    z, pos, batch = batched(qm9[:6])
    for b, (i, j) in ((4, (2, 5)), (1, (0, 3))):
        first = int((batch == b).nonzero()[0])
        pos[first + j] = pos[first + i]
    with pytest.raises(ValueError, match="molecule 1: atoms 0 and 3 are at the same position"):
        CoulombMatrix(29)(z, pos, batch)


def test_gradients_take_the_torch_path(qm9):
    z, pos, batch = batched(qm9[:3])
    pos.requires_grad_(True)
    cm = CoulombMatrix(29, permutation="none")
    assert not cm._native_applies(pos, pos.dtype)
    cm(z, pos, batch).sum().backward()
    assert pos.grad is not None and torch.isfinite(pos.grad).all()
    with torch.no_grad():
        assert cm._native_applies(pos, pos.dtype)


def test_eigenspectrum_stays_on_the_torch_path(qm9):
    cm = CoulombMatrix(29, permutation="eigenspectrum")
    assert not cm._native_applies(torch.zeros(1, 3, dtype=torch.float64), torch.float64)


def test_op_schema_and_fake_tensor_shapes(qm9):
    z, pos, batch = batched(qm9[:8])
    ptr = torch.zeros(9, dtype=torch.int64)
    ptr[1:] = torch.bincount(batch).cumsum(0)
    for flatten in (False, True):
        torch.library.opcheck(torch.ops.geognn.coulomb_matrix,
                              (z, pos, ptr, _half_z_to_2_4(pos), None, 29, "sorted_l2", 0.0, 1e-10, 1.0, flatten,
                               torch.float32),
                              test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("bad, message", BAD_COULOMB_CALLS)
def test_direct_calls_with_bad_arguments_raise(bad, message):
    with pytest.raises(ValueError, match=message):
        call_coulomb_op("cpu", **bad)


def test_thread_count_does_not_change_a_bit(qm9):
    # The featurizer runs the kernel on one thread; called directly, it splits molecules over the pool.
    rows = (qm9 * 4)[:1200]
    z, pos, batch = batched(rows)
    ptr = torch.zeros(len(rows) + 1, dtype=torch.int64)
    ptr[1:] = torch.bincount(batch).cumsum(0)

    def kernel():
        return torch.ops.geognn.coulomb_matrix(z, pos, ptr, _half_z_to_2_4(pos), None, 29, "sorted_l2", 0.0,
                                               1e-10, 1.0, False, torch.float64)

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = kernel()
        torch.set_num_threads(2)
        two = kernel()
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)
    assert torch.equal(one, CoulombMatrix(29)(z, pos, batch))
