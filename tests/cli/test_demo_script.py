import os
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.sh"


@pytest.mark.skipif(not DEMO.is_file(), reason="scripts/demo.sh is part of the source checkout")
def test_demo_trains_predicts_a_table_with_units_and_reports_the_bad_smiles(tmp_path):
    env = dict(os.environ, DEMO_N_TRAIN="40", DEMO_N_VAL="10", DEMO_N_TEST="10", DEMO_EPOCHS="1",
               DEMO_QM9_LIMIT="80", DEMO_OUT=str(tmp_path / "demo"), GEOGNN_CACHE=str(tmp_path / "cache"))
    result = subprocess.run(["bash", str(DEMO), str(Path(sys.executable).parent)], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "U0 (eV)" in out and "gap (eV)" in out
    for name in ("ethanol", "benzene", "acetic_acid", "water", "methylamine"):
        assert name in out
    assert "broken_smiles" in result.stderr and "skipped 1 molecule(s)" in result.stderr
    assert "broken_smiles" not in out
    for plot in ("learning_curve.png", "parity.png"):
        assert str(tmp_path / "demo" / plot) in out and (tmp_path / "demo" / plot).stat().st_size > 0


@pytest.mark.skipif(not DEMO.is_file(), reason="scripts/demo.sh is part of the source checkout")
def test_demo_without_geognn_says_how_to_run_it(tmp_path):
    result = subprocess.run(["bash", str(DEMO), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1 and "make install" in result.stderr
