"""Regenerating xTB-MD17 frames with tblite gives the shipped ones (same seed, same tblite).

Stated tolerances: energies 1e-4 eV, forces 1e-3 eV/Å, positions 1e-4 Å. The shipped positions and
forces are float32 (rounding about 2e-7 Å and 1e-7 eV/Å), and a trajectory is chaotic, so a different
floating-point path (another tblite, another CPU kernel) would show up as a much larger difference.
"""

from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pytest

from geognn.data import XTB_MD17_MOLECULES, XTBMD17
from geognn.data.xtb_md17 import load_generator

try:
    TBLITE = version("tblite")
except PackageNotFoundError:  # pragma: no cover - tblite is a test dependency
    TBLITE = None

pytestmark = pytest.mark.skipif(TBLITE is None, reason="tblite is not installed (pip install 'geognn[xtb]')")


def same_tblite(data):
    if data.tblite_version != TBLITE:
        pytest.skip(f"frames made with tblite {data.tblite_version}, this is {TBLITE}")


@pytest.mark.parametrize("name", XTB_MD17_MOLECULES)
def test_xtb_energies_and_forces_of_shipped_frames_recomputed_with_tblite_match(name):
    data = XTBMD17(name)
    same_tblite(data)
    make = load_generator()
    calc = make.xtb_calculator(make.Settings())
    for frame in (0, 799, 1599):
        atoms = data.to_ase(frame)
        atoms.calc = calc
        assert atoms.get_potential_energy() == pytest.approx(float(data.energy[frame]), abs=1e-4)
        np.testing.assert_allclose(atoms.get_forces(), data.frame_forces([frame])[0].numpy(), atol=1e-3)


def test_regenerated_first_frames_of_ethanol_equal_the_shipped_ones():
    data = XTBMD17("ethanol")
    same_tblite(data)
    make = load_generator()
    result = make.generate(make.MOLECULES["ethanol"], make.Settings(), n_frames=3, progress=None)
    np.testing.assert_allclose(result["positions"], data.frame_positions([0, 1, 2]).numpy(), atol=1e-4)
    np.testing.assert_allclose(result["energy"], data.energy[:3].numpy(), atol=1e-4)
    np.testing.assert_allclose(result["forces"], data.frame_forces([0, 1, 2]).numpy(), atol=1e-3)
    np.testing.assert_allclose(result["relaxed_positions"], data.relaxed_positions.numpy(), atol=1e-6)
