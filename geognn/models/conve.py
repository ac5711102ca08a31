"""ConvE (Dettmers et al., AAAI 2018): convolutional knowledge-graph embeddings with 1-N scoring.

A query (head, relation) becomes a vector through :class:`geognn.nn.ConvEInteraction`
and is matched against every entity embedding at once, ``scores = q @ E^T + b``
with one learnt bias per entity: a batch of B queries is scored against all
entities in one (B, d) × (d, num_entities) matrix product.

Relations are reciprocal: relation ``r`` has an inverse ``r + num_relations``
with its own embedding, so predicting the head of ``(?, r, t)`` is predicting
the tail of ``(t, r⁻¹, ?)`` (:meth:`ConvE.score_heads`), and one model
answers both directions. :class:`geognn.data.KGDataset` numbers inverse
relations the same way.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from geognn.nn.conve import ConvEInteraction


class ConvE(nn.Module):
    """Scores (head, relation) queries against all entities.

    Args:
        num_entities: number of entity ids.
        num_relations: number of relations in the data, without inverses;
            the relation table has ``2 * num_relations`` rows (inverse of
            ``r`` at ``r + num_relations``).
        embedding_dim: size of entity and relation embeddings (200 in the paper).
        image_height: height of the image each embedding is reshaped into
            (must divide ``embedding_dim``); default: see :func:`geognn.nn.image_shape`.
        num_filters, kernel_size: convolution channels and kernel side (32, 3).
        input_dropout, feature_map_dropout, hidden_dropout: dropout
            probabilities (0.2, 0.2, 0.3: the recipe that reproduced the paper).

    Inputs and outputs: ``model(heads, relations)`` = :meth:`score`, with
    int64 ids of shape (B,) and logits (B, num_entities); ``sigmoid(logits)``
    is the probability that ``(head, relation, entity)`` holds.
    """

    def __init__(self, num_entities: int, num_relations: int, embedding_dim: int = 200,
                 image_height: int | None = None, num_filters: int = 32, kernel_size: int = 3,
                 input_dropout: float = 0.2, feature_map_dropout: float = 0.2, hidden_dropout: float = 0.3):
        super().__init__()
        if int(num_entities) < 1 or int(num_relations) < 1:
            raise ValueError(f"ConvE needs at least one entity and one relation, got {num_entities} and "
                             f"{num_relations}")
        self.config: dict[str, Any] = dict(
            num_entities=int(num_entities), num_relations=int(num_relations), embedding_dim=int(embedding_dim),
            image_height=image_height, num_filters=int(num_filters), kernel_size=int(kernel_size),
            input_dropout=float(input_dropout), feature_map_dropout=float(feature_map_dropout),
            hidden_dropout=float(hidden_dropout),
        )
        self.num_entities, self.num_relations = int(num_entities), int(num_relations)
        self.interaction = ConvEInteraction(embedding_dim, image_height, num_filters, kernel_size,
                                            input_dropout, feature_map_dropout, hidden_dropout)
        self.entity_embedding = nn.Embedding(self.num_entities, embedding_dim)
        self.relation_embedding = nn.Embedding(2 * self.num_relations, embedding_dim)
        self.entity_bias = nn.Parameter(torch.zeros(self.num_entities))
        nn.init.xavier_normal_(self.entity_embedding.weight)
        nn.init.xavier_normal_(self.relation_embedding.weight)

    @property
    def embedding_dim(self) -> int:
        return self.interaction.embedding_dim

    def score(self, heads: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_entities) of every entity as the tail of ``(heads[b], relations[b], ?)``.

        Args:
            heads: (B,) int64 entity ids.
            relations: (B,) int64 relation ids in ``[0, 2 * num_relations)``
                (``r + num_relations`` is the inverse of ``r``).
        """
        query = self.interaction(self.entity_embedding(heads), self.relation_embedding(relations))
        return torch.addmm(self.entity_bias, query, self.entity_embedding.weight.t())

    forward = score

    def score_heads(self, relations: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_entities) of every entity as the head of ``(?, relations[b], tails[b])``.

        The tail scores of the inverse query ``(tails[b], relations[b] + num_relations, ?)``;
        ``relations`` are ids in ``[0, num_relations)``.
        """
        if relations.numel() and int(relations.max()) >= self.num_relations:
            raise ValueError(f"score_heads takes relation ids below {self.num_relations} (not inverse ones), "
                             f"got {int(relations.max())}")
        return self.score(tails, relations + self.num_relations)
