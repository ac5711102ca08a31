"""The libraries geognn is measured against: which suite uses each, how to install it, whether it is here.

A peer that is not installed is reported as absent with the command that
installs it, never skipped silently. ``bash benchmarks/setup_peers.sh`` installs
all of them into ``.venv-bench`` (torch pinned, SchNetPack's dependency
conflict worked around); the per-peer commands below are for one peer at a time.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass

SETUP_ALL = "bash benchmarks/setup_peers.sh   # all peers, into .venv-bench"


@dataclass(frozen=True)
class Peer:
    key: str           # the name --peers takes and records carry in ``library``
    label: str         # how tables name it
    module: str        # the import name checked for
    distribution: str  # the pip distribution whose version is recorded
    suites: tuple[str, ...]
    install: str       # a command that installs it


PEERS: dict[str, Peer] = {p.key: p for p in (
    Peer("torch", "PyTorch", "torch", "torch", ("kernels",), "pip install torch   # geognn's own dependency"),
    Peer("torch_scatter", "torch-scatter", "torch_scatter", "torch-scatter", ("kernels",),
         "MAX_JOBS=2 pip install --no-build-isolation torch-scatter   # builds from source, ~7 min on 2 cores"),
    Peer("dscribe", "DScribe", "dscribe", "dscribe", ("featurize",), "pip install 'dscribe>=2.1'"),
    Peer("vesin", "vesin", "vesin", "vesin", ("featurize",), "pip install 'vesin>=0.3'"),
    Peer("matscipy", "matscipy", "matscipy", "matscipy", ("featurize",), "pip install 'matscipy>=1.0'"),
    Peer("ase", "ASE", "ase", "ase", ("featurize",), "pip install 'ase>=3.22'"),
    Peer("pyg", "PyTorch Geometric", "torch_geometric", "torch-geometric", ("models", "accuracy"),
         "pip install 'torch-geometric>=2.5'"),
    Peer("schnetpack", "SchNetPack", "schnetpack", "schnetpack", ("models",),
         "pip install --no-deps schnetpack==2.1.1, then its requirements but sympy (see benchmarks/setup_peers.sh)"),
    Peer("pykeen", "PyKEEN", "pykeen", "pykeen", ("kg",), "pip install 'pykeen>=1.10'"),
    Peer("qmllib", "qmllib", "qmllib", "qmllib", ("krr",), "pip install 'qmllib>=1.1'"),
    Peer("sklearn", "scikit-learn", "sklearn", "scikit-learn", ("krr",), "pip install 'scikit-learn>=1.3'"),
)}


def parse_peers(text: str | None) -> set[str]:
    """``--peers`` text -> peer keys: "all" (or None) is every peer, "none" none of them."""
    if text is None or text.strip() == "all":
        return set(PEERS)
    names = {t.strip() for t in text.split(",") if t.strip()}
    if names == {"none"}:
        return set()
    unknown = names - set(PEERS)
    if unknown:
        raise ValueError(f"unknown peer(s) {', '.join(sorted(unknown))}; choose from {', '.join(PEERS)}, all or none")
    return names


def status(requested: set[str], suites: list[str]) -> dict[str, dict[str, str]]:
    """For every peer of the chosen suites: installed (with version), absent (with install command) or not requested."""
    out = {}
    for key, peer in PEERS.items():
        if not set(peer.suites) & set(suites):
            continue
        entry = {"label": peer.label, "suites": ",".join(s for s in peer.suites if s in suites),
                 "install": peer.install}
        if key not in requested:
            entry["status"] = "not requested"
        elif importlib.util.find_spec(peer.module) is None:
            entry["status"] = "absent"
        else:
            entry["status"] = "installed"
            entry["version"] = version_of(peer.distribution)
        out[key] = entry
    return out


def version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def usable(peer_status: dict[str, dict[str, str]]) -> set[str]:
    """Peers that are requested and installed."""
    return {k for k, v in peer_status.items() if v["status"] == "installed"}


def mark_failed(peer_status: dict[str, dict[str, str]], key: str, reason: str) -> None:
    """Records that an installed peer failed to run (e.g. did not import on this torch)."""
    if key in peer_status and peer_status[key]["status"] == "installed":
        peer_status[key]["status"] = "failed"
        peer_status[key]["reason"] = reason
