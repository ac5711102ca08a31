"""radius_graph: the same pairs as brute-force enumeration, for molecules, batches and periodic cells."""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geognn.data import iter_qm9_rows
from geognn.featurize import NeighborsTruncatedWarning, radius_graph

from .reference import brute_force_pairs, pairs_from_graph


@pytest.fixture(scope="module")
def qm9_molecules():
    return list(iter_qm9_rows(60))


def edge_vectors(pos, edge_index, edge_shift):
    return pos[edge_index[1]] - pos[edge_index[0]] + edge_shift


def test_qm9_molecules_match_brute_force(qm9_molecules):
    for row in qm9_molecules[::6]:
        pos = torch.from_numpy(row.pos)
        edge_index, edge_shift = radius_graph(pos, 2.5)
        assert pairs_from_graph(edge_index, edge_shift) == brute_force_pairs(row.pos, 2.5), row.name


def test_batch_equals_one_by_one_and_never_crosses_molecules(qm9_molecules):
    rows = qm9_molecules[:25]
    pos = torch.from_numpy(np.concatenate([r.pos for r in rows]))
    batch = torch.cat([torch.full((len(r.z),), k) for k, r in enumerate(rows)])
    edge_index, edge_shift = radius_graph(pos, 5.0, batch)
    assert (batch[edge_index[0]] == batch[edge_index[1]]).all()
    offset, expected = 0, []
    for r in rows:
        one, _ = radius_graph(torch.from_numpy(r.pos), 5.0)
        expected.append(one + offset)
        offset += len(r.z)
    assert torch.equal(edge_index, torch.cat(expected, dim=1))
    assert torch.count_nonzero(edge_shift) == 0


def test_unsorted_batch_gives_the_same_pairs(qm9_molecules):
    rows = qm9_molecules[10:14]
    pos = torch.from_numpy(np.concatenate([r.pos for r in rows]))
    batch = torch.cat([torch.full((len(r.z),), k) for k, r in enumerate(rows)])
    perm = torch.randperm(len(pos), generator=torch.Generator().manual_seed(0))
    edge_index, _ = radius_graph(pos, 4.0, batch)
    permuted, _ = radius_graph(pos[perm], 4.0, batch[perm])
    pairs = {tuple(e) for e in edge_index.T.tolist()}
    mapped = {(int(perm[s]), int(perm[t])) for s, t in permuted.T.tolist()}
    assert mapped == pairs


def test_edges_sorted_by_target_then_source_and_point_from_source_to_target(qm9_molecules):
    pos = torch.from_numpy(qm9_molecules[30].pos)
    edge_index, edge_shift = radius_graph(pos, 3.0)
    key = edge_index[1] * len(pos) + edge_index[0]
    assert torch.all(key[1:] > key[:-1])
    vec = edge_vectors(pos, edge_index, edge_shift)
    assert torch.allclose(vec, pos[edge_index[1]] - pos[edge_index[0]])
    assert (torch.linalg.vector_norm(vec, dim=1) < 3.0).all()


def test_edges_are_invariant_under_rotation_and_translation(qm9_molecules):
    pos = torch.from_numpy(qm9_molecules[40].pos)
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    moved = pos @ q.T + torch.tensor([13.0, -7.5, 101.0], dtype=torch.float64)
    a, _ = radius_graph(pos, 3.0)
    b, shift = radius_graph(moved, 3.0)
    assert torch.equal(a, b)
    assert torch.allclose(edge_vectors(moved, b, shift), edge_vectors(pos, a, torch.zeros_like(shift)) @ q.T)


def test_float32_positions_give_float32_shifts_and_the_same_edges(qm9_molecules):
    pos = torch.from_numpy(qm9_molecules[5].pos)
    a, _ = radius_graph(pos, 5.0)
    b, shift = radius_graph(pos.float(), 5.0)
    assert shift.dtype == torch.float32 and b.dtype == torch.int64
    assert torch.equal(a, b)


def test_cutoff_is_strict():
    pos = torch.tensor([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0]], dtype=torch.float64)
    assert radius_graph(pos, 1.5)[0].shape[1] == 0
    assert radius_graph(pos, 1.5 + 1e-9)[0].tolist() == [[1, 0], [0, 1]]


CELLS = {
    "cubic_large": np.eye(3) * 12.0,
    "cubic_smaller_than_twice_cutoff": np.eye(3) * 3.1,
    "tiny_cell_many_images": np.eye(3) * 1.3,
    "skewed_triclinic": np.array([[4.0, 0.0, 0.0], [2.9, 3.2, 0.0], [-1.7, 1.1, 2.6]]),
    "very_skewed": np.array([[3.0, 0.0, 0.0], [2.95, 0.4, 0.0], [0.2, 0.3, 5.0]]),
}


@pytest.mark.parametrize("name", list(CELLS))
def test_periodic_cells_match_explicit_image_enumeration(name):
    cell = CELLS[name]
    rng = np.random.default_rng(3)
    frac = rng.uniform(-0.2, 1.2, size=(7, 3))  # some atoms outside the cell on purpose
    pos = frac @ cell
    edge_index, edge_shift = radius_graph(torch.from_numpy(pos), 3.5, cell=torch.from_numpy(cell),
                                          pbc=torch.tensor([True, True, True]))
    assert pairs_from_graph(edge_index, edge_shift, cell) == brute_force_pairs(pos, 3.5, cell, (True,) * 3)


def test_small_cell_has_self_images_and_repeated_neighbours():
    cell = np.eye(3) * 2.0
    pos = np.array([[0.1, 0.2, 0.3], [1.0, 1.1, 0.9]])
    edge_index, edge_shift = radius_graph(torch.from_numpy(pos), 2.5, cell=torch.from_numpy(cell))
    pairs = pairs_from_graph(edge_index, edge_shift, cell)
    assert (0, 0, 1, 0, 0) in pairs and (0, 0, 0, 0, 0) not in pairs
    assert sum(1 for p in pairs if p[:2] == (0, 1)) > 1
    assert pairs == brute_force_pairs(pos, 2.5, cell, (True,) * 3)


@pytest.mark.parametrize("pbc", [(True, True, False), (False, True, False), (True, False, True)])
def test_mixed_periodicity_matches_brute_force(pbc):
    cell = np.array([[3.0, 0.0, 0.0], [0.8, 2.7, 0.0], [0.0, 0.0, 9.0]])
    pos = np.random.default_rng(5).uniform(0, 1, size=(6, 3)) @ cell
    edge_index, edge_shift = radius_graph(torch.from_numpy(pos), 3.2, cell=torch.from_numpy(cell), pbc=torch.tensor(pbc))
    assert pairs_from_graph(edge_index, edge_shift, cell) == brute_force_pairs(pos, 3.2, cell, pbc)


def test_slab_with_zero_vacuum_vector_is_accepted():
    cell = np.array([[2.5, 0.0, 0.0], [0.0, 2.5, 0.0], [0.0, 0.0, 0.0]])
    pos = np.array([[0.0, 0.0, 0.0], [1.2, 1.3, 1.0]])
    edge_index, edge_shift = radius_graph(torch.from_numpy(pos), 3.0, cell=torch.from_numpy(cell),
                                          pbc=torch.tensor([True, True, False]))
    assert pairs_from_graph(edge_index, edge_shift, cell) == brute_force_pairs(pos, 3.0, cell, (True, True, False))


def test_batch_of_periodic_structures_with_their_own_cells():
    cells = np.stack([CELLS["cubic_smaller_than_twice_cutoff"], CELLS["skewed_triclinic"]])
    rng = np.random.default_rng(11)
    parts = [rng.uniform(0, 1, size=(4, 3)) @ cells[0], rng.uniform(0, 1, size=(5, 3)) @ cells[1]]
    pos = torch.from_numpy(np.concatenate(parts))
    batch = torch.tensor([0] * 4 + [1] * 5)
    edge_index, edge_shift = radius_graph(pos, 3.0, batch, cell=torch.from_numpy(cells), pbc=torch.ones(2, 3, dtype=torch.bool))
    assert (batch[edge_index[0]] == batch[edge_index[1]]).all()
    for b, offset in ((0, 0), (1, 4)):
        mask = batch[edge_index[1]] == b
        got = pairs_from_graph(edge_index[:, mask] - offset, edge_shift[mask], cells[b])
        assert got == brute_force_pairs(parts[b], 3.0, cells[b], (True,) * 3)


def test_a_large_cell_searched_on_two_threads_gives_the_same_graph_as_on_one():
    # From 1,000 atoms a periodic cell is searched with the caller's torch thread count (faster on 2 cores);
    # the graph must not depend on it, and the caller's thread count must come back unchanged.
    from geognn.featurize import neighbors

    rng = np.random.default_rng(3)
    cell = np.array([[24.0, 0.0, 0.0], [4.0, 23.0, 0.0], [2.0, 3.0, 25.0]])
    pos = torch.from_numpy(rng.uniform(0, 1, size=(1500, 3)) @ cell)
    threads = torch.get_num_threads()
    graphs = {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            neighbors._cached.lists = {}
            graphs[n] = radius_graph(pos, 4.0, cell=torch.from_numpy(cell))
            assert torch.get_num_threads() == n
            assert [key[1] for key in neighbors._cached.lists] == [n]  # vesin ran on n threads
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(graphs[1][0], graphs[2][0]) and torch.equal(graphs[1][1], graphs[2][1])
    lengths = (pos[graphs[2][0][1]] - pos[graphs[2][0][0]] + graphs[2][1]).norm(dim=1)
    assert graphs[2][0].shape[1] > 20_000 and bool((lengths < 4.0).all())
    # A batch of molecules (no cell) keeps one vesin thread whatever the caller's count.
    neighbors._cached.lists = {}
    radius_graph(pos, 4.0, torch.arange(1500) // 15)
    assert [key[1] for key in neighbors._cached.lists] == [1]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_atoms=st.integers(1, 8),
    seed=st.integers(0, 2**31 - 1),
    cutoff=st.floats(0.5, 4.0),
    lengths=st.tuples(*[st.floats(1.0, 6.0)] * 3),
    tilt=st.tuples(*[st.floats(-0.9, 0.9)] * 3),
    pbc=st.tuples(*[st.booleans()] * 3),
)
def test_random_systems_match_brute_force(n_atoms, seed, cutoff, lengths, tilt, pbc):
    cell = np.diag(lengths)
    cell[1, 0] = tilt[0] * lengths[1]
    cell[2, 0], cell[2, 1] = tilt[1] * lengths[2], tilt[2] * lengths[2]
    pos = np.random.default_rng(seed).uniform(-0.3, 1.3, size=(n_atoms, 3)) @ cell
    edge_index, edge_shift = radius_graph(torch.from_numpy(pos), cutoff, cell=torch.from_numpy(cell), pbc=torch.tensor(pbc))
    expected = brute_force_pairs(pos, cutoff, cell, pbc)
    assert pairs_from_graph(edge_index, edge_shift, cell) == expected
    vec = edge_vectors(torch.from_numpy(pos), edge_index, edge_shift)
    assert (torch.linalg.vector_norm(vec, dim=1) < cutoff).all()


def test_max_neighbors_keeps_the_nearest_and_warns(qm9_molecules):
    pos = torch.from_numpy(qm9_molecules[50].pos)
    full, _ = radius_graph(pos, 5.0)
    with pytest.warns(NeighborsTruncatedWarning) as record:
        kept, shift = radius_graph(pos, 5.0, max_neighbors=3)
    counts = torch.bincount(kept[1], minlength=len(pos))
    assert counts.max() == 3
    assert record[0].message.num_edges_dropped == full.shape[1] - kept.shape[1]
    dist = torch.linalg.vector_norm(edge_vectors(pos, kept, shift), dim=1)
    all_dist = torch.cdist(pos, pos)
    for target in range(len(pos)):
        nearest = torch.sort(all_dist[target][torch.arange(len(pos)) != target]).values[:3]
        assert torch.allclose(torch.sort(dist[kept[1] == target]).values, nearest)


def test_max_neighbors_above_the_count_changes_nothing_and_is_silent(qm9_molecules):
    pos = torch.from_numpy(qm9_molecules[3].pos)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, _ = radius_graph(pos, 2.0, max_neighbors=100)
    assert torch.equal(a, radius_graph(pos, 2.0)[0])


def test_empty_input_gives_no_edges():
    edge_index, edge_shift = radius_graph(torch.zeros(0, 3), 5.0)
    assert edge_index.shape == (2, 0) and edge_shift.shape == (0, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(pos=torch.tensor([[0.0, 0.0, math.nan]])), "atom 0 is not finite"),
        (dict(pos=torch.zeros(3, 2)), r"\(N, 3\)"),
        (dict(cutoff=-1.0), "cutoff"),
        (dict(cutoff=math.inf), "cutoff"),
        (dict(pbc=torch.tensor([True, False, False])), "no cell"),
        (dict(cell=torch.zeros(3, 3)), "degenerate"),
        (dict(batch=torch.tensor([0])), r"batch must be a \(2,\)"),
        (dict(max_neighbors=0), "max_neighbors"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(kwargs, message):
    args = dict(pos=torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]), cutoff=2.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        radius_graph(args.pop("pos"), args.pop("cutoff"), **args)
