"""The libraries geognn is measured against: which suite uses each, how to install it, whether it is here.

A peer that is not installed is reported as absent with the command that
installs it, never skipped silently. ``bash benchmarks/setup_peers.sh`` installs
all of them into ``.venv-bench`` (torch pinned, SchNetPack's dependency
conflict worked around); the per-peer commands below are for one peer at a time.
A peer whose pins conflict with geognn's (MACE: its e3nn) lives in a virtual
environment of its own inside the checkout (``.venv-mace``): it is installed when
that environment's interpreter imports it, and the suite's script runs it there.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
from dataclasses import dataclass
from pathlib import Path

SETUP_ALL = "bash benchmarks/setup_peers.sh   # all peers, into .venv-bench"


@dataclass(frozen=True)
class Peer:
    key: str           # the name --peers takes and records carry in ``library``
    label: str         # how tables name it
    module: str        # the import name checked for
    distribution: str  # the pip distribution whose version is recorded
    suites: tuple[str, ...]
    install: str       # a command that installs it
    python: str = ""   # its own interpreter, relative to the checkout root ("": the Python running geognn bench)


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
    Peer("schnetpack", "SchNetPack", "schnetpack", "schnetpack", ("models", "forcefield"),
         "pip install --no-deps schnetpack==2.1.1, then its requirements but sympy (see benchmarks/setup_peers.sh)"),
    Peer("pykeen", "PyKEEN", "pykeen", "pykeen", ("kg",), "pip install 'pykeen>=1.10'"),
    Peer("qmllib", "qmllib", "qmllib", "qmllib", ("krr",), "pip install 'qmllib>=1.1'"),
    Peer("sklearn", "scikit-learn", "sklearn", "scikit-learn", ("krr",), "pip install 'scikit-learn>=1.3'"),
    Peer("mace", "MACE", "mace", "mace-torch", ("forcefield",),
         "bash benchmarks/setup_peers.sh   # mace-torch into .venv-mace (its e3nn pin conflicts with geognn's)",
         python=".venv-mace/bin/python"),
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
        else:
            version = installed_version(peer)
            if version is None:
                entry["status"] = "absent"
            else:
                entry["status"] = "installed"
                entry["version"] = version
        out[key] = entry
    return out


def installed_version(peer: Peer) -> str | None:
    """The peer's version where it imports (in its own interpreter, if it has one), else None."""
    if not peer.python:
        return version_of(peer.distribution) if importlib.util.find_spec(peer.module) is not None else None
    from geognn.bench.scripts import package_root

    python = package_root() / Path(peer.python)
    if not python.is_file():
        return None
    probe = (f"import importlib.util, importlib.metadata as m; "
             f"print(m.version({peer.distribution!r}) if importlib.util.find_spec({peer.module!r}) else '')")
    try:
        proc = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = proc.stdout.strip()
    return version if proc.returncode == 0 and version else None


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
