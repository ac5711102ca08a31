"""Knowledge-graph link-prediction datasets: bundled UMLS, Kinships, Nations, or any triple directory.

A directory holds ``train.txt``, ``valid.txt`` and ``test.txt`` with one
``head<TAB>relation<TAB>tail`` triple per line, the layout FB15k-237 and
WN18RR are distributed in.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from geognn.data.atomic_io import atomic_write_text
from geognn.data.kg_index import TailIndex

BUNDLED_KG = ("umls", "kinships", "nations")
SPLITS = ("train", "valid", "test")
DATASETS_ENV = "GEOGNN_DATASETS"
_UNSEEN_POLICIES = ("drop", "keep", "raise")


def bundled_datasets_dir() -> Path:
    """Where the bundled triple files are: ``$GEOGNN_DATASETS``, else the copy an
    installed wheel carries (``geognn/_datasets``), else the ``datasets/`` folder
    of a source checkout (editable installs)."""
    explicit = os.environ.get(DATASETS_ENV)
    if explicit:
        return Path(explicit).expanduser()
    installed = Path(__file__).resolve().parents[1] / "_datasets"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "datasets"


def read_triples(path: str | os.PathLike) -> list[tuple[str, str, str]]:
    """The (head, relation, tail) labels of a tab-separated triple file.

    Blank lines are skipped; surrounding spaces of each field are removed.
    Raises ``ValueError`` naming the file and line of any line that does not
    hold exactly three non-empty tab-separated fields.
    """
    path = Path(path)
    triples = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            fields = [f.strip() for f in text.split("\t")]
            if len(fields) != 3 or not all(fields):
                raise ValueError(
                    f"{path}:{line_no}: expected 3 non-empty tab-separated fields "
                    f"(head, relation, tail), found {len(fields)} in {text[:80]!r}"
                )
            triples.append((fields[0], fields[1], fields[2]))
    return triples


class KGDataset:
    """Entity/relation vocabularies and integer triples of a link-prediction benchmark.

    Args:
        name_or_dir: ``"umls"``, ``"kinships"``, ``"nations"`` (bundled, case-insensitive)
            or a directory with ``train.txt``, ``valid.txt``, ``test.txt``.
        add_inverse: add a reciprocal triple ``(t, r + num_relations, h)`` for each
            training triple to :attr:`training` (the ConvE convention; head
            prediction then is tail prediction with the inverse relation).
        unseen: what to do with valid/test triples whose entity or relation never
            occurs in train: ``"drop"`` them (default, as in most published
            evaluations; counts are warned and kept in :attr:`unseen`),
            ``"keep"`` them (their entities get ids but no training signal),
            or ``"raise"`` a ``ValueError``.

    Attributes:
        entities, relations: id -> label lists (sorted labels); ``entity_to_id``,
            ``relation_to_id`` the reverse maps. ``relations`` holds the
            ``num_relations`` relations of the files; inverse relation ``r +
            num_relations`` is labelled ``relations[r] + "_inverse"`` in
            :attr:`relation_labels`.
        train, valid, test: (n, 3) int64 (head, relation, tail) triples of the files.
        training: (n_train or 2 n_train, 3) int64 triples to train on.
        unseen: {"valid": count, "test": count} of triples with an unseen entity/relation.
    """

    def __init__(self, name_or_dir: str | os.PathLike, add_inverse: bool = True, unseen: str = "drop") -> None:
        if unseen not in _UNSEEN_POLICIES:
            raise ValueError(f"unseen must be one of {_UNSEEN_POLICIES}, got {unseen!r}")
        self.directory, self.name = _locate(name_or_dir)
        self.add_inverse = add_inverse
        labels = {split: read_triples(self.directory / f"{split}.txt") for split in SPLITS}

        vocabulary = labels["train"] if unseen != "keep" else [t for s in SPLITS for t in labels[s]]
        self.entities = sorted({e for h, _, t in vocabulary for e in (h, t)})
        self.relations = sorted({r for _, r, _ in vocabulary})
        self.entity_to_id = {e: i for i, e in enumerate(self.entities)}
        self.relation_to_id = {r: i for i, r in enumerate(self.relations)}

        self.unseen = {}
        for split in ("valid", "test"):
            known = [t for t in labels[split] if self._known(t)]
            self.unseen[split] = len(labels[split]) - len(known)
            if self.unseen[split] and unseen == "raise":
                raise ValueError(
                    f"{self.directory / (split + '.txt')}: {self.unseen[split]} triples use an entity or "
                    f"relation absent from train.txt (pass unseen='drop' or 'keep')"
                )
            labels[split] = known
        if any(self.unseen.values()):
            warnings.warn(
                f"{self.name}: dropped triples whose entity or relation never occurs in train.txt: "
                f"{self.unseen['valid']} in valid, {self.unseen['test']} in test",
                stacklevel=2,
            )
        self.train, self.valid, self.test = (self._encode(labels[s]) for s in SPLITS)

        if add_inverse:
            reciprocal = torch.stack(
                [self.train[:, 2], self.train[:, 1] + self.num_relations, self.train[:, 0]], dim=1
            )
            self.training = torch.cat([self.train, reciprocal])
        else:
            self.training = self.train
        self._filter: TailIndex | None = None

    @property
    def num_entities(self) -> int:
        """Number of entity ids."""
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        """Number of relations in the files (without inverses)."""
        return len(self.relations)

    @property
    def num_relations_total(self) -> int:
        """Size of a relation embedding table: ``2 * num_relations`` with inverses, else ``num_relations``."""
        return self.num_relations * (2 if self.add_inverse else 1)

    @property
    def relation_labels(self) -> list[str]:
        """Labels of all ``2 * num_relations`` relation ids, inverse ones suffixed ``_inverse``."""
        return self.relations + [r + "_inverse" for r in self.relations]

    def labels(self, triples: torch.Tensor) -> list[tuple[str, str, str]]:
        """The (head, relation, tail) labels of (n, 3) id triples (inverse relations included)."""
        names = self.relation_labels
        return [(self.entities[h], names[r], self.entities[t]) for h, r, t in triples.tolist()]

    def training_index(self) -> TailIndex:
        """Tails per (head, relation) of :attr:`training`: the multi-hot targets of 1-N training."""
        return TailIndex(self.training, self.num_entities, 2 * self.num_relations)

    def queries(self, split: str = "test") -> torch.Tensor:
        """(2n, 3) int64 rank queries of a split: each triple as ``(h, r, t)`` then as ``(t, r + R, h)``.

        Ranking the third column among all entities for every row gives both
        tail and head prediction, the usual link-prediction protocol.
        """
        triples = {"train": self.train, "valid": self.valid, "test": self.test}[split]
        inverse = torch.stack([triples[:, 2], triples[:, 1] + self.num_relations, triples[:, 0]], dim=1)
        return torch.cat([triples, inverse])

    def filter_mask(self, heads: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        """(B, num_entities) bool: True for every tail ``e`` with ``(heads[b], relations[b], e)`` true.

        "True" means present in train, valid or test, for relation ids in
        ``[0, 2 * num_relations)`` (inverse ids included whether or not
        ``add_inverse``). For filtered ranking, exclude these entities except
        the query's own answer.
        """
        if self._filter is None:
            everything = torch.cat([self.train, self.valid, self.test])
            both = torch.cat([everything, self._reciprocal(everything)])
            self._filter = TailIndex(both, self.num_entities, 2 * self.num_relations)
        return self._filter.mask(heads, relations)

    def save(self, directory: str | os.PathLike) -> Path:
        """Writes train/valid/test (as kept here, without inverses) to ``directory`` atomically."""
        directory = Path(directory)
        for split, triples in (("train", self.train), ("valid", self.valid), ("test", self.test)):
            lines = "".join(f"{h}\t{r}\t{t}\n" for h, r, t in self.labels(triples))
            atomic_write_text(directory / f"{split}.txt", lines)
        return directory

    def summary(self) -> dict[str, int]:
        """Counts: entities, relations and triples per split."""
        return {
            "entities": self.num_entities,
            "relations": self.num_relations,
            "train": len(self.train),
            "valid": len(self.valid),
            "test": len(self.test),
        }

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.summary().items())
        return f"KGDataset({self.name!r}, {counts})"

    def _known(self, triple: tuple[str, str, str]) -> bool:
        h, r, t = triple
        return h in self.entity_to_id and t in self.entity_to_id and r in self.relation_to_id

    def _encode(self, triples: list[tuple[str, str, str]]) -> torch.Tensor:
        ids = [(self.entity_to_id[h], self.relation_to_id[r], self.entity_to_id[t]) for h, r, t in triples]
        return torch.tensor(ids, dtype=torch.int64).reshape(-1, 3)

    def _reciprocal(self, triples: torch.Tensor) -> torch.Tensor:
        return torch.stack([triples[:, 2], triples[:, 1] + self.num_relations, triples[:, 0]], dim=1)


def _locate(name_or_dir: str | os.PathLike) -> tuple[Path, str]:
    text = str(name_or_dir)
    if text.lower() in BUNDLED_KG and not Path(text).is_dir():
        directory = bundled_datasets_dir() / text.lower()
        if not directory.is_dir():
            raise FileNotFoundError(
                f"bundled dataset {text!r} not found at {directory}; set {DATASETS_ENV} to the "
                f"datasets/ folder of a geognn checkout, or pass a directory of triple files"
            )
        return directory, text.lower()
    directory = Path(name_or_dir).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(
            f"{directory} is neither a directory nor a bundled dataset ({', '.join(BUNDLED_KG)})"
        )
    missing = [f"{s}.txt" for s in SPLITS if not (directory / f"{s}.txt").is_file()]
    if missing:
        raise FileNotFoundError(f"{directory} lacks {', '.join(missing)} (tab-separated triple files)")
    return directory, directory.name
