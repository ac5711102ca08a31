"""`geognn predict` with the shipped QM9 models: the checks the SchNet and Cormorant zoo tests share."""

import csv
import io
from contextlib import redirect_stdout

import pytest
import torch
from torch_geometric.data import Batch

from geognn import zoo
from geognn.cli.main import main as cli_main


def predict_rows(checkpoint, input_path):
    """``geognn predict --checkpoint CHECKPOINT --input FILE --no-progress``: its CSV rows, as dicts."""
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli_main(["predict", "--checkpoint", checkpoint, "--input", str(input_path), "--no-progress"]) == 0
    return list(csv.DictReader(io.StringIO(out.getvalue())))


# Two small molecules by SMILES and their QM9 labels (QM9 indices 13 and 17): U0 atomization energy and gap, eV.
QM9_LABELS_BY_SMILES = {"ethanol": ("CCO", -33.007, 9.298), "acetone": ("CC(C)=O", -40.322, 6.378)}


def check_smiles_predictions(name, tmp_path, gap_abs):
    """`geognn predict zoo:NAME` on ethanol and acetone from SMILES lands near their QM9 labels.

    The prediction is for an RDKit conformer, not QM9's B3LYP geometry, and such small molecules are rare in
    QM9 (see the cards' caveats): a loose check that the numbers are the right physics; U0 within 0.25 eV,
    the gap within ``gap_abs`` eV (the weaker target of both QM9 models).
    """
    smi = tmp_path / "m.smi"
    smi.write_text("".join(f"{smiles} {label}\n" for label, (smiles, _, _) in QM9_LABELS_BY_SMILES.items()))
    rows = predict_rows(f"zoo:{name}", smi)
    assert [r["id"] for r in rows] == list(QM9_LABELS_BY_SMILES)
    for row, (_, u0, gap) in zip(rows, QM9_LABELS_BY_SMILES.values()):
        assert float(row["U0 (eV)"]) == pytest.approx(u0, abs=0.25)
        assert float(row["gap (eV)"]) == pytest.approx(gap, abs=gap_abs)


def check_xyz_prediction_equals_the_model(name, tmp_path, data):
    """`geognn predict zoo:NAME` on DATA written as .xyz gives the Python model's U0 and gap to 1e-4 eV."""
    import ase.io

    ase.io.write(tmp_path / "m.xyz", ase.Atoms(numbers=data.z.numpy(), positions=data.pos.double().numpy()))
    row = predict_rows(f"zoo:{name}", tmp_path / "m.xyz")[0]
    with torch.no_grad():
        expected = zoo.load(name)(Batch.from_data_list([data]))["y"][0]
    assert float(row["U0 (eV)"]) == pytest.approx(float(expected[0]), abs=1e-4)
    assert float(row["gap (eV)"]) == pytest.approx(float(expected[1]), abs=1e-4)
