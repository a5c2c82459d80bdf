"""Ranking metrics: identical to scikit-learn (ties included) and to textbook loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import (
    coverage_error as sk_coverage,
)
from sklearn.metrics import (
    label_ranking_average_precision_score as sk_lrap,
)
from sklearn.metrics import (
    label_ranking_loss as sk_rl,
)

from multilabel_ls.metrics import (
    average_precision,
    coverage_error,
    label_ranking_average_precision,
    label_ranking_loss,
    one_error,
)

from .conftest import call
from .reference import (
    coverage_textbook,
    lrap_textbook,
    one_error_textbook,
    ranking_loss_textbook,
)

PAIRS = [
    (label_ranking_average_precision, sk_lrap, lrap_textbook),
    (label_ranking_loss, sk_rl, ranking_loss_textbook),
    (coverage_error, sk_coverage, coverage_textbook),
]


@st.composite
def ranked(draw):
    n, l = draw(st.integers(1, 20)), draw(st.integers(2, 7))
    elements = draw(
        st.sampled_from(
            [
                st.floats(-50, 50, allow_nan=False),
                st.sampled_from([-1.0, 0.0, 0.5, 2.0]),  # heavy ties
                st.floats(-5, 5, width=32, allow_nan=False),
            ]
        )
    )
    S = draw(arrays(np.float64, (n, l), elements=elements))
    Y = draw(arrays(np.bool_, (n, l)))
    return Y, S


@settings(max_examples=100, deadline=None)
@given(data=ranked(), backend=st.sampled_from(["numpy", "torch"]))
def test_matches_sklearn_and_textbook(data, backend):
    Y, S = data
    for ours, sk, textbook in PAIRS:
        got = call(ours, Y, S, backend=backend)
        assert got == pytest.approx(sk(Y, S), abs=1e-12)
        assert got == pytest.approx(textbook(Y, S), abs=1e-12)
    for ties in ("pessimistic", "average"):
        got = call(one_error, Y, S, backend=backend, ties=ties)
        assert got == pytest.approx(one_error_textbook(Y, S, ties), abs=1e-12)


@pytest.mark.parametrize(
    ("y", "s", "lrap", "rl", "cov"),
    [
        ([[1, 0, 0]], [[0.5, 0.5, 0.5]], 1 / 3, 1.0, 3.0),  # all tied: pessimistic ranks
        ([[0, 0, 0]], [[0.1, 0.5, 0.2]], 1.0, 0.0, 0.0),  # no positive label
        ([[1, 1, 1]], [[0.1, 0.5, 0.2]], 1.0, 0.0, 3.0),  # all positive
        ([[1, 0]], [[0.0, 1.0]], 0.5, 1.0, 2.0),  # exact 0 and 1
    ],
)
def test_degenerate_rows(y, s, lrap, rl, cov, backend):
    y, s = np.array(y), np.array(s)
    assert call(label_ranking_average_precision, y, s, backend=backend) == pytest.approx(lrap)
    assert call(label_ranking_loss, y, s, backend=backend) == pytest.approx(rl)
    assert call(coverage_error, y, s, backend=backend) == pytest.approx(cov)
    assert (sk_lrap(y, s), sk_rl(y, s), sk_coverage(y, s)) == pytest.approx((lrap, rl, cov))


def test_one_error_conventions():
    y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 1, 0]])
    s = np.array([[0.9, 0.9, 0.1], [0.2, 0.8, 0.8], [0.5, 0.1, 0.2], [0.3, 0.3, 0.1]])
    # tie with a negative at the top: an error (pessimistic) or half an error (average);
    # a sample without positives always errs; a tie among positives only is fine
    assert one_error(y, s) == pytest.approx((1 + 1 + 1 + 0) / 4)
    assert one_error(y, s, ties="average") == pytest.approx((0.5 + 0.5 + 1 + 0) / 4)


def test_lrap_is_samples_ap_except_degenerate_rows():
    rng = np.random.default_rng(2)
    Y = rng.random((30, 6)) < 0.4
    Y[:, 0] = True  # every row has a positive ...
    Y[:, 1] = False  # ... and a negative
    S = np.round(rng.random((30, 6)), 1)
    assert label_ranking_average_precision(Y, S) == pytest.approx(
        average_precision(Y, S, average="samples"), abs=1e-12
    )


def test_logits_and_monotone_maps():
    rng = np.random.default_rng(4)
    Y = rng.random((25, 5)) < 0.4
    logits = rng.normal(scale=30, size=(25, 5))  # a float32 sigmoid would saturate most
    for ours, sk, _ in PAIRS:
        ref = sk(Y, logits)
        assert ours(Y, logits) == pytest.approx(ref, abs=1e-12)
        assert ours(Y, np.tanh(logits / 100)) == pytest.approx(ref, abs=1e-12)
        assert ours(torch.tensor(Y), torch.tensor(logits, dtype=torch.float32)) == pytest.approx(
            sk(Y, logits.astype(np.float32)), abs=1e-12
        )


def test_ignore_mask_drops_labels_per_sample(backend, tiny_chunks):
    rng = np.random.default_rng(8)
    Y = rng.random((30, 6)) < 0.4
    S = np.round(rng.random((30, 6)), 1)
    mask = rng.random((30, 6)) < 0.3
    mask[0] = True  # a sample with every label unknown is left out of the mean
    keep = [i for i in range(30) if not mask[i].all()]
    for ours, _, textbook in PAIRS:
        ref = np.mean([textbook(Y[i : i + 1, ~mask[i]], S[i : i + 1, ~mask[i]]) for i in keep])
        got = call(ours, Y, np.where(mask, np.nan, S), backend=backend, ignore_mask=mask)
        assert got == pytest.approx(ref, abs=1e-12)
    ref = np.mean(
        [one_error_textbook(Y[i : i + 1, ~mask[i]], S[i : i + 1, ~mask[i]]) for i in keep]
    )
    assert call(one_error, Y, S, backend=backend, ignore_mask=mask) == pytest.approx(ref)


def test_all_masked_is_nan_with_warning():
    from multilabel_ls.metrics import UndefinedMetricWarning

    with pytest.warns(UndefinedMetricWarning, match="masked"):
        got = label_ranking_loss([[1, 0]], [[0.2, 0.1]], ignore_mask=np.ones((1, 2), bool))
    assert np.isnan(got)


def test_torchmetrics_ranking_loss_breaks_ties_arbitrarily():
    # torchmetrics ranks with argsort().argsort(): ties are ordered arbitrarily, so with ties
    # its ranking loss depends on the labels' order; ours equals scikit-learn's.
    from torchmetrics.functional.classification import multilabel_ranking_loss

    rng = np.random.default_rng(0)
    Y = rng.random((200, 8)) < 0.4
    S = np.round(rng.random((200, 8)), 1)
    ours, ref = label_ranking_loss(Y, S), sk_rl(Y, S)
    assert ours == pytest.approx(ref, abs=1e-12)
    tm = float(multilabel_ranking_loss(torch.tensor(S), torch.tensor(Y).long(), num_labels=8))
    assert abs(tm - ref) > 1e-3
