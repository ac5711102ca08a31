"""Knowledge-graph datasets: bundled sets, user directories, malformed files, filters."""

import pytest
import torch

from geognn.data import KGDataset, TailIndex, read_triples
from geognn.data.kg import bundled_datasets_dir

PUBLISHED_COUNTS = {
    "umls": {"entities": 135, "relations": 46, "train": 5216, "valid": 652, "test": 661},
    "kinships": {"entities": 104, "relations": 25, "train": 8544, "valid": 1068, "test": 1074},
    "nations": {"entities": 14, "relations": 55, "train": 1592, "valid": 199, "test": 201},
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_COUNTS))
def test_bundled_datasets_have_their_published_sizes(name):
    data = KGDataset(name.upper())
    assert data.summary() == PUBLISHED_COUNTS[name]
    assert data.unseen == {"valid": 0, "test": 0}


def test_first_umls_triple_decodes_to_the_file_line():
    data = KGDataset("umls")
    assert data.labels(data.train[:1]) == [("acquired_abnormality", "location_of", "experimental_model_of_disease")]
    assert data.train.dtype == torch.int64 and data.train.shape == (5216, 3)


def test_inverse_triples_are_added_for_training_only():
    data = KGDataset("nations")
    assert data.training.shape == (2 * 1592, 3) and data.num_relations_total == 110
    h, r, t = data.train[0].tolist()
    assert data.training[1592].tolist() == [t, r + 55, h]
    assert data.labels(data.training[1592:1593])[0][1].endswith("_inverse")
    assert data.valid.shape == (199, 3)
    plain = KGDataset("nations", add_inverse=False)
    assert torch.equal(plain.training, plain.train) and plain.num_relations_total == 55


def test_dataset_round_trips_through_a_user_directory(tmp_path):
    original = KGDataset("kinships")
    original.save(tmp_path / "kin")
    again = KGDataset(tmp_path / "kin")
    assert again.entities == original.entities and again.relations == original.relations
    for split in ("train", "valid", "test"):
        assert torch.equal(getattr(again, split), getattr(original, split))
    assert read_triples(tmp_path / "kin" / "test.txt") == read_triples(bundled_datasets_dir() / "kinships" / "test.txt")


def _write(directory, train, valid, test):
    directory.mkdir()
    for name, text in (("train", train), ("valid", valid), ("test", test)):
        (directory / f"{name}.txt").write_text(text)
    return directory


def test_wrong_column_count_names_file_and_line(tmp_path):
    d = _write(tmp_path / "kg", "a\tr\tb\nb\tr\tc\n", "a\tr\tc\n", "a\tr\n")
    with pytest.raises(ValueError, match=r"test\.txt:1: expected 3 .* found 2"):
        KGDataset(d)
    d2 = _write(tmp_path / "kg2", "a\tr\tb\n\nb r c\n", "a\tr\tc\n", "a\tr\tc\n")
    with pytest.raises(ValueError, match=r"train\.txt:3: .*found 1"):
        KGDataset(d2)


def test_missing_files_and_unknown_names_are_reported(tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "train.txt").write_text("a\tr\tb\n")
    with pytest.raises(FileNotFoundError, match="valid.txt, test.txt"):
        KGDataset(tmp_path / "half")
    with pytest.raises(FileNotFoundError, match="bundled"):
        KGDataset("fb15k-237")


def test_unseen_entities_are_counted_and_handled_as_configured(tmp_path):
    d = _write(tmp_path / "kg", "a\tr\tb\nb\tr\tc\n", "a\tr\tc\nx\tr\ta\n", "a\tq\tb\nc\tr\ta\n")
    with pytest.warns(UserWarning, match="1 in valid, 1 in test"):
        dropped = KGDataset(d)
    assert dropped.unseen == {"valid": 1, "test": 1}
    assert dropped.labels(dropped.valid) == [("a", "r", "c")] and dropped.labels(dropped.test) == [("c", "r", "a")]
    kept = KGDataset(d, unseen="keep")
    assert kept.entities == ["a", "b", "c", "x"] and kept.relations == ["q", "r"]
    assert len(kept.valid) == 2 and len(kept.test) == 2
    with pytest.raises(ValueError, match=r"valid\.txt: 1 triples"):
        KGDataset(d, unseen="raise")


def test_filter_mask_holds_every_true_answer_of_every_split(tmp_path):
    d = _write(tmp_path / "kg", "a\tr\tb\na\tr\tc\nb\ts\tc\nd\ts\tb\n", "a\tr\td\nd\ts\ta\n", "c\ts\ta\n")
    data = KGDataset(d)
    ids = data.entity_to_id
    r, s = data.relation_to_id["r"], data.relation_to_id["s"]
    mask = data.filter_mask(torch.tensor([ids["a"], ids["a"], ids["d"]]), torch.tensor([r, s, r + 2]))
    assert mask[0].nonzero().flatten().tolist() == [ids["b"], ids["c"], ids["d"]]
    assert not mask[1].any()
    assert mask[2].nonzero().flatten().tolist() == [ids["a"]]  # inverse of (a, r, d)
    queries = data.queries("test")
    assert data.labels(queries) == [("c", "s", "a"), ("a", "s_inverse", "c")]
    qmask = data.filter_mask(queries[:, 0], queries[:, 1])
    assert qmask[torch.arange(2), queries[:, 2]].all()


def test_training_index_gives_the_multi_hot_targets_of_each_pair():
    data = KGDataset("umls")
    index = data.training_index()
    targets = index.mask(index.pairs[:, 0], index.pairs[:, 1])
    assert int(targets.sum()) == len(data.training)  # no duplicate triples in UMLS
    h, r, t = data.training[123].tolist()
    row = int(index.find(torch.tensor([h]), torch.tensor([r])))
    assert targets[row, t]


def test_tail_index_agrees_with_a_python_set_model():
    torch.manual_seed(0)
    triples = torch.stack([torch.randint(0, 6, (60,)), torch.randint(0, 3, (60,)), torch.randint(0, 6, (60,))], 1)
    index = TailIndex(triples, num_entities=6, num_relations=3)
    truth = {(h, r, t) for h, r, t in triples.tolist()}
    heads, rels = torch.arange(6).repeat_interleave(3), torch.arange(3).repeat(6)
    mask = index.mask(heads, rels)
    for b in range(18):
        for e in range(6):
            assert bool(mask[b, e]) == ((int(heads[b]), int(rels[b]), e) in truth)
    assert index.find(torch.tensor([7]), torch.tensor([0])).item() == -1
