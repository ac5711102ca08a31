"""ConvE: 1-N scores, reciprocal head prediction, rebuilding from a checkpoint."""

import pytest
import torch

from geognn.models import MODELS, ConvE, build_model
from geognn.train import model_from_checkpoint, save_checkpoint


def small_model(dim=24, seed=0):
    torch.manual_seed(seed)
    return ConvE(num_entities=11, num_relations=3, embedding_dim=dim, num_filters=4).eval()


@pytest.mark.parametrize("dim", [200, 24, 30, 13])
def test_score_gives_one_logit_per_entity_for_every_query(dim):
    model = small_model(dim)
    heads, relations = torch.tensor([0, 5, 10, 3]), torch.tensor([0, 2, 4, 5])
    scores = model.score(heads, relations)
    assert scores.shape == (4, 11) and scores.dtype == torch.float32
    assert torch.equal(scores, model(heads, relations))
    # 1-N scoring is B separate queries: one at a time gives the same rows.
    for b in range(4):
        torch.testing.assert_close(model.score(heads[b:b + 1], relations[b:b + 1]), scores[b:b + 1])


def test_head_prediction_is_tail_prediction_with_the_inverse_relation():
    model = small_model()
    relations, tails = torch.tensor([0, 1, 2]), torch.tensor([4, 7, 0])
    torch.testing.assert_close(model.score_heads(relations, tails), model.score(tails, relations + 3),
                               rtol=0, atol=0)
    assert model.relation_embedding.num_embeddings == 6
    with pytest.raises(ValueError, match="relation ids below 3"):
        model.score_heads(torch.tensor([3]), torch.tensor([0]))


def test_per_entity_bias_shifts_that_entity_only():
    model = small_model()
    heads, relations = torch.tensor([1, 2]), torch.tensor([0, 1])
    before = model.score(heads, relations)
    with torch.no_grad():
        model.entity_bias[6] += 2.5
    delta = model.score(heads, relations) - before
    torch.testing.assert_close(delta[:, 6], torch.full((2,), 2.5))
    assert delta[:, torch.arange(11) != 6].abs().max() == 0


def test_registered_and_rebuilt_from_a_checkpoint(tmp_path):
    assert MODELS["conve"] is ConvE
    model = small_model()
    save_checkpoint(tmp_path / "m.pt", {"model_name": "conve", "model_config": model.config,
                                        "model_state": model.state_dict()})
    again = model_from_checkpoint(tmp_path / "m.pt")
    heads, relations = torch.tensor([0, 9]), torch.tensor([1, 4])
    assert torch.equal(again.score(heads, relations), model.score(heads, relations))
    assert isinstance(build_model("ConvE", num_entities=3, num_relations=1, embedding_dim=8), ConvE)


def test_bad_sizes_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="at least one entity"):
        ConvE(0, 2)
    with pytest.raises(ValueError, match="height must divide"):
        ConvE(5, 2, embedding_dim=30, image_height=4)
