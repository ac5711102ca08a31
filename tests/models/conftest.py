"""Small real QM9 molecules for the model tests."""

import pytest
import torch
from torch_geometric.data import Data


@pytest.fixture(scope="session")
def qm9_molecules():
    """Five real QM9 molecules (Data with z, pos in float64 Å), 3-9 heavy atoms."""
    from geognn.data import iter_qm9_rows

    out = []
    for row in iter_qm9_rows(40):
        if 6 <= len(row.z) <= 20:
            out.append(Data(z=torch.as_tensor(row.z), pos=torch.as_tensor(row.pos, dtype=torch.float64)))
        if len(out) == 5:
            break
    return out
