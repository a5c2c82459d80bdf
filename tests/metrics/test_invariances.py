"""Invariances run over every metric: sample order, label permutation, monotone maps of scores."""

from __future__ import annotations

import numpy as np
import pytest

from .registry import CASES, IDS
from .test_streaming import assert_same, make_data


@pytest.mark.parametrize(("name", "fn", "cls", "kw", "kind", "reference"), CASES, ids=IDS)
def test_sample_order_and_label_permutation(name, fn, cls, kw, kind, reference):
    y, s = make_data(kind, seed=9, n=60)
    rng = np.random.default_rng(0)
    ref = fn(y, s, **kw)
    rows, cols = rng.permutation(len(y)), rng.permutation(y.shape[1])
    assert_same(fn(y[rows], s[rows], **kw), ref)
    permuted = fn(y[:, cols], s[:, cols], **kw)
    per_label = isinstance(ref, np.ndarray)
    assert_same(permuted, ref[cols] if per_label else ref)


@pytest.mark.parametrize(("name", "fn", "cls", "kw", "kind", "reference"), CASES, ids=IDS)
def test_monotone_maps(name, fn, cls, kw, kind, reference):
    y, s = make_data(kind, seed=10, n=60)
    ref = fn(y, s, **kw)
    if kind == "rank":  # order-only metrics: logits, probabilities, any increasing map
        for f in (lambda x: np.log(x + 1e-3), lambda x: 5 * x - 2, np.exp):
            assert_same(fn(y, f(s), **kw), ref)
    elif kind in ("prob", "logit"):  # calibration depends on the values themselves
        moved = np.clip(s * 0.8 + 0.1, 0, 1) if kind == "prob" else s * 0.5
        assert np.any(np.abs(np.asarray(fn(y, moved, **kw)) - np.asarray(ref)) > 1e-6)


@pytest.mark.parametrize(("name", "fn", "cls", "kw", "kind", "reference"), CASES, ids=IDS)
def test_memory_layout(name, fn, cls, kw, kind, reference):
    # Fortran order, negative strides and strided views give the same values.
    y, s = make_data(kind, seed=11, n=60)
    ref = reference(y, s)
    wide_y, wide_s = np.repeat(y, 2, axis=1), np.repeat(s, 2, axis=1)
    layouts = [
        (np.asfortranarray(y), np.asfortranarray(s)),
        (np.flipud(y), np.flipud(s)),  # negative strides (sample order reversed)
        (wide_y[:, ::2], wide_s[:, ::2]),  # strided columns
    ]
    for yl, sl in layouts:
        assert_same(fn(yl, sl, **kw), ref)
