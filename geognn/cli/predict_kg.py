"""``geognn predict --query``: ranked answers of a trained knowledge-graph model (ConvE).

Queries name labels of the training graph: ``HEAD,RELATION`` (or
``HEAD,RELATION,?``) asks for tails; ``?,RELATION,TAIL`` asks for heads, scored
as tails of the inverse relation. Fields are split on tabs when the query
holds one (for labels containing commas), else on commas.
"""

from __future__ import annotations

import csv
import difflib
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

QUERY_FORMS = "'HEAD,RELATION' (tails), 'HEAD,RELATION,?' (tails) or '?,RELATION,TAIL' (heads)"


class Labels:
    """The entity and relation labels of a model (id -> label lists), with the reverse maps."""

    def __init__(self, entities: list[str], relations: list[str]):
        self.entities, self.relations = list(entities), list(relations)
        self.entity_ids = {e: i for i, e in enumerate(self.entities)}
        self.relation_ids = {r: i for i, r in enumerate(self.relations)}

    def entity(self, label: str, where: str) -> int:
        return lookup(label, self.entity_ids, self.entities, "entity", where)

    def relation(self, label: str, where: str) -> int:
        return lookup(label, self.relation_ids, self.relations, "relation", where)


@dataclass(frozen=True)
class Query:
    """One parsed query: ``entity`` is the given head (``direction == "tail"``) or the given tail (``"head"``)."""

    text: str
    entity: int
    relation: int
    direction: str


def closest(label: str, labels: list[str], n: int = 3) -> str:
    """Up to ``n`` labels close to ``label`` (difflib), quoted and comma-separated, for error messages."""
    near = difflib.get_close_matches(label, labels, n=n, cutoff=0.5)
    if not near:
        lowered = {x.lower(): x for x in labels}
        near = [lowered[x] for x in difflib.get_close_matches(label.lower(), list(lowered), n=n, cutoff=0.3)]
    return ", ".join(repr(x) for x in near) if near else "none close"


def lookup(label: str, ids: dict[str, int], labels: list[str], kind: str, where: str) -> int:
    """The id of ``label`` among ``labels``; ValueError naming it, where it came from and the closest labels."""
    if label in ids:
        return ids[label]
    raise ValueError(f"{where}: unknown {kind} {label!r}; closest known: {closest(label, labels)} "
                     f"({len(labels)} {kind} labels in the model)")


def parse_query(text: str, labels: Labels, where: str = "--query") -> Query:
    """Parses one query against the model's labels.

    Raises:
        ValueError: naming ``where`` (the option or file:line) for a malformed
            query or an unknown label (with the closest known labels).
    """
    fields = [f.strip() for f in (text.split("\t") if "\t" in text else text.split(","))]
    if len(fields) == 2 or (len(fields) == 3 and fields[2] == "?" and fields[0] != "?"):
        head, relation = fields[0], fields[1]
        if head and head != "?" and relation:
            return Query(text, labels.entity(head, where), labels.relation(relation, where), "tail")
    elif len(fields) == 3 and fields[0] == "?" and fields[2] not in ("", "?") and fields[1]:
        return Query(text, labels.entity(fields[2], where), labels.relation(fields[1], where), "head")
    raise ValueError(f"{where}: cannot read the query {text!r}; write {QUERY_FORMS}")


def read_queries(path: Path, labels: Labels) -> list[Query]:
    """Queries of a file, one per line (blank lines and lines starting with # skipped)."""
    if not path.is_file():
        raise FileNotFoundError(f"--queries: {path} does not exist")
    queries = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            if text.strip() and not text.lstrip().startswith("#"):
                queries.append(parse_query(text, labels, where=f"{path}:{line_no}"))
    if not queries:
        raise ValueError(f"--queries: {path} holds no query")
    return queries


def known_answers(known_triples: torch.Tensor, query: Query) -> set[int]:
    """Entities that complete ``query`` into a training triple."""
    h, r, t = known_triples[:, 0], known_triples[:, 1], known_triples[:, 2]
    if query.direction == "tail":
        return set(t[(h == query.entity) & (r == query.relation)].tolist())
    return set(h[(t == query.entity) & (r == query.relation)].tolist())


@torch.no_grad()
def answer_queries(model, queries: list[Query], known_triples: torch.Tensor | None, top_k: int,
                   filter_known: bool) -> list[list[tuple[int, float, bool]]]:
    """For each query its top ``top_k`` (entity id, logit, known) answers, best first.

    Head queries are scored as tails of the inverse relation. With
    ``filter_known``, answers that form a training triple are left out
    before the top ``top_k`` are taken.
    """
    heads = torch.tensor([q.entity for q in queries])
    relations = torch.tensor([q.relation + (model.num_relations if q.direction == "head" else 0) for q in queries])
    scores = model.score(heads, relations)
    results = []
    for query, row in zip(queries, scores):
        known = known_answers(known_triples, query) if known_triples is not None else set()
        if filter_known and known:
            row = row.clone()
            row[list(known)] = float("-inf")
        k = min(top_k, row.numel() - (len(known) if filter_known else 0))
        values, ids = row.topk(max(k, 0))
        results.append([(int(i), float(v), int(i) in known) for v, i in zip(values, ids)])
    return results


def run_predict_kg(args, state) -> int:
    """``geognn predict`` for a link-prediction checkpoint: a CSV of ranked answers per query."""
    from geognn.train.checkpoint import atomic_write_text, model_from_checkpoint

    if args.input is not None:
        raise ValueError(f"{args.checkpoint} is a knowledge-graph model ({state['model_name']}): ask it with "
                         f"--query or --queries, not --input")
    if args.query is None and args.queries is None:
        raise ValueError(f"{args.checkpoint} is a knowledge-graph model: give --query {QUERY_FORMS.split(' (')[0]} "
                         f"or --queries FILE")
    if args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
    labels = Labels(state["entities"], state["relations"])
    queries = [parse_query(q, labels) for q in (args.query or [])]
    if args.queries is not None:
        queries += read_queries(args.queries, labels)
    model = model_from_checkpoint(state)
    known = state.get("known_triples")
    known = known.long() if known is not None else None
    answers = answer_queries(model, queries, known, args.top_k, args.filter_known)

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["query", "predict", "rank", "entity", "score", "probability", "in_training_graph"])
    for query, rows in zip(queries, answers):
        for rank, (entity, logit, is_known) in enumerate(rows, start=1):
            probability = float(torch.sigmoid(torch.tensor(logit)))
            writer.writerow([query.text, query.direction, rank, labels.entities[entity], f"{logit:.4f}",
                             f"{probability:.4f}", "yes" if is_known else "no"])
    if args.output:
        atomic_write_text(args.output, buffer.getvalue())
        print(f"geognn: wrote the top {args.top_k} answers of {len(queries)} query(ies) to {args.output}",
              file=sys.stderr)
    else:
        sys.stdout.write(buffer.getvalue())
    return 0
