"""Calibration metrics: both bin conventions against torchmetrics / scikit-learn, textbook loops, traps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import expit
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss
from sklearn.metrics import log_loss as sk_log_loss
from torchmetrics.functional.classification import binary_calibration_error

from multilabel_ls.metrics import (
    UndefinedMetricWarning,
    brier_score,
    calibration_error,
    log_loss,
    reliability_diagram,
)

from .conftest import call, quiet
from .reference import (
    bin_of,
    brier_textbook,
    ece_textbook,
    edges_textbook,
    log_loss_textbook,
    multiclass_reading_ece_textbook,
)

NORMS = ["l1", "l2", "max"]


def random_probs(rng, n, l, dtype=np.float64):
    p = rng.random((n, l)).astype(dtype)
    p[p >= dtype(0.999)] = dtype(0.5)  # torchmetrics gives p = 1 a bin of its own
    y = rng.random((n, l)) < p
    return y, p


def tm_ece(y, p, n_bins, norm):
    p, y = np.ascontiguousarray(p), np.ascontiguousarray(y)
    return float(binary_calibration_error(torch.as_tensor(p), torch.as_tensor(y).long(),
                                          n_bins=n_bins, norm=norm))  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm", NORMS)
def test_left_closed_matches_torchmetrics(dtype, norm, backend):
    rng = np.random.default_rng(0)
    for n_bins in (1, 7, 15):
        y, p = random_probs(rng, 300, 4, dtype)
        per_label = call(calibration_error, y, p, backend=backend, input_format="probs",
                         n_bins=n_bins, norm=norm, average=None)  # fmt: skip
        ref = [tm_ece(y[:, k], p[:, k], n_bins, norm) for k in range(4)]
        np.testing.assert_allclose(per_label, ref, atol=1e-6 if dtype == np.float32 else 1e-12)
        pooled = call(calibration_error, y, p, backend=backend, input_format="probs",
                      n_bins=n_bins, norm=norm, average="pooled")  # fmt: skip
        assert pooled == pytest.approx(tm_ece(y, p, n_bins, norm), abs=1e-6)
        classwise = call(calibration_error, y, p, backend=backend, input_format="probs",
                         n_bins=n_bins, norm=norm)  # fmt: skip
        assert classwise == pytest.approx(np.mean(per_label), abs=1e-15)


def test_probability_one_differs_from_torchmetrics_by_design():
    y, p = np.array([1, 0]), np.array([0.6, 1.0])
    assert calibration_error(y, p, input_format="probs", n_bins=2) == pytest.approx(0.3)
    assert tm_ece(y, p, 2, "l1") == pytest.approx(0.7)  # p = 1 alone in an extra bin
    assert ece_textbook(y, p, 2) == pytest.approx(0.3)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_right_closed_matches_sklearn_calibration_curve(strategy, backend):
    rng = np.random.default_rng(1)
    y, p = random_probs(rng, 400, 1)
    y, p = y[:, 0], p[:, 0]
    p[:8] = [0.0, 1.0, 0.25, 0.5, 0.75, 0.25, 0.5, 1.0]  # ends and edges exact in both
    for n_bins in (4, 10):
        prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
        d = call(reliability_diagram, y, p, backend=backend, input_format="probs",
                 n_bins=n_bins, binning=strategy, right_closed=True)  # fmt: skip
        full = d.count > 0
        np.testing.assert_allclose(d.frequency[full], prob_true, atol=1e-12)
        np.testing.assert_allclose(d.confidence[full], prob_pred, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("right_closed", [False, True])
def test_exact_edges_follow_the_documented_rule(dtype, right_closed):
    # Every edge i/M typed as a literal, plus 0 and 1, lands where the textbook rule says.
    for n_bins in (3, 10, 15):
        p = np.array([i / n_bins for i in range(n_bins + 1)], dtype=dtype)
        d = reliability_diagram(np.zeros(p.size), p, input_format="probs", n_bins=n_bins,
                                right_closed=right_closed)  # fmt: skip
        edges = edges_textbook(n_bins, dtype)
        expected = np.bincount([bin_of(float(v), edges, right_closed) for v in p], minlength=n_bins)
        np.testing.assert_array_equal(d.count, expected)
        if not right_closed:  # each edge starts its bin; 1 joins the last
            np.testing.assert_array_equal(d.count, [1] * (n_bins - 1) + [2])


def test_point_three_trap():
    # np.linspace(0, 1, 11)[3] == 0.30000000000000004, so linspace-based code puts 0.3 in
    # [0.2, 0.3); here 0.3 is the edge 3/10 and starts its bin, in float32 and float64 alike.
    assert np.linspace(0, 1, 11)[3] == 0.30000000000000004
    for dtype in (np.float32, np.float64):
        d = reliability_diagram([1], np.array([0.3], dtype), input_format="probs", n_bins=10)
        assert d.count[3] == 1
        d = reliability_diagram([1], np.array([0.3], dtype), input_format="probs", n_bins=10,
                                right_closed=True)  # fmt: skip
        assert d.count[2] == 1


@pytest.mark.parametrize("right_closed", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_textbook_loops(right_closed, dtype, backend):
    rng = np.random.default_rng(2)
    for _ in range(10):
        n = int(rng.integers(1, 60))
        p = np.round(rng.random(n), 1).astype(dtype)  # many exact edges, 0 and 1
        y = rng.random(n) < p
        for norm in NORMS:
            got = call(calibration_error, y, p, backend=backend, input_format="probs",
                       n_bins=10, norm=norm, right_closed=right_closed)  # fmt: skip
            assert got == pytest.approx(ece_textbook(y, p, 10, norm, right_closed), abs=1e-12)
        got = call(calibration_error, y, p, backend=backend, input_format="probs", n_bins=10,
                   norm="l2", debias=True, right_closed=right_closed)  # fmt: skip
        ref = ece_textbook(y, p, 10, "l2", right_closed, debias=True)
        assert got == pytest.approx(ref, abs=1e-12)


def test_debias_reduces_the_l2_error_of_a_calibrated_model():
    rng = np.random.default_rng(3)
    p = rng.random((2000, 1))
    y = rng.random((2000, 1)) < p  # perfectly calibrated: the true l2 error is 0
    plug_in = calibration_error(y, p, input_format="probs", norm="l2")
    debiased = calibration_error(y, p, input_format="probs", norm="l2", debias=True)
    assert debiased < plug_in / 2


def test_quantile_bins():
    rng = np.random.default_rng(4)
    y, p = random_probs(rng, 500, 3)
    got = calibration_error(y, p, input_format="probs", binning="quantile", n_bins=8, average=None)
    for k in range(3):
        edges = [0.0, *np.quantile(p[:, k], np.linspace(0, 1, 9))[1:-1], 1.0]
        assert got[k] == pytest.approx(ece_textbook(y[:, k], p[:, k], edges=edges), abs=1e-12)
    c = np.full(50, 0.3)  # constant scores: one bin holds everything
    yc = np.arange(50) % 5 == 0
    assert calibration_error(yc, c, input_format="probs", binning="quantile") == pytest.approx(0.1)


def test_pooled_and_classwise_definitions(backend):
    rng = np.random.default_rng(5)
    y, p = random_probs(rng, 200, 5)
    pooled = call(calibration_error, y, p, backend=backend, input_format="probs", average="pooled")
    assert pooled == pytest.approx(ece_textbook(y.ravel(), p.ravel(), 15), abs=1e-12)
    classwise = call(calibration_error, y, p, backend=backend, input_format="probs")
    ref = np.mean([ece_textbook(y[:, k], p[:, k], 15) for k in range(5)])
    assert classwise == pytest.approx(ref, abs=1e-12)


def test_multiclass_libraries_compute_something_else_on_multilabel_input():
    # netcal reads an (N, L) matrix as multiclass: one-hot labels, a top-label ECE of max_k p_ik.
    rng = np.random.default_rng(6)
    y, p = random_probs(rng, 300, 4)
    top = multiclass_reading_ece_textbook(y, p, 10)
    classwise = calibration_error(y, p, input_format="probs", n_bins=10)
    assert abs(top - classwise) > 0.01
    netcal = pytest.importorskip("netcal.metrics")
    assert netcal.ECE(bins=10).measure(p, y.astype(int)) == pytest.approx(top, abs=1e-6)


def test_logits_go_through_a_float64_sigmoid(backend):
    rng = np.random.default_rng(7)
    z = rng.normal(scale=4, size=(100, 3))
    z[0] = [40.0, -40.0, np.inf]
    y = rng.random((100, 3)) < expit(z)
    for norm in NORMS:
        got = call(calibration_error, y, z, backend=backend, input_format="logits", norm=norm)
        assert got == pytest.approx(calibration_error(y, expit(z), input_format="probs", norm=norm))


def test_brier_and_log_loss_match_sklearn_on_flattened_input(backend):
    rng = np.random.default_rng(8)
    y, p = random_probs(rng, 100, 4)
    p[0, 0], p[1, 1] = 0.0, 1.0
    ref_b = brier_score_loss(y.ravel(), p.ravel())
    assert call(brier_score, y, p, backend=backend, input_format="probs") == pytest.approx(ref_b, abs=1e-12)  # fmt: skip
    assert brier_textbook(y, p) == pytest.approx(ref_b)
    ref_l = sk_log_loss(y.ravel(), p.ravel())
    for average in ("pooled", "classwise"):
        got = call(log_loss, y, p, backend=backend, input_format="probs", average=average)
        assert got == pytest.approx(ref_l, abs=1e-12)
    assert log_loss_textbook(y, p) == pytest.approx(ref_l, abs=1e-12)
    per_label = call(log_loss, y, p, backend=backend, input_format="probs", average=None)
    np.testing.assert_allclose(per_label, [sk_log_loss(y[:, k], p[:, k], labels=[0, 1]) for k in range(4)])  # fmt: skip


def test_sklearn_two_dimensional_traps():
    rng = np.random.default_rng(9)
    y, p = random_probs(rng, 60, 4)
    ours_b = brier_score(y, p, input_format="probs")
    assert quiet(brier_score_loss, y, p) == pytest.approx(4 * ours_b)  # L times the real Brier
    ours_l = log_loss(y, p, input_format="probs")
    only_positives = -np.sum(y * np.log(p)) / len(y)
    assert quiet(sk_log_loss, y, p) == pytest.approx(only_positives)  # negatives ignored
    assert ours_l == pytest.approx(log_loss_textbook(y, p))
    assert abs(ours_l - only_positives) > 0.05


def test_log_loss_with_logits_is_exact_and_capped_like_probabilities(backend):
    z = np.array([2.0, -1.0, 800.0, -800.0, 40.0])
    y = np.array([1, 0, 0, 0, 1])
    got = call(log_loss, y, z, backend=backend, input_format="logits", average=None)
    ref = [np.log1p(np.exp(-2.0)), np.log1p(np.exp(-1.0)), -np.log(np.finfo(float).eps),
           -np.log1p(-np.finfo(float).eps), -np.log1p(-np.finfo(float).eps)]  # fmt: skip
    assert got == pytest.approx(np.mean(ref), rel=1e-12)
    assert log_loss([1, 0], [0.0, 0.0], input_format="probs") == pytest.approx(
        sk_log_loss([1, 0], [0.0, 0.0], labels=[0, 1])
    )


def test_empty_bins_and_fully_masked_labels():
    y, p = np.array([1, 0, 1]), np.array([0.05, 0.06, 0.95])
    assert calibration_error(y, p, input_format="probs", n_bins=100, norm="max") == pytest.approx(0.95)  # fmt: skip
    Y, P = np.array([[1, 0], [0, 1]]), np.array([[0.7, 0.2], [0.4, 0.9]])
    mask = np.array([[False, True], [False, True]])
    with pytest.warns(UndefinedMetricWarning, match="1 labels have no unmasked entry"):
        got = calibration_error(Y, P, input_format="probs", ignore_mask=mask)
    assert got == pytest.approx(ece_textbook(Y[:, 0], P[:, 0], 15))
    per = calibration_error(Y, P, input_format="probs", ignore_mask=mask, average=None)
    assert np.isnan(per[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("right_closed", [False, True])
def test_fast_uniform_binning_agrees_with_the_rule_next_to_every_edge(dtype, right_closed):
    from multilabel_ls.metrics._bins import uniform_bin_index

    rng = np.random.default_rng(10)
    for n_bins in (1, 2, 3, 7, 10, 15, 997, 1000):
        edges = edges_textbook(n_bins, dtype)
        e = np.array(edges, dtype=dtype)
        p = np.concatenate([e, np.nextafter(e, dtype(0)), np.nextafter(e, dtype(1)),
                            rng.random(300).astype(dtype)])  # fmt: skip
        p = np.clip(p, 0, 1)
        got = uniform_bin_index(p.reshape(-1, 1), n_bins, right_closed).ravel()
        expected = [bin_of(float(v), edges, right_closed) for v in p]
        np.testing.assert_array_equal(got, expected)
