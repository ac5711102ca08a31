"""Peers: every peer of the chosen suites is reported, an absent one with the command that installs it."""

import pytest

from geognn.bench import peers


def test_an_absent_peer_is_reported_with_its_install_command(monkeypatch):
    missing = peers.Peer("pykeen", "PyKEEN", "geognn_no_such_module", "pykeen", ("kg",), "pip install 'pykeen>=1.10'")
    monkeypatch.setitem(peers.PEERS, "pykeen", missing)
    status = peers.status({"pykeen"}, ["kg"])
    assert status["pykeen"]["status"] == "absent"
    assert status["pykeen"]["install"] == "pip install 'pykeen>=1.10'"
    assert peers.usable(status) == set()


def test_installed_peers_carry_their_version_and_unrequested_ones_are_listed_as_such():
    status = peers.status({"torch"}, ["kernels"])
    assert status["torch"]["status"] == "installed" and status["torch"]["version"]
    assert status["torch_scatter"]["status"] == "not requested"
    assert "pyg" not in status  # not a peer of the kernels suite


def test_a_peer_that_fails_to_run_is_marked_failed_with_the_reason():
    status = peers.status({"torch"}, ["kernels"])
    peers.mark_failed(status, "torch", "ImportError: T_co")
    assert status["torch"] == {**status["torch"], "status": "failed", "reason": "ImportError: T_co"}


def test_peer_lists_accept_all_none_and_names_and_refuse_unknown_names():
    assert peers.parse_peers("all") == set(peers.PEERS) == peers.parse_peers(None)
    assert peers.parse_peers("none") == set()
    assert peers.parse_peers("pyg, pykeen") == {"pyg", "pykeen"}
    with pytest.raises(ValueError, match="unknown peer.*pyg2.*choose from"):
        peers.parse_peers("pyg2")
