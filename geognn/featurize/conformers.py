"""3D conformers for molecules known only by their graph (SMILES, 2D SDF): ETKDG, then a force field.

Reproducible: the same seed gives the same coordinates (RDKit's embedding is
run single-threaded with that seed, and the force-field relaxation is deterministic).
"""

from __future__ import annotations

from rdkit import Chem
from rdkit.Chem import AllChem

__all__ = ["embed_molecule"]


def embed_molecule(mol, seed: int = 0, max_force_field_iterations: int = 2000):
    """A copy of ``mol`` with explicit hydrogens and one 3D conformer (Å).

    ETKDG (v3) places the atoms; MMFF94 relaxes them, or UFF when MMFF has no
    parameters for some atom, or neither when UFF has none either (ETKDG
    geometry kept). Raises ``ValueError`` when no conformer can be embedded.
    """
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    params.numThreads = 1
    if AllChem.EmbedMolecule(mol, params) != 0:
        # Random starting coordinates succeed for some strained or large
        # molecules on which the default distance-geometry start fails.
        params.useRandomCoords = True
        if AllChem.EmbedMolecule(mol, params) != 0:
            raise ValueError("RDKit could not embed a 3D conformer (ETKDG failed)")
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=max_force_field_iterations)
    elif AllChem.UFFHasAllMoleculeParams(mol):
        AllChem.UFFOptimizeMolecule(mol, maxIters=max_force_field_iterations)
    return mol
