"""The CUDA Coulomb-matrix kernel against the CPU kernel; runs where a GPU and a CUDA build exist, skips elsewhere."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from ase.collections import g2

from geognn.data import iter_qm9_rows
from geognn.featurize import CoulombMatrix
from geognn.featurize.coulomb import _half_z_to_2_4, _has_kernel

from .molecules import BAD_COULOMB_CALLS, batched, call_coulomb_op, random_rigid_motion

pytestmark = pytest.mark.skipif(not (torch.cuda.is_available() and _has_kernel("cuda")),
                                reason="needs a CUDA device and a CUDA build of geognn._C")


@pytest.fixture(scope="module")
def molecules():
    symmetric = [SimpleNamespace(z=g2[name].numbers.astype(np.int64), pos=g2[name].positions) for name in g2.names]
    return symmetric + list(iter_qm9_rows(2000))


def on(device, args):
    return tuple(a.to(device) for a in args)


def tolerance(dtype):
    return dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("permutation", ["none", "sorted_l2", "sorted_canonical"])
@pytest.mark.parametrize("flatten", [False, True])
@pytest.mark.parametrize("pos_dtype, out_dtype", [(torch.float64, None), (torch.float64, torch.float32),
                                                  (torch.float32, None)])
@pytest.mark.parametrize("unit", ["angstrom", "bohr"])
def test_cuda_kernel_equals_cpu_kernel(molecules, permutation, flatten, pos_dtype, out_dtype, unit):
    cm = CoulombMatrix(29, permutation=permutation, flatten=flatten, dtype=out_dtype, distance_unit=unit)
    args = batched(molecules, pos_dtype)
    gpu_args = on("cuda", args)
    assert cm._native_applies(gpu_args[1], out_dtype or pos_dtype)
    gpu = cm(*gpu_args)
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cm(*args), **tolerance(pos_dtype))


def test_random_draws_the_same_noise_on_both_devices(molecules):
    cpu = CoulombMatrix(29, permutation="random", sigma=0.5, seed=3)
    gpu = CoulombMatrix(29, permutation="random", sigma=0.5, seed=3)
    args = batched(molecules[:500])
    for _ in range(2):
        torch.testing.assert_close(gpu(*on("cuda", args)).cpu(), cpu(*args), **tolerance(torch.float64))


def test_eigenspectrum_on_the_gpu_equals_the_cpu(molecules):
    cm = CoulombMatrix(29, permutation="eigenspectrum")
    args = batched(molecules[:1000])
    torch.testing.assert_close(cm(*on("cuda", args)).cpu(), cm(*args), rtol=1e-10, atol=1e-10)


def test_canonical_order_is_invariant_on_the_gpu(molecules):
    rows = molecules[:400]
    rng = np.random.default_rng(0)
    moved = []
    for row in rows:
        perm = rng.permutation(len(row.z))
        moved.append(SimpleNamespace(z=row.z[perm], pos=random_rigid_motion(row.pos, rng)[perm]))
    cm = CoulombMatrix(29, permutation="sorted_canonical")
    torch.testing.assert_close(cm(*on("cuda", batched(moved))), cm(*on("cuda", batched(rows))), rtol=1e-10, atol=0)


def test_interleaved_atoms_and_empty_molecules(molecules):
    z, pos, batch = batched(molecules[:60])
    perm = torch.randperm(len(z), generator=torch.Generator().manual_seed(1))
    cm = CoulombMatrix(29, permutation="sorted_canonical")
    args = (z[perm], pos[perm], 3 * batch[perm])
    torch.testing.assert_close(cm(*on("cuda", args)).cpu(), cm(*args), **tolerance(torch.float64))


def test_clash_is_an_error_naming_the_molecule_and_atoms(molecules):
    z, pos, batch = batched(molecules[200:206])
    first = int((batch == 4).nonzero()[0])
    pos[first + 3] = pos[first + 1]
    with pytest.raises(ValueError, match="molecule 4: atoms 1 and 3 are at the same position"):
        CoulombMatrix(29)(*on("cuda", (z, pos, batch)))


@pytest.mark.parametrize("bad, message", BAD_COULOMB_CALLS)
def test_direct_calls_with_bad_arguments_raise_instead_of_crashing(bad, message):
    with pytest.raises(ValueError, match=message):
        call_coulomb_op("cuda", **bad)
    torch.cuda.synchronize()  # the device is still usable: no kernel faulted


def test_tensors_on_two_devices_are_an_error():
    pos = torch.randn(2, 3, dtype=torch.float64, device="cuda")
    with pytest.raises(ValueError, match="pos is on cuda.* but z is on cpu"):
        torch.ops.geognn.coulomb_matrix(torch.tensor([1, 1]), pos, torch.tensor([0, 2], device="cuda"),
                                        _half_z_to_2_4(pos), None, 2, "none", 0.0, 1e-10, 1.0, False, torch.float64)
