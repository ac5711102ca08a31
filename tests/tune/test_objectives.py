"""Objectives: names, directions, values from a history row, clear errors."""

import pytest

from geognn.tune.objectives import ObjectiveError, parse_objectives


def test_link_prediction_objectives_and_directions():
    mrr, worst, mr = parse_objectives("mrr,worst_bucket_mrr,tail_cat_1-N_mr", "conve")
    assert (mrr.metrics, mrr.direction) == (("mrr",), "maximize")
    assert worst.metrics == ("worst_freq_mrr",) and worst.direction == "maximize"
    assert mr.direction == "minimize"
    assert [o.name for o in parse_objectives(None, "conve")] == ["mrr"]


def test_molecule_objectives_mean_over_targets_in_their_units():
    mae, largest, u0 = parse_objectives("mae,mae_largest,mae_U0_size2", "schnet", ["U0", "gap"], ["eV", "eV"])
    row = {"val_mae_U0": 0.1, "val_mae_gap": 0.3, "val_mae_U0_largest": 0.5, "val_mae_gap_largest": 0.7,
           "val_mae_U0_size2": 0.2}
    assert mae.from_row(row) == pytest.approx(0.2) and mae.unit == "eV" and mae.direction == "minimize"
    assert largest.from_row(row) == pytest.approx(0.6)
    assert u0.from_row(row) == 0.2
    assert parse_objectives(None, "cormorant", ["U0"], ["eV"])[0].metrics == ("mae_U0",)


def test_costs_come_from_the_trial():
    mae, step, memory = parse_objectives("mae,step_time,memory", "cormorant", ["U0"], ["eV"])
    history = [{"step_time_s": 0.3}, {"step_time_s": 0.1}, {"step_time_s": 0.2}]
    assert step.from_trial({}, history, None) == 0.2 and step.unit == "s"
    assert memory.from_trial({}, history, 512.0) == 512.0
    with pytest.raises(ObjectiveError, match="cannot be measured"):
        memory.from_trial({}, history, None)


@pytest.mark.parametrize("text, model, message", [
    ("accuracy", "conve", "not a link-prediction metric"),
    ("mae_gap", "schnet", "not a molecule metric"),
    ("step_time", "schnet", "add an accuracy objective"),
    ("mrr,mrr", "conve", "repeated"),
])
def test_unknown_objectives_are_clear_errors(text, model, message):
    with pytest.raises(ObjectiveError, match=message):
        parse_objectives(text, model, ["U0"], ["eV"])


def test_a_metric_the_run_lacks_names_what_it_has():
    (objective,) = parse_objectives("freq9_mrr", "conve")
    with pytest.raises(ObjectiveError, match="no validation metric 'freq9_mrr'.*freq1_mrr"):
        objective.from_row({"val_mrr": 0.5, "val_freq1_mrr": 0.4})
