"""Search spaces: defaults per family, overrides from YAML/JSON files, clear errors naming the key."""

import json

import optuna
import pytest

from geognn.tune.runner import train_actions
from geognn.tune.spaces import DEFAULT_SPACES, SpaceError, build_space, describe_defaults

ACTIONS = train_actions()


def _space(tmp_path, text, model="conve", suffix=".yaml", fixed=frozenset()):
    path = tmp_path / f"space{suffix}"
    path.write_text(text)
    return build_space(model, ACTIONS, set(fixed), path)


def test_every_default_parameter_is_an_option_of_geognn_train_and_in_the_help():
    text = describe_defaults()
    for family, params in DEFAULT_SPACES.items():
        space = build_space(family, ACTIONS)
        assert [p.name for p in space.params.values()] == [p.name for p in params]
        for p in params:
            assert p.name in ACTIONS and p.name in text
    assert set(build_space("conve", ACTIONS).params) >= {"embedding_dim", "kernel_size", "conv_filters",
                                                         "input_dropout", "feature_map_dropout", "hidden_dropout",
                                                         "label_smoothing", "lr", "batch_size"}


def test_a_file_changes_ranges_choices_log_and_fixed_values(tmp_path):
    space = _space(tmp_path, "lr: {high: 0.05}\nkernel_size: {choices: [3, 5]}\nembedding_dim: 96\n"
                             "label_smoothing: null\nweight_decay: {low: 1.0e-6, high: 1.0e-3, log: true}\n"
                             "--hidden-dropout: {fixed: 0.25}\n")
    lr = space.params["lr"]
    assert (lr.low, lr.high, lr.log) == (3e-4, 0.05, True)  # only 'high' changed
    assert space.params["kernel_size"].choices == (3, 5)
    assert space.params["embedding_dim"].kind == "fixed" and space.params["embedding_dim"].value == 96
    assert space.params["hidden_dropout"].value == 0.25
    assert "label_smoothing" not in space.params
    assert space.params["weight_decay"].log
    assert space.argv({"embedding_dim": 96, "lr": 0.01}) == ["--embedding-dim", "96", "--lr", "0.01"]


def test_json_files_and_flags_of_molecule_models(tmp_path):
    space = _space(tmp_path, json.dumps({"fit_atomref": {"choices": [False]}, "cutoff": {"low": 4, "high": 5}}),
                   model="schnet", suffix=".json")
    assert space.argv({"fit_atomref": False, "cutoff": 4.5}) == ["--no-fit-atomref", "--cutoff", "4.5"]
    assert space.argv({"fit_atomref": True}) == []
    assert space.params["cutoff"].low == 4.0 and space.params["cutoff"].kind == "float"


def test_options_given_on_the_command_line_leave_the_space():
    space = build_space("conve", ACTIONS, {"lr", "embedding_dim"})
    assert "lr" not in space.params and "embedding_dim" not in space.params


@pytest.mark.parametrize("text, message", [
    ("kernal_size: 3", "'kernal_size' is not an option of geognn train; did you mean 'kernel_size'"),
    ("cutoff: {low: 3, high: 5}", "'cutoff' is a schnet option; --model conve does not use it"),
    ("n_train: 100", "'n_train' sets the data or the run, not a hyperparameter"),
    ("seed: 1", "'seed' sets the data or the run"),
    ("fit_atomref: false", "'fit_atomref' applies to molecules"),
    ("lr: {low: 0.01, high: 0.001}", "'lr': 'low' (0.01) must be below 'high' (0.001)"),
    ("lr: {low: 0, high: 0.1, log: true}", "'lr': a log range needs 'low' > 0"),
    ("lr: {lo: 0.1}", "'lr': unknown field(s) ['lo']"),
    ("kernel_size: {low: 2.5, high: 7}", "'kernel_size': 'low' must be an integer"),
    ("kernel_size: {choices: []}", "'kernel_size': 'choices' must be a non-empty list"),
    ("input_dropout: {low: 0.1, high: high}", "'input_dropout': 'high' must be a finite number"),
    ("batch_size: many", "'batch_size': the value must be a number"),
    ("optimizer: {choices: [adam, sgd]}", "'optimizer': a choice 'sgd' is not one of ['adamw', 'adam']"),
    ("- lr", "expected a mapping"),
    ("lr: {low: [", "cannot be read"),
])
def test_a_bad_space_is_a_clear_error_naming_the_key(tmp_path, text, message):
    with pytest.raises(SpaceError) as err:
        _space(tmp_path, text)
    assert message in str(err.value) and "space.yaml" in str(err.value)


def test_a_key_on_the_command_line_and_in_the_file_is_an_error(tmp_path):
    with pytest.raises(SpaceError, match="'lr' is also given on the command line"):
        _space(tmp_path, "lr: 0.001", fixed={"lr"})


def test_suggestions_come_from_the_declared_ranges():
    space = build_space("schnet", ACTIONS)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        values = space.suggest(study.ask())
        assert 3.5 <= values["cutoff"] <= 6.0 and (values["cutoff"] * 2).is_integer()
        assert values["num_rbf"] % 8 == 0 and values["radial_basis"] in ("gaussian", "bessel")
        assert 1e-4 <= values["lr"] <= 3e-3
