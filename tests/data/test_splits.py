"""Random and scaffold splits, and their JSON files."""

import json

import pytest
import torch

from geognn.data import QM9, Split, load_split, murcko_scaffold, random_split, save_split, scaffold_split


def test_default_split_is_the_usual_qm9_split():
    train, valid, test = random_split(130_831)
    assert (len(train), len(valid), len(test)) == (110_000, 10_000, 10_831)
    everything = torch.cat([train, valid, test])
    assert torch.equal(everything.sort().values, torch.arange(130_831))


def test_same_seed_same_split_other_seed_other_split():
    assert torch.equal(random_split(1000, (800, 100, None), seed=3).train, random_split(1000, (800, 100, None), seed=3).train)
    assert not torch.equal(random_split(1000, (800, 100, None), seed=3).train, random_split(1000, (800, 100, None), seed=4).train)


def test_fractions_cover_every_item():
    split = random_split(11, (0.8, 0.1, 0.1))
    assert [len(p) for p in split] == [9, 1, 1]
    assert [len(p) for p in random_split(100, (50, None, 0.25))] == [50, 25, 25]


@pytest.mark.parametrize("sizes", [(100, 10, None), (None, None, 5), (0.5, 1.5, None), (-1, 2, None), (1, 2)])
def test_impossible_sizes_are_rejected(sizes):
    with pytest.raises(ValueError):
        random_split(50, sizes)


def test_split_round_trips_through_a_json_file(tmp_path):
    split = random_split(200, (150, 25, None), seed=7)
    path = split.save(tmp_path / "run" / "split.json", n=200, seed=7, dataset="qm9")
    loaded = load_split(path, n=200)
    assert isinstance(loaded, Split)
    assert all(torch.equal(a, b) for a, b in zip(split, loaded))
    record = json.loads(path.read_text())
    assert record["info"] == {"seed": 7, "dataset": "qm9"} and record["n"] == 200


def test_a_saved_split_selects_the_same_qm9_molecules(tmp_path):
    data = QM9("U0", root=tmp_path / "cache", limit=30)
    split = random_split(len(data), (20, 5, None), seed=1)
    save_split(split, tmp_path / "split.json", n=len(data))
    again = load_split(tmp_path / "split.json", n=len(data))
    assert [m.idx.item() for m in data[again.test]] == [m.idx.item() for m in data[split.test]]


def test_loading_a_split_for_another_dataset_size_fails(tmp_path):
    random_split(10, (5, 2, None)).save(tmp_path / "s.json", n=10)
    with pytest.raises(ValueError, match="10 items, dataset has 12"):
        load_split(tmp_path / "s.json", n=12)


def test_damaged_split_files_are_rejected_with_the_file_name(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"format": "geognn-split/1",\n "train": [1, 2')
    with pytest.raises(ValueError, match=r"bad\.json:2"):
        load_split(bad_json)
    overlap = tmp_path / "overlap.json"
    overlap.write_text(json.dumps({"format": "geognn-split/1", "n": 5, "train": [0, 1], "valid": [1], "test": [2]}))
    with pytest.raises(ValueError, match="overlap"):
        load_split(overlap)
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"format": "geognn-split/1", "n": 3, "train": [0, 1], "valid": [5], "test": []}))
    with pytest.raises(ValueError, match="outside"):
        load_split(outside)


def test_murcko_scaffold_keeps_rings_and_linkers():
    assert murcko_scaffold("CCc1ccccc1") == "c1ccccc1"
    assert murcko_scaffold("OCC1CCC(Cc2ccncc2)CC1") == "c1cc(CC2CCCCC2)ccn1"
    assert murcko_scaffold("CCO") == ""
    with pytest.raises(ValueError, match="cannot parse"):
        murcko_scaffold("C1CC")


def test_scaffold_split_never_shares_a_scaffold_between_parts():
    smiles = ["c1ccccc1O", "c1ccccc1N", "CCO", "CCN", "C1CCCCC1C", "C1CCCCC1CC", "c1ccncc1", "CCCC",
              "O=C1CCCN1", "c1ccccc1CC"]
    split = scaffold_split(smiles, (0.6, 0.2, 0.2))
    # Largest groups first: benzenes (3) and acyclics (3) fill train, cyclohexanes valid.
    assert split.train.tolist() == [0, 1, 2, 3, 7, 9]
    assert split.valid.tolist() == [4, 5]
    assert split.test.tolist() == [6, 8]
    for seed in (0, 1, 2):
        parts = scaffold_split(smiles, (0.6, 0.2, 0.2), seed=seed)
        scaffolds = [{murcko_scaffold(smiles[i]) for i in p.tolist()} for p in parts]
        assert not (scaffolds[0] & scaffolds[1] or scaffolds[0] & scaffolds[2] or scaffolds[1] & scaffolds[2])
        assert sum(len(p) for p in parts) == len(smiles)


def test_scaffold_split_names_the_unparsable_molecule():
    with pytest.raises(ValueError, match="molecule 1"):
        scaffold_split(["CCO", "not-a-smiles", "c1ccccc1"])


def test_a_scaffold_group_larger_than_any_part_goes_to_train():
    smiles = ["CCO", "CCN", "CCC", "CCCC", "CO", "c1ccccc1", "c1ccncc1", "C1CCCCC1"]
    split = scaffold_split(smiles, (0.5, 0.25, 0.25))
    assert split.train.tolist() == [0, 1, 2, 3, 4]  # the five acyclic molecules
    assert sorted(split.valid.tolist() + split.test.tolist()) == [5, 6, 7]


def test_split_info_returns_what_was_saved(tmp_path):
    from geognn.data import split_info

    random_split(30, (20, 5, None), seed=2).save(tmp_path / "s.json", n=30, seed=2, dataset="qm9")
    assert split_info(tmp_path / "s.json") == {"n": 30, "seed": 2, "dataset": "qm9"}
