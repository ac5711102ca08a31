"""The documented default spaces match the code; storages; reclaiming running trials; counting finished trials."""

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from geognn.cli.main import main
from geognn.tune import optuna_setup
from geognn.tune.runner import _reclaim_running
from geognn.tune.spaces import describe_defaults
from geognn.tune.study import Census, is_finished

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_and_help_show_the_default_spaces_of_the_code(capsys):
    readme = README.read_text()
    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    text = capsys.readouterr().out
    for line in describe_defaults().splitlines():
        assert line in readme, f"README.md lacks the default space line {line.strip()!r}"
        assert line.strip() in text


def test_storages_from_urls(tmp_path):
    sqlite = optuna_setup.make_storage(f"sqlite:///{tmp_path / 'a' / 'study.db'}", heartbeat_s=7)
    assert optuna_setup.has_heartbeat(sqlite) and sqlite.grace_period == 14
    journal = optuna_setup.make_storage(f"journal:{tmp_path / 'j' / 'study.log'}", heartbeat_s=7)
    assert not optuna_setup.has_heartbeat(journal)
    optuna.create_study(storage=journal, study_name="s").optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(optuna.load_study(study_name="s", storage=journal).trials) == 2
    assert optuna_setup.redacted("postgresql://me:secret@db/optuna") == "postgresql://me:***@db/optuna"
    with pytest.raises(ValueError, match="database URL"):
        optuna_setup.make_storage(str(tmp_path / "study.db"), 7)


def test_reclaim_running_fails_a_running_trial_and_queues_its_parameters_again(tmp_path):
    storage = optuna_setup.make_storage(f"journal:{tmp_path / 'study.log'}", heartbeat_s=60)
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1e-2, log=True)  # its worker died here
    assert _reclaim_running(study) == 1
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL, TrialState.WAITING]
    retry = study.get_trials()[1]
    assert retry.params == study.get_trials()[0].params and retry.system_attrs["retry_history"] == [0]
    census = Census.of(study)
    assert (census.finished, census.running, census.waiting) == (0, 0, 1)


def test_only_completed_pruned_and_failed_with_an_error_trials_count():
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(state=TrialState.COMPLETE, value=1.0))
    study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED))
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={"error": "ValueError: x"}))
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))  # killed: retried, not counted
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={"surplus": True}))
    assert [is_finished(t) for t in study.get_trials()] == [True, True, True, False, False]
