"""Binned AP: the exact AP of bin-quantised scores, and a certified interval around the exact AP."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import average_precision_score

from multilabel_ls.metrics import average_precision, binned_average_precision

from .conftest import call, quiet
from .reference import bin_of, edges_textbook


def quantised(p, n_bins):
    edges = edges_textbook(n_bins, p.dtype.type)
    return np.vectorize(lambda v: bin_of(float(v), edges, False))(p).astype(float)


@pytest.mark.parametrize("average", [None, "macro", "micro", "weighted"])
def test_is_sklearn_ap_of_the_bin_index(average, backend):
    rng = np.random.default_rng(0)
    p = rng.random((200, 4)).astype(np.float32)
    p[:5] = [0.0, 1.0, 0.5, 0.3]  # ends and exact edges
    y = rng.random((200, 4)) < p
    for n_bins in (1, 3, 10, 100):
        got = call(binned_average_precision, y, p, backend=backend, input_format="probs",
                   n_bins=n_bins, average=average)  # fmt: skip
        ref = average_precision_score(y, quantised(p, n_bins), average=average)
        np.testing.assert_allclose(got, ref, atol=1e-12, rtol=0)


def test_logits_are_binned_as_probabilities():
    rng = np.random.default_rng(1)
    z = rng.normal(scale=3, size=(100, 3))
    y = rng.random((100, 3)) < 0.3
    got = binned_average_precision(y, z, input_format="logits", n_bins=20)
    assert got == binned_average_precision(y, 1 / (1 + np.exp(-z)), input_format="probs", n_bins=20)


@settings(max_examples=100, deadline=None)
@given(
    p=arrays(np.float64, st.integers(2, 60), elements=st.sampled_from(
        [0.0, 0.05, 0.1, 0.12, 0.5, 0.51, 0.55, 0.9, 0.95, 1.0])) | arrays(
        np.float64, st.integers(2, 60), elements=st.floats(0, 1)),
    seed=st.integers(0, 2**16),
    n_bins=st.sampled_from([1, 2, 5, 20]),
)  # fmt: skip
def test_bounds_contain_the_exact_ap(p, seed, n_bins):
    y = np.random.default_rng(seed).random(p.size) < 0.5
    if not y.any():
        return
    value, lower, upper = binned_average_precision(y, p, input_format="probs", n_bins=n_bins,
                                                   return_bounds=True)  # fmt: skip
    exact = average_precision(y, p)
    assert lower - 1e-9 <= exact <= upper + 1e-9
    assert lower - 1e-9 <= value <= upper + 1e-9


def test_bounds_tighten_with_finer_bins():
    rng = np.random.default_rng(2)
    p = rng.random(5000)
    y = rng.random(5000) < p
    widths = []
    for n_bins in (10, 100, 1000, 100000):
        _, lo, hi = binned_average_precision(y, p, input_format="probs", n_bins=n_bins,
                                             return_bounds=True)  # fmt: skip
        widths.append(hi - lo)
    assert widths == sorted(widths, reverse=True) and widths[-1] < 1e-3
    assert abs(binned_average_precision(y, p, input_format="probs", n_bins=100000)
               - average_precision(y, p)) < 1e-3  # fmt: skip


def test_one_entry_per_bin_is_exact():
    p = np.array([0.05, 0.15, 0.25, 0.35, 0.95])
    y = np.array([0, 1, 0, 1, 1])
    value, lo, hi = binned_average_precision(y, p, input_format="probs", n_bins=10,
                                             return_bounds=True)  # fmt: skip
    exact = quiet(average_precision_score, y, p)
    assert (
        value == pytest.approx(exact) and lo == pytest.approx(exact) and hi == pytest.approx(exact)
    )
