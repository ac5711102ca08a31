"""Filtered ranking: known ranks on hand-made scores and a tiny graph, ties as the mean rank, both directions."""

import pytest
import torch

from geognn.data import KGDataset
from geognn.train import RankingMetrics, evaluate_link_prediction, filtered_ranks, rank_queries


def test_ranks_count_better_entities_and_split_ties():
    scores = torch.tensor([[3.0, 1.0, 3.0, 2.0],
                           [3.0, 1.0, 3.0, 2.0],
                           [0.5, 0.5, 0.5, 0.5]])
    answers = torch.tensor([3, 0, 2])
    # Answer 3 has two better entities; answer 0 ties with entity 2 (rank 1 or 2: 1.5);
    # a constant model gives the expected rank of a guess, (4 + 1) / 2.
    assert filtered_ranks(scores, answers).tolist() == [3.0, 1.5, 2.5]


def test_known_true_answers_are_filtered_but_never_the_answer_itself():
    scores = torch.tensor([[3.0, 1.0, 3.0, 2.0], [3.0, 1.0, 3.0, 2.0]])
    known = torch.tensor([[True, False, True, True], [False, False, False, True]])
    # Row 0: 0 and 2 are other true tails, so answer 3 (also marked known) ranks first.
    # Row 1: entity 3 is filtered, answer 1 still trails 0 and 2.
    assert filtered_ranks(scores, torch.tensor([3, 1]), known).tolist() == [1.0, 3.0]


def test_nan_scores_are_an_error_not_rank_one():
    with pytest.raises(ValueError, match="NaN"):
        filtered_ranks(torch.tensor([[float("nan"), 0.0]]), torch.tensor([0]))


def test_metrics_per_direction_and_both():
    metrics = RankingMetrics()
    metrics.add(torch.tensor([1.0, 2.0, 4.0]), "tail")
    metrics.add(torch.tensor([10.0, 20.0]), "head")
    result = metrics.result()
    assert result["tail_mrr"] == pytest.approx((1 + 1 / 2 + 1 / 4) / 3)
    assert result["head_mr"] == 15.0 and result["head_hits@10"] == 0.5
    assert result["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 4 + 1 / 10 + 1 / 20) / 5)
    assert result["hits@1"] == pytest.approx(1 / 5) and result["hits@3"] == pytest.approx(2 / 5)
    assert result["mr"] == pytest.approx(37 / 5) and result["num_ranked"] == 5


class TableScorer(torch.nn.Module):
    """Scores from a fixed (entity, relation id) -> entity table: a 'model' whose ranks are known by hand."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.nn.Parameter(table, requires_grad=False)

    def score(self, heads, relations):
        return self.table[heads, relations]


@pytest.fixture
def tiny_graph(tmp_path):
    # Entities a, b, c, d (ids 0-3); relation r (id 0, inverse 1).
    (tmp_path / "kg").mkdir()
    (tmp_path / "kg" / "train.txt").write_text("a\tr\tb\na\tr\tc\nd\tr\tc\n")
    (tmp_path / "kg" / "valid.txt").write_text("b\tr\tc\n")
    (tmp_path / "kg" / "test.txt").write_text("a\tr\td\n")
    return KGDataset(tmp_path / "kg")


def test_tiny_graph_ranks_filter_train_valid_and_test_in_both_directions(tiny_graph):
    table = torch.zeros(4, 2, 4)
    # Tail query (a, r, ?): b and c are true (train) and filtered; a outscores d, ties with nothing.
    table[0, 0] = torch.tensor([5.0, 9.0, 8.0, 4.0])
    # Head query (?, r, d) = (d, r_inverse, ?): a is the answer, b ties with it, c scores higher but
    # (c, r, d) is not a true triple, so it stays: rank = 1 better + (1 tie + 1) / 2 = 2.5.
    table[3, 1] = torch.tensor([6.0, 6.0, 7.0, 1.0])
    metrics = RankingMetrics()
    ranks = rank_queries(TableScorer(table).score, tiny_graph.queries("test"), tiny_graph.num_relations,
                         tiny_graph.filter_mask, metrics=metrics)
    assert ranks.tolist() == [2.0, 2.5]
    result = metrics.result()
    assert result["tail_mr"] == 2.0 and result["head_mr"] == 2.5
    overall = evaluate_link_prediction(TableScorer(table), tiny_graph, "test")
    assert {k: overall[k] for k in result} == result  # and it adds the per-group metrics


def test_all_of_umls_test_ranks_at_once():
    from geognn.models import ConvE

    umls = KGDataset("umls")
    torch.manual_seed(0)
    model = ConvE(umls.num_entities, umls.num_relations, embedding_dim=32)
    result = evaluate_link_prediction(model, umls, "test")
    assert result["num_ranked"] == 2 * 661
    assert 1 <= result["mr"] <= umls.num_entities and 0 < result["mrr"] < 0.2  # an untrained model
