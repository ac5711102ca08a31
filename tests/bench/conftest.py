"""A small results object built by hand: what the report and the docs render in these tests."""

import pytest

from geognn.bench.records import Record, attach_ratios
from geognn.bench.results import FORMAT


def make_results(records, started="2026-12-01T10:00:00Z", peers=None, suites=None):
    attach_ratios(records)
    return {
        "format": FORMAT, "source": "geognn bench", "command": "geognn bench --suite kernels", "started": started,
        "finished": started, "wall_s": 12.0,
        "machine": {"cpu_model": "Test CPU", "cores": 2, "memory_gib": 8.0, "gpus": [], "load_before": [0.5, 0, 0],
                    "load_after": [0.7, 0, 0]},
        "versions": {"python": "3.11", "geognn": "0.2.0", "torch": "2.13.0"}, "git": {"commit": "abc", "dirty": False},
        "peers": peers or {"torch": {"label": "PyTorch", "suites": "kernels", "status": "installed", "version": "2"},
                           "torch_scatter": {"label": "torch-scatter", "suites": "kernels", "status": "absent",
                                             "install": "pip install torch-scatter"}},
        "suites": suites or [{"name": "kernels", "status": "ok", "commands": ["python benchmarks/kernels.py"]}],
        "notes": [], "records": [r.to_dict() for r in records],
    }


def kernel_records(scale=1.0, headline=True):
    """message_sum at three sizes (time ~ edges), geognn leading; scatter_max where geognn trails."""
    out = []
    for edges in (1000, 2000, 4000):
        common = dict(suite="kernels", what="message_sum fwd+bwd, random index", size=edges, size_unit="edges")
        out.append(Record(impl="geognn", library="geognn", median=scale * edges * 1e-6, min=scale * edges * 0.9e-6,
                          max=scale * edges * 1.2e-6, repeats=3, primary=True, headline=headline and edges == 4000,
                          **common))
        out.append(Record(impl="unfused + index_add", library="torch", median=edges * 3e-6, repeats=3, **common))
    common = dict(suite="kernels", what="scatter_max fwd+bwd, random index", size=4000, size_unit="edges")
    out.append(Record(impl="geognn", library="geognn", median=2e-3, primary=True, headline=headline, **common))
    out.append(Record(impl="scatter_reduce", library="torch", median=1e-3, **common))
    return out


@pytest.fixture
def results():
    return make_results(kernel_records())
