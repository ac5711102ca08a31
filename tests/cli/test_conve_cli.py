"""`geognn train --model conve` and `geognn predict --query`, end to end on a bundled knowledge graph."""

import csv
import io
import json
from contextlib import redirect_stdout

import pytest

from geognn.cli.main import main

TINY = ["--embedding-dim", "16", "--conv-filters", "4", "--no-progress"]


@pytest.fixture(scope="module")
def nations_run(tmp_path_factory):
    """Three epochs of a small ConvE on Nations (14 countries, 55 relations); the run folder and what it printed."""
    out = tmp_path_factory.mktemp("conve") / "run"
    printed = io.StringIO()
    with redirect_stdout(printed):
        status = main(["train", "--model", "conve", "--dataset", "nations", "--epochs", "3", "--out", str(out), *TINY])
    assert status == 0
    (out / "stdout.txt").write_text(printed.getvalue())
    return out


def _predict(capsys, checkpoint, *options):
    status = main(["predict", "--checkpoint", str(checkpoint), *options])
    captured = capsys.readouterr()
    return status, list(csv.DictReader(io.StringIO(captured.out))), captured.err


def test_train_prints_and_writes_the_filtered_test_metrics(nations_run):
    summary = json.loads((nations_run / "metrics.json").read_text())
    assert summary["evaluated_on"] == "test" and summary["metrics"]["num_ranked"] == 2 * 201
    for key in ("mrr", "mr", "hits@1", "hits@3", "hits@10", "tail_mrr", "head_hits@10"):
        assert key in summary["metrics"]
    assert summary["train_config"]["lr"] == 0.003 and summary["train_config"]["schedule"] == "exponential"
    assert summary["info"]["dataset"] == "nations" and summary["info"]["entities"] == 14
    assert (nations_run / "learning_curve.png").stat().st_size > 0
    assert "val_mrr" in (nations_run / "metrics.csv").read_text().splitlines()[0]


def test_train_output_is_a_table_of_ranking_metrics(nations_run):
    out = (nations_run / "stdout.txt").read_text()
    assert "MRR" in out and "Hits@10" in out and "best epoch" in out
    assert [line.split()[0] for line in out.splitlines()[2:5]] == ["both", "tails", "heads"]


def test_predict_lists_the_top_tails_and_heads(nations_run, capsys):
    status, rows, _ = _predict(capsys, nations_run / "best.pt", "--query", "usa,militaryalliance", "--top-k", "3",
                               "--query", "?,militaryalliance,uk")
    assert status == 0 and len(rows) == 6
    assert set(rows[0]) == {"query", "predict", "rank", "entity", "score", "probability", "in_training_graph"}
    assert [r["predict"] for r in rows] == ["tail"] * 3 + ["head"] * 3
    assert [r["rank"] for r in rows[:3]] == ["1", "2", "3"]
    scores = [float(r["score"]) for r in rows[:3]]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < float(r["probability"]) < 1 for r in rows)


def test_filter_known_leaves_out_training_triples(nations_run, capsys, tmp_path):
    _, every, _ = _predict(capsys, nations_run / "best.pt", "--query", "netherlands,militaryalliance", "--top-k", "14")
    known = {r["entity"] for r in every if r["in_training_graph"] == "yes"}
    assert "uk" in known  # the first line of nations/train.txt
    _, unknown, _ = _predict(capsys, nations_run / "best.pt", "--query", "netherlands,militaryalliance",
                             "--top-k", "14", "--filter-known")
    assert {r["entity"] for r in unknown} == {r["entity"] for r in every} - known
    queries = tmp_path / "q.txt"
    queries.write_text("# tails then heads\nusa\tmilitaryalliance\n\n?,militaryalliance,uk\n")
    status, rows, _ = _predict(capsys, nations_run / "best.pt", "--queries", str(queries), "--top-k", "2")
    assert status == 0 and [r["query"] for r in rows] == ["usa\tmilitaryalliance"] * 2 + ["?,militaryalliance,uk"] * 2


@pytest.mark.parametrize("query, message", [
    ("usaa,militaryalliance", "unknown entity 'usaa'; closest known: 'usa'"),
    ("usa,military_alliance", "unknown relation 'military_alliance'; closest known: 'militaryalliance'"),
    ("usa", "cannot read the query 'usa'"),
    ("?,militaryalliance,?", "cannot read the query"),
])
def test_bad_queries_name_the_label_and_suggest_close_ones(nations_run, capsys, query, message):
    status, rows, err = _predict(capsys, nations_run / "best.pt", "--query", query)
    assert status == 2 and rows == [] and message in err and "Traceback" not in err


def test_a_bad_line_in_a_queries_file_names_file_and_line(nations_run, capsys, tmp_path):
    queries = tmp_path / "q.txt"
    queries.write_text("usa,militaryalliance\nchina,embassy,japan,x\n")
    status, _, err = _predict(capsys, nations_run / "best.pt", "--queries", str(queries))
    assert status == 2 and f"{queries}:2: cannot read the query" in err


def test_molecule_and_graph_options_are_not_mixed(nations_run, tmp_path, capsys):
    smi = tmp_path / "m.smi"
    smi.write_text("C\n")
    status, _, err = _predict(capsys, nations_run / "best.pt", "--input", str(smi))
    assert status == 2 and "knowledge-graph model" in err and "--query" in err
    status, _, err = _predict(capsys, "zoo:schnet-qm9-small", "--query", "usa,militaryalliance")
    assert status == 2 and "molecule model: give --input" in err
    assert main(["train", "--model", "conve", "--dataset", "qm9", "--out", str(tmp_path / "x")]) == 2
    assert "knowledge graph, not on qm9" in capsys.readouterr().err
    assert main(["train", "--model", "schnet", "--dataset", "umls", "--out", str(tmp_path / "y")]) == 2
    assert "trains on molecules" in capsys.readouterr().err
    assert main(["train", "--model", "conve", "--dataset", str(tmp_path / "nowhere"), "--out", str(tmp_path / "z")]) == 2
    assert "neither a directory nor a bundled dataset" in capsys.readouterr().err


def test_train_help_gives_the_conve_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--embedding-dim" in text and "with --model conve: 0.003" in text and "with --model conve: adam" in text
