"""Thresholded metrics: F1 and Hamming loss identical to scikit-learn on the predictions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import f1_score as sk_f1
from sklearn.metrics import hamming_loss as sk_hamming

from multilabel_ls.metrics import UndefinedMetricWarning, f1_score, hamming_loss

from .conftest import call, quiet

AVERAGES = [None, "micro", "macro", "weighted", "samples"]


@st.composite
def predictions(draw):
    n, l = draw(st.integers(1, 15)), draw(st.integers(2, 6))
    Y = draw(arrays(np.bool_, (n, l)))
    S = draw(arrays(np.float64, (n, l), elements=st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0])))
    return Y, S


@settings(max_examples=80, deadline=None)
@given(data=predictions(), backend=st.sampled_from(["numpy", "torch"]))
def test_matches_sklearn(data, backend):
    Y, S = data
    pred = S > 0.5  # strict: 0.5 itself is negative
    for average in AVERAGES:
        for zd in (0.0, 1.0, np.nan):
            got = call(f1_score, Y, S, backend=backend, average=average, zero_division=zd)
            ref = sk_f1(Y, pred, average=average, zero_division=zd)
            np.testing.assert_allclose(got, ref, atol=1e-12, rtol=0)
    assert call(hamming_loss, Y, S, backend=backend) == pytest.approx(sk_hamming(Y, pred))


def test_zero_division_warns_once_like_sklearn():
    Y = np.array([[1, 0, 0], [0, 1, 0]])
    S = np.array([[0.9, 0.1, 0.2], [0.2, 0.8, 0.1]])
    with pytest.warns(UndefinedMetricWarning, match="1 labels") as record:
        got = f1_score(Y, S, average="macro")
    assert len(record) == 1
    assert got == pytest.approx(quiet(sk_f1, Y, S > 0.5, average="macro"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f1_score(Y, S, average="macro", zero_division=np.nan) == 1.0


def test_threshold_is_strict_and_in_score_units():
    y = np.array([1, 0, 1, 0])
    logits = np.array([0.0, -2.0, 3.0, 1e-9])
    assert hamming_loss(y, logits, threshold=0.0) == pytest.approx(0.5)  # 0.0 -> negative
    assert f1_score(y, logits, threshold=0.0) == pytest.approx(sk_f1(y, logits > 0))
    assert f1_score(y, np.array([1, 0, 1, 0])) == 1.0  # 0/1 predictions with the default


def test_ignore_mask(backend):
    rng = np.random.default_rng(1)
    Y = rng.random((30, 4)) < 0.5
    S = rng.random((30, 4))
    mask = rng.random((30, 4)) < 0.25
    got = call(f1_score, Y, S, backend=backend, average=None, ignore_mask=mask, zero_division=0.0)
    ref = [sk_f1(Y[~mask[:, k], k], S[~mask[:, k], k] > 0.5, zero_division=0.0) for k in range(4)]
    np.testing.assert_allclose(got, ref)
    got = call(f1_score, Y, S, backend=backend, average="micro", ignore_mask=mask)
    assert got == pytest.approx(sk_f1(Y[~mask], S[~mask] > 0.5))
    got = call(hamming_loss, Y, S, backend=backend, ignore_mask=mask)
    assert got == pytest.approx(sk_hamming(Y[~mask], S[~mask] > 0.5))
