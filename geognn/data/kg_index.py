"""All known tails of each (head, relation) pair, in compressed sparse rows.

One structure serves two jobs of knowledge-graph link prediction: the
multi-hot targets of 1-N (LCWA) training, built from the training triples,
and the filter of filtered ranking, built from every split.
"""

from __future__ import annotations

import torch


class TailIndex:
    """Maps (head, relation) pairs to the sorted set of tails seen with them.

    Args:
        triples: (n, 3) int64 (head, relation, tail) ids.
        num_entities: number of entity ids (mask width).
        num_relations: number of relation ids, including inverse ones if present.

    Attributes:
        pairs: (P, 2) int64 unique (head, relation) pairs, sorted.
        ptr: (P + 1,) int64; tails of pair ``p`` are ``tails[ptr[p]:ptr[p+1]]``.
        tails: (n_unique,) int64 tail ids, sorted within each pair.
    """

    def __init__(self, triples: torch.Tensor, num_entities: int, num_relations: int) -> None:
        if triples.dim() != 2 or triples.shape[1] != 3:
            raise ValueError(f"triples must have shape (n, 3), got {tuple(triples.shape)}")
        self.num_entities, self.num_relations = num_entities, num_relations
        triples = triples.long()
        # One integer per triple orders by pair then tail and makes duplicates adjacent.
        code = (triples[:, 0] * num_relations + triples[:, 1]) * num_entities + triples[:, 2]
        code = torch.unique(code)  # sorted
        key, self.tails = code // num_entities, code % num_entities
        self._keys, counts = torch.unique_consecutive(key, return_counts=True)
        self.pairs = torch.stack([self._keys // num_relations, self._keys % num_relations], dim=1)
        self.ptr = torch.zeros(self._keys.numel() + 1, dtype=torch.int64)
        torch.cumsum(counts, 0, out=self.ptr[1:])

    def __len__(self) -> int:
        return self._keys.numel()

    def find(self, heads: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        """(B,) int64 position of each (head, relation) in :attr:`pairs`, -1 where unseen."""
        key = heads.long() * self.num_relations + relations.long()
        pos = torch.searchsorted(self._keys, key).clamp_(max=max(len(self) - 1, 0))
        found = (self._keys[pos] == key) if len(self) else torch.zeros_like(key, dtype=torch.bool)
        return torch.where(found, pos, torch.full_like(pos, -1))

    def mask(self, heads: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        """(B, num_entities) bool; True where (heads[b], relations[b], e) is a known triple."""
        pos = self.find(heads, relations)
        rows, cols = self._entries(pos)
        out = torch.zeros(pos.numel(), self.num_entities, dtype=torch.bool)
        out[rows, cols] = True
        return out

    def _entries(self, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        valid = pos >= 0
        safe = pos.clamp(min=0)
        lengths = torch.where(valid, self.ptr[safe + 1] - self.ptr[safe], torch.zeros_like(safe))
        rows = torch.repeat_interleave(torch.arange(pos.numel()), lengths)
        first = torch.repeat_interleave(self.ptr[safe], lengths)
        row_start = torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)
        cols = self.tails[first + torch.arange(rows.numel()) - row_start]
        return rows, cols
