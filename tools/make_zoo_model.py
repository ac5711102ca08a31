"""Turns a finished `geognn train` run into a zoo model: stripped weights plus a model card.

    .venv/bin/python tools/make_zoo_model.py runs/zoo-schnet-qm9 schnet-qm9-small \\
        --description "..." --command "geognn train ..." [--caveat "..."]...

Reads RUN/best.pt and RUN/metrics.json (test metrics, written by `geognn train`
at the end of training), keeps only what prediction needs (model name, config
and weights, target names and units or entity and relation labels and the
training triples, data info), and writes geognn/zoo/models/NAME.pt and
NAME.json atomically. The card records the SHA-256 of the weights, which
geognn.zoo verifies on every load. What the card says about inputs and
metrics depends on the run's task (molecule regression or link prediction).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from geognn import __version__  # noqa: E402
from geognn.train.checkpoint import (  # noqa: E402
    VERSION, atomic_write_bytes, atomic_write_text, load_checkpoint, model_from_checkpoint, to_plain)

KEEP = ("format", "version", "model_name", "model_config", "model_state", "target_names", "target_units", "info",
        "weights", "best_epoch", "task", "selection_metric", "entities", "relations", "known_triples")


def molecule_section(state: dict, metrics: dict) -> dict:
    """Card entries of a molecule model: targets, units, inputs, test MAE/RMSE per target."""
    names, units = state["target_names"], state["target_units"]
    scores = {key: round(float(value), 6) for key, value in metrics["metrics"].items() if key != "loss"}
    return {
        "targets": names,
        "units": dict(zip(names, units)),
        "inputs": "atomic numbers z and 3D positions in Å, one molecule or a PyG Batch; hydrogens explicit",
        "metrics": {"evaluated_on": f"{state['info'].get('n_test')} held-out test molecules", **scores},
        "headline": "test MAE: " + ", ".join(f"{n} {scores[f'mae_{n}']:.4g} {u}" for n, u in zip(names, units)),
    }


def link_prediction_section(state: dict, metrics: dict) -> dict:
    """Card entries of a knowledge-graph model: the graph, inputs, filtered test ranking metrics."""
    info, scores = state["info"], metrics["metrics"]
    return {
        "graph": {"dataset": info.get("dataset"), "entities": len(state["entities"]),
                  "relations": len(state["relations"]), "training_triples": int(state["known_triples"].shape[0])},
        "inputs": "(head, relation) queries by entity and relation label (geognn predict --query 'HEAD,RELATION' or "
                  "'?,RELATION,TAIL'), or entity and relation ids for model.score(heads, relations)",
        "metrics": {"evaluated_on": f"{info.get('test')} test triples of {info.get('dataset')}, both directions: "
                                    f"{scores['num_ranked']} rank queries",
                    "ranking": metrics.get("ranking"),
                    **{key: round(float(value), 6) for key, value in scores.items() if key != "num_ranked"}},
        "headline": f"filtered test MRR {scores['mrr']:.3f}, Hits@1 {scores['hits@1']:.3f}, "
                    f"Hits@10 {scores['hits@10']:.3f}",
    }


def force_field_section(state: dict, metrics: dict) -> dict:
    """Card entries of a force field: energy and forces, inputs, per-split energy/force errors (meV, meV/Å)."""
    keys = ("energy_mae_meV", "energy_rmse_meV", "force_mae_meV", "force_rmse_meV", "force_cos")
    splits = {name: {k: round(float(m[k]), 4) for k in keys if k in m}
              for name, m in metrics.get("splits", {"test": metrics["metrics"]}).items()}
    test = splits["test"]
    return {
        "targets": state["target_names"],
        "units": {state["target_names"][0]: "eV", "forces": "eV/Å"},
        "inputs": "atomic numbers z and 3D positions in Å of the molecule it was trained on; forces = -dE/dpos; "
                  "use it in MD through geognn.calculators.GeognnCalculator('zoo:NAME')",
        "metrics": {"evaluated_on": f"{state['info'].get('n_test')} held-out test frames of "
                                    f"{state['info'].get('dataset')}", **test},
        "metrics_by_split": splits,
        "headline": f"test energy MAE {test['energy_mae_meV']:.3g} meV, force MAE {test['force_mae_meV']:.3g} meV/Å",
    }


SECTIONS = {"molecule_regression": molecule_section, "link_prediction": link_prediction_section,
            "force_field": force_field_section}


def parameter_count(model) -> int:
    """Trained numbers of the model: its weights, or a kernel model's coefficients (it has no weights)."""
    weights = sum(p.numel() for p in model.parameters())
    return weights or int(getattr(model, "alpha", torch.zeros(0)).numel())


def train_time(metrics: dict) -> float:
    """Seconds of training: the sum over epochs, or a kernel model's fit at the size it ships (--model krr)."""
    history = metrics.get("history", [])
    if metrics.get("best_n_train") is not None:
        return sum(h.get("fit_time_s", 0.0) for h in history if h.get("n_train") == metrics["best_n_train"])
    return sum(h.get("epoch_time_s", 0.0) for h in history)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="folder of a finished `geognn train` run (best.pt, metrics.json)")
    p.add_argument("name", help="zoo name, e.g. schnet-qm9-small")
    p.add_argument("--description", required=True, help="one sentence: what the model predicts, for what")
    p.add_argument("--command", required=True, help="the exact `geognn train` command of the run")
    p.add_argument("--caveat", action="append", default=[], help="a limitation users must know (repeatable)")
    p.add_argument("--md", type=Path, action="append", default=[], metavar="STABILITY_JSON",
                   help="a force field's `geognn md` report (stability.json) to put on the card (repeatable)")
    p.add_argument("--out", type=Path, default=REPO / "geognn" / "zoo" / "models")
    args = p.parse_args(argv)

    state = load_checkpoint(args.run / "best.pt")
    metrics = json.loads((args.run / "metrics.json").read_text())
    if metrics.get("evaluated_on") != "test":
        raise SystemExit(f"{args.run}/metrics.json has no test-set metrics; let the run finish first")
    # Plain values only, in the current format: the zoo loads with torch's safe loader like any checkpoint.
    stripped = to_plain({**{k: state[k] for k in KEEP if k in state}, "version": VERSION})
    buffer = io.BytesIO()
    torch.save(stripped, buffer)
    payload = buffer.getvalue()
    weights = args.out / f"{args.name}.pt"
    atomic_write_bytes(weights, lambda f: f.write(payload))

    history = metrics.get("history", [])
    card = {
        "name": args.name,
        "file": weights.name,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "description": args.description,
        "model": state["model_name"],
        "model_config": state["model_config"],
        "parameters": parameter_count(model_from_checkpoint(state)),
        # Runs from before tasks existed were all molecule runs.
        **SECTIONS[state.get("task", "molecule_regression")](state, metrics),
        "training": {
            "data": state["info"],
            "epochs_run": metrics.get("epochs_run"),
            "best_epoch": metrics.get("best_epoch"),
            "train_config": metrics.get("train_config"),
            "weights": state.get("weights", "model"),
            "train_time_s": round(train_time(metrics), 1),
            "command": args.command,
        },
        **({"md_stability": [_md_summary(json.loads(path.read_text())) for path in args.md]} if args.md else {}),
        "caveats": args.caveat,
        "created": datetime.date.today().isoformat(),
        "geognn_version": __version__,
    }
    atomic_write_text(args.out / f"{args.name}.json", json.dumps(card, indent=2) + "\n")
    print(f"wrote {weights} ({len(payload) / 1e3:.0f} kB) and {args.name}.json; test metrics: {card['metrics']}")
    return 0


def _md_summary(report: dict) -> dict:
    """What a card keeps of a `geognn md` report: settings and the measured stability, drift and h(r)."""
    keep = ("ensemble", "runs", "time_ps", "timestep_fs", "temperature_K", "friction_per_fs", "criteria",
            "stable_runs", "stable_fraction", "mean_stable_ps", "hr_error", "hr_error_definition",
            "median_abs_drift_meV_per_atom_ps", "median_steps_per_second")
    return {k: report[k] for k in keep if k in report}


if __name__ == "__main__":
    sys.exit(main())
