"""Fixtures for the metric tests: run a metric through the NumPy or the torch (CUDA) code path."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest
import torch

from multilabel_ls.metrics import _inputs, _sorted_stats

matplotlib.use("Agg")


def call(fn, *arrays, backend="numpy", **kwargs):
    """Call ``fn`` on NumPy arrays, or on CPU tensors forced through the torch kernels."""
    if backend == "numpy":
        return fn(*arrays, **kwargs)
    tensors = [None if a is None else torch.as_tensor(np.asarray(a)) for a in arrays]
    if "ignore_mask" in kwargs and kwargs["ignore_mask"] is not None:
        kwargs = {**kwargs, "ignore_mask": torch.as_tensor(np.asarray(kwargs["ignore_mask"]))}
    with _inputs.force_torch_backend():
        return fn(*tensors, **kwargs)


@pytest.fixture(params=["numpy", "torch"])
def backend(request):
    return request.param


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Force many chunks, blocks and threads on small inputs (exercises the chunk seams)."""
    monkeypatch.setattr(_sorted_stats, "_CHUNK_ELEMENTS", 7)
    monkeypatch.setattr(_sorted_stats, "_TRANSPOSE_BLOCK", 3)
    monkeypatch.setattr(_sorted_stats, "_PARALLEL_MIN_ELEMENTS", 0)
    monkeypatch.setattr(_sorted_stats, "_TORCH_CHUNK_ELEMENTS", 5)


def quiet(fn, *args, **kwargs):
    """Call ``fn`` with warnings silenced (for references that warn on degenerate input)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)
