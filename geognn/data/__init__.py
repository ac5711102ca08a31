"""Datasets: QM9 (from the qm9pack wheel), knowledge graphs, user files; splits and caching."""

from geognn.data.atomic_io import atomic_write_bytes, atomic_write_text, default_cache_dir
from geognn.data.kg import BUNDLED_KG, KGDataset, read_triples
from geognn.data.kg_index import TailIndex
from geognn.data.molecule_dataset import MoleculeDataset
from geognn.data.packed import PackedMolecules
from geognn.data.qm9 import QM9, process_qm9
from geognn.data.qm9_source import QM9Row, iter_qm9_rows, qm9_csv_paths
from geognn.data.qm9_targets import HARTREE_TO_EV, QM9_TARGET_NAMES, QM9_TARGETS, qm9_atomref
from geognn.data.splits import (
    Split,
    load_split,
    murcko_scaffold,
    random_split,
    save_split,
    scaffold_split,
    split_info,
)
from geognn.data.xtb_md17 import XTB_MD17_MOLECULES, XTBMD17, xtb_md17_dir

__all__ = [
    "BUNDLED_KG",
    "HARTREE_TO_EV",
    "KGDataset",
    "MoleculeDataset",
    "PackedMolecules",
    "QM9",
    "QM9Row",
    "QM9_TARGETS",
    "QM9_TARGET_NAMES",
    "Split",
    "TailIndex",
    "XTBMD17",
    "XTB_MD17_MOLECULES",
    "atomic_write_bytes",
    "atomic_write_text",
    "default_cache_dir",
    "iter_qm9_rows",
    "load_split",
    "murcko_scaffold",
    "process_qm9",
    "qm9_atomref",
    "qm9_csv_paths",
    "random_split",
    "read_triples",
    "save_split",
    "scaffold_split",
    "split_info",
    "xtb_md17_dir",
]
