"""The zoo covers every model family: list, info and the Python API; a model from a newer geognn is refused."""

import json

import pytest

from geognn import __version__, zoo
from geognn.cli.main import main as cli_main


def test_list_names_every_shipped_model_and_families_cover_every_model_family():
    assert zoo.list() == ["conve-umls", "cormorant-qm9-small", "krr-qm9-u0", "schnet-qm9-small",
                          "schnet-xtb-ethanol"] == zoo.available()
    families = zoo.families()
    assert families == {"schnet": ["schnet-qm9-small", "schnet-xtb-ethanol"], "cormorant": ["cormorant-qm9-small"],
                        "conve": ["conve-umls"], "krr": ["krr-qm9-u0"]}
    assert set(families) == set(zoo.FAMILIES)


def test_every_shipped_model_is_a_few_megabytes_at_most():
    # The zoo ships inside the wheel: each model must stay small enough to install with the library.
    sizes = {name: zoo.checkpoint_path(name).stat().st_size for name in zoo.list()}
    assert all(size < 4_000_000 for size in sizes.values()), sizes


def test_zoo_list_shows_each_family_with_its_models_and_metrics(capsys):
    assert cli_main(["zoo", "list"]) == 0
    listing = capsys.readouterr().out
    assert "SchNet (geognn.models.SchNet" in listing and "ConvE (geognn.models.ConvE" in listing
    cormorant = listing[listing.index("Cormorant (geognn.models.Cormorant"):listing.index("ConvE (")]
    assert "cormorant-qm9-small:" in cormorant and "test MAE: U0" in cormorant
    assert "no shipped model" not in listing
    assert cli_main(["zoo"]) == 0 and capsys.readouterr().out == listing  # the old form lists too


def test_zoo_info_prints_the_card_as_the_old_form_does(capsys):
    assert cli_main(["zoo", "info", "conve-umls"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card == zoo.card("conve-umls")
    assert cli_main(["zoo", "conve-umls"]) == 0 and json.loads(capsys.readouterr().out) == card


@pytest.mark.parametrize("argv, message", [(["zoo", "info"], "needs a model name"),
                                           (["zoo", "info", "nope"], "no zoo model named 'nope'"),
                                           (["zoo", "list", "x"], "takes no model name"),
                                           (["zoo", "show", "x"], "unknown zoo action 'show'")])
def test_zoo_commands_explain_mistakes(argv, message, capsys):
    assert cli_main(argv) == 2
    assert message in capsys.readouterr().err


def _edit_card(folder, name, **changes):
    path = folder / f"{name}.json"
    card = json.loads(path.read_text())
    card.update(changes)
    path.write_text(json.dumps(card))
    zoo._card.cache_clear()


def test_a_model_made_by_a_newer_geognn_is_refused_with_what_to_do(zoo_copy):
    _edit_card(zoo_copy, "schnet-qm9-small", geognn_version="99.0.0")
    with pytest.raises(zoo.ZooError, match=f"made by geognn 99.0.0, and this is geognn {__version__}: upgrade"):
        zoo.load("schnet-qm9-small")


def test_a_model_made_by_this_or_an_older_geognn_loads(zoo_copy):
    _edit_card(zoo_copy, "schnet-qm9-small", geognn_version=__version__)
    assert zoo.load("schnet-qm9-small").training is False
    assert zoo.card("conve-umls")["geognn_version"] <= __version__


def test_a_card_without_its_geognn_version_is_refused(zoo_copy):
    path = zoo_copy / "conve-umls.json"
    card = json.loads(path.read_text())
    del card["geognn_version"]
    path.write_text(json.dumps(card))
    zoo._card.cache_clear()
    with pytest.raises(zoo.ZooError, match="does not say which geognn made it"):
        zoo.checkpoint_path("conve-umls")


def test_a_family_without_a_shipped_model_says_why_or_that_it_has_none(zoo_copy, monkeypatch, capsys):
    for path in zoo_copy.glob("cormorant-qm9-small.*"):
        path.unlink()
    zoo._card.cache_clear()
    assert zoo.families()["cormorant"] == []
    assert cli_main(["zoo", "list"]) == 0
    listing = capsys.readouterr().out
    assert listing[listing.index("Cormorant ("):listing.index("ConvE (")].endswith(":\n  no shipped model\n")
    monkeypatch.setitem(zoo.FAMILIES, "cormorant", {**zoo.FAMILIES["cormorant"], "none_shipped": "none yet: why"})
    assert cli_main(["zoo", "list"]) == 0
    assert "Cormorant (geognn.models.Cormorant; molecular properties):\n  none yet: why\n" in capsys.readouterr().out
