"""The raw qm9pack reader: malformed rows are reported with file and line."""

import pytest

from geognn.data import qm9_source
from geognn.data.qm9 import QM9


@pytest.fixture
def first_rows(tmp_path):
    """Header and the first four molecules of the real qm9_part1.csv."""
    with open(qm9_source.qm9_csv_paths()[0]) as handle:
        lines = [next(handle) for _ in range(5)]
    return lines


def _use_files(monkeypatch, paths):
    monkeypatch.setattr(qm9_source, "qm9_csv_paths", lambda: paths)


def test_reader_yields_rows_in_qm9_order(first_rows, tmp_path, monkeypatch):
    path = tmp_path / "qm9_part1.csv"
    path.write_text("".join(first_rows))
    _use_files(monkeypatch, [path])
    rows = list(qm9_source.iter_qm9_rows())
    assert [r.index for r in rows] == [1, 2, 3, 4]
    assert [r.smiles for r in rows] == ["C", "N", "O", "C#C"]
    assert rows[0].properties["InternalEnergy_0K_au"] == -40.47893


def test_unparsable_property_names_the_file_line_and_column(first_rows, tmp_path, monkeypatch):
    first_rows[3] = first_rows[3].replace("-76.404702", "-76.40x4702")
    path = tmp_path / "qm9_part1.csv"
    path.write_text("".join(first_rows))
    _use_files(monkeypatch, [path])
    with pytest.raises(ValueError, match=r"qm9_part1\.csv:4: column InternalEnergy_0K_au holds '-76\.40x4702'"):
        list(qm9_source.iter_qm9_rows())


def test_wrong_number_of_coordinates_names_the_file_line(first_rows, tmp_path, monkeypatch):
    first_rows[2] = first_rows[2].replace("[-0.0404260543,1.0241077531,0.0625637998],", "", 1)
    path = tmp_path / "qm9_part1.csv"
    path.write_text("".join(first_rows))
    _use_files(monkeypatch, [path])
    with pytest.raises(ValueError, match=r"qm9_part1\.csv:3: 9 coordinate values for 4 atoms"):
        QM9("U0", root=tmp_path / "cache", progress=False)
