"""Shared fixtures: few threads, and the course's notebooks."""

from __future__ import annotations

import pytest
import torch

from helpers.config import course_notebooks

torch.set_num_threads(1)


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a CUDA device; skipped without one "
                            "(benchmarks/gpu_check.sh runs them: pytest -m cuda)")

NOTEBOOKS = course_notebooks()


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def notebook_path(request):
    """Each notebook of the course in turn."""
    return request.param
