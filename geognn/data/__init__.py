"""Datasets: QM9 (from the qm9pack wheel), knowledge graphs, user files; splits and caching."""

from geognn.data.qm9_source import QM9Row, iter_qm9_rows, qm9_csv_paths

__all__ = ["QM9Row", "iter_qm9_rows", "qm9_csv_paths"]
