"""CUDA tensors: every metric runs on the device and agrees with the reference (GPU runners only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .registry import CASES, IDS
from .test_streaming import assert_same, make_data

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize(("name", "fn", "cls", "kw", "kind", "reference"), CASES, ids=IDS)
def test_function_and_class_on_cuda(name, fn, cls, kw, kind, reference):
    y, s = make_data(kind, seed=12, n=300)
    ref = reference(y, s)
    yc, sc = torch.as_tensor(y, device="cuda"), torch.as_tensor(s, device="cuda")
    assert_same(fn(yc, sc, **kw), ref)
    if kind in ("rank", "thr"):  # float32 scores (calibration references clip per dtype)
        assert_same(fn(yc, sc.float(), **kw), reference(y, s.astype(np.float32)))
    m = cls(**kw)
    for yb, sb in zip(yc.split(77), sc.split(77), strict=True):
        m.update(yb, sb)
    assert_same(m.compute(), ref)


def test_large_cuda_average_precision_stays_on_device():
    from sklearn.metrics import average_precision_score

    from multilabel_ls.metrics import average_precision

    rng = np.random.default_rng(0)
    s = np.round(rng.random((20000, 64), dtype=np.float32), 3)
    y = rng.random((20000, 64)) < 0.05
    torch.cuda.reset_peak_memory_stats()
    sc = torch.as_tensor(s, device="cuda")
    yc = torch.as_tensor(y, device="cuda")
    base = torch.cuda.memory_allocated()
    got = average_precision(yc, sc, average=None)
    assert np.abs(got - average_precision_score(y, s, average=None)).max() < 1e-12
    assert torch.cuda.max_memory_allocated() - base < 3 * sc.nbytes + (64 << 20)
