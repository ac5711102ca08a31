"""QM9 target names, units, unit conversion and single-atom reference energies.

The qm9pack CSV stores properties as the QM9 authors published them
(Ramakrishnan et al., Sci. Data 1, 140022 (2014)): energies in Hartree, dipole
in Debye, polarizability in Bohr³, spatial extent in Bohr², heat capacity in
cal/(mol K). geognn converts every energy to eV and keeps the other units.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

HARTREE_TO_EV = 27.211386245988
"""CODATA 2018 Hartree energy in eV."""


class QM9Target(NamedTuple):
    """One QM9 property: its name in geognn, the CSV column, the unit geognn serves it in."""

    name: str
    column: str
    unit: str
    scale: float  # file unit -> served unit
    description: str


QM9_TARGETS: tuple[QM9Target, ...] = (
    QM9Target("mu", "Dipole_debye", "D", 1.0, "dipole moment"),
    QM9Target("alpha", "Polarizability_bohr3", "Bohr^3", 1.0, "isotropic polarizability"),
    QM9Target("homo", "HOMO_au", "eV", HARTREE_TO_EV, "HOMO energy"),
    QM9Target("lumo", "LUMO_au", "eV", HARTREE_TO_EV, "LUMO energy"),
    QM9Target("gap", "HOMO_LUMO_gap_au", "eV", HARTREE_TO_EV, "HOMO-LUMO gap"),
    QM9Target("r2", "R2_bohr2", "Bohr^2", 1.0, "electronic spatial extent <R^2>"),
    QM9Target("zpve", "ZPVE_au", "eV", HARTREE_TO_EV, "zero-point vibrational energy"),
    QM9Target("U0", "InternalEnergy_0K_au", "eV", HARTREE_TO_EV, "internal energy at 0 K"),
    QM9Target("U", "InternalEnergy_298K_au", "eV", HARTREE_TO_EV, "internal energy at 298.15 K"),
    QM9Target("H", "Enthalphy_298K_au", "eV", HARTREE_TO_EV, "enthalpy at 298.15 K"),
    QM9Target("G", "GibbsFreeEnergy_298K_au", "eV", HARTREE_TO_EV, "free energy at 298.15 K"),
    QM9Target("Cv", "Heatcapacity_Cv_cal_mol_K", "cal/(mol K)", 1.0, "heat capacity at 298.15 K"),
)
QM9_TARGET_NAMES: tuple[str, ...] = tuple(t.name for t in QM9_TARGETS)
_BY_NAME = {t.name: t for t in QM9_TARGETS}

# Single-atom energies (Hartree) at B3LYP/6-31G(2df,p), from the "atomref"
# table published with QM9. An isolated atom has no vibrations, so its ZPVE is
# 0 and its U0 is its electronic energy; U, H and G add the thermal terms.
_ATOM_REFERENCE_HARTREE = {
    #        U0           U            H            G
    1: (-0.500273, -0.498857, -0.497912, -0.510927),
    6: (-37.846772, -37.845355, -37.844411, -37.861317),
    7: (-54.583861, -54.582445, -54.581501, -54.598897),
    8: (-75.064579, -75.063162, -75.062219, -75.079532),
    9: (-99.718730, -99.717314, -99.716370, -99.733544),
}
ATOMIZATION_TARGETS: tuple[str, ...] = ("U0", "U", "H", "G")


def qm9_target(name: str) -> QM9Target:
    """The :class:`QM9Target` called ``name`` (exact, or case-insensitive when unambiguous)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    matches = [t for t in QM9_TARGETS if t.name.lower() == str(name).lower()]
    if len(matches) == 1:
        return matches[0]
    raise KeyError(f"unknown QM9 target {name!r}; choose from {', '.join(QM9_TARGET_NAMES)}")


def qm9_atomref(target: str, num_elements: int = 10) -> torch.Tensor:
    """(num_elements,) float64 reference energy per atomic number, in the target's unit (eV).

    Non-zero for H, C, N, O, F and the targets U0, U, H, G; all zeros for every
    other target (including zpve, which is 0 for a single atom). A molecule's
    atomization energy is its total energy minus ``qm9_atomref(t)[z].sum()``.
    """
    info = qm9_target(target)
    table = torch.zeros(num_elements, dtype=torch.float64)
    if info.name in ATOMIZATION_TARGETS:
        column = ATOMIZATION_TARGETS.index(info.name)
        for z, energies in _ATOM_REFERENCE_HARTREE.items():
            if z < num_elements:
                table[z] = energies[column] * HARTREE_TO_EV
    return table


def convert_raw_targets(raw: np.ndarray) -> np.ndarray:
    """(n, 12) float64 targets in served units from (n, 12) values in file units, both in QM9_TARGETS order."""
    scale = np.array([t.scale for t in QM9_TARGETS], dtype=np.float64)
    return raw * scale
