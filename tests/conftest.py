"""Shared test configuration: the native build must be present when CI asks for it."""

import os
import tempfile

import pytest
import torch

# Tests never touch the user's real cache (~/.cache/geognn): each session gets its own.
os.environ["GEOGNN_CACHE"] = tempfile.mkdtemp(prefix="geognn-test-cache-")


def pytest_sessionstart(session):
    # The whole suite is run with 2 intra-op threads, the size of this machine.
    torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def float_dtype(request):
    """Runs a test once in float32 and once in float64."""
    return request.param
