"""Score conventions, the single evaluation entry point, and its rare-label metrics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, log_softmax, softmax

from multilabel_ls import metrics as M
from multilabel_ls.experiments.evaluate import (
    METRICS,
    RARE_METRICS,
    RARE_THRESHOLD,
    evaluate,
    rare_labels,
)
from multilabel_ls.experiments.scores import presence_probabilities, ranking_scores
from multilabel_ls.experiments.training import run_one


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y = (rng.random((200, 7)) < 0.3).astype(np.uint8)
    y[:, 0] = 0
    y[:5, 0] = 1  # a rare label
    x = rng.normal(size=(200, 7)) + 1.5 * y
    return y, x


def test_sigmoid_uses_logits_and_sigmoid(data):
    y, x = data
    r = evaluate(y, x, "sigmoid")
    assert list(r) == list(METRICS)
    assert r["map_macro"] == M.average_precision(y, x, average="macro")
    assert r["ece_classwise"] == pytest.approx(
        M.calibration_error(y, expit(x), input_format="probs", n_bins=15), abs=1e-12
    )
    assert r["f1_micro"] == M.f1_score(y, expit(x), threshold=0.5, average="micro")


def test_softmax_ranks_by_log_softmax_so_row_shifts_do_not_matter(data):
    y, x = data
    shift = np.random.default_rng(1).normal(scale=5, size=(200, 1))
    rates = y.mean(axis=0)  # label 0 is rare: the rare-label metrics are shift-invariant too
    a, b = (
        evaluate(y, x, "softmax", cardinality=2.1, train_rates=rates),
        evaluate(y, x + shift, "softmax", cardinality=2.1, train_rates=rates),
    )
    assert np.isfinite(a["citl_rare"])
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-9), k
    assert a["map_macro"] == pytest.approx(
        M.average_precision(y, log_softmax(x, axis=1)), abs=1e-12
    )
    # raw logits would give another (wrong) per-label ranking once rows are shifted
    assert M.average_precision(y, x + shift) != pytest.approx(a["map_macro"], abs=1e-3)


def test_presence_probabilities():
    x = np.array([[3.0, 0.0, -3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(presence_probabilities(x, "sigmoid"), expit(x))
    p = presence_probabilities(x, "softmax", cardinality=2.0)
    np.testing.assert_allclose(p, np.clip(2 * softmax(x, axis=1), 0, 1))
    assert p.max() == 1.0 and p[1, 0] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="cardinality"):
        presence_probabilities(x, "softmax")
    with pytest.raises(ValueError, match="family"):
        ranking_scores(x, "tanh")
    with pytest.raises(ValueError, match="2-D"):
        ranking_scores(x[0], "sigmoid")


def test_rare_labels_are_strictly_below_the_training_threshold():
    assert rare_labels([0.3, 0.01, 0.05, 0.0, 0.049]).tolist() == [1, 3, 4]
    assert rare_labels([0.3, 0.2], threshold=0.25).tolist() == [1]
    assert rare_labels([0.3, 0.2]).tolist() == []
    for bad in ([[0.1, 0.2]], [0.1, np.nan], [0.1, 1.2], [-0.1]):
        with pytest.raises(ValueError, match="train_rates"):
            rare_labels(bad)
    with pytest.raises(ValueError, match="threshold"):
        rare_labels([0.1], threshold=0.0)


def test_rare_metrics_are_the_metrics_on_the_rare_columns(data):
    y, x = data
    y = y.copy()
    y[:, 3] = 0  # a rare label without test positives: no AP, but a defined calibration
    rates = np.array([0.01, 0.3, 0.3, 0.02, 0.3, 0.049, 0.05])  # training rates: 0, 3, 5 rare
    r = evaluate(y, x, "sigmoid", train_rates=rates)
    assert list(r) == list(METRICS)
    idx = [0, 3, 5]
    yr, pr = y[:, idx], expit(x[:, idx])
    # AP: label 3 has no test positive and is left out of the mean
    assert r["map_macro_rare"] == pytest.approx(M.average_precision(y[:, [0, 5]], x[:, [0, 5]]))
    assert r["ece_classwise_rare"] == pytest.approx(
        np.mean(M.calibration_error(yr, pr, input_format="probs", average=None)), abs=1e-12
    )
    brier = np.mean((pr - yr) ** 2, axis=0).mean()
    assert r["brier_rare"] == pytest.approx(brier, rel=1e-12)
    citl = pr.mean(axis=0) - yr.mean(axis=0)  # per label: mean prediction - test rate
    assert r["citl_rare"] == pytest.approx(citl.mean(), rel=1e-12)
    assert r["citl_abs_rare"] == pytest.approx(np.abs(citl).mean(), rel=1e-12)
    assert abs(r["citl_rare"]) <= r["citl_abs_rare"] <= r["ece_classwise_rare"] + 1e-12
    # only the rare columns matter: the others can change freely
    x2 = x.copy()
    x2[:, [1, 2, 4, 6]] += 3.0
    r2 = evaluate(y, x2, "sigmoid", train_rates=rates)
    for k in RARE_METRICS:
        assert r2[k] == pytest.approx(r[k], abs=1e-12), k
    assert r2["ece_classwise"] != pytest.approx(r["ece_classwise"])


def test_rare_metrics_sign_and_softmax_proxy():
    y = np.zeros((100, 3), dtype=np.uint8)
    y[:2, 0] = 1  # test rate 0.02
    y[:, 1:] = 1
    x = np.zeros((100, 3))
    x[:, 0] = np.log(0.1 / 0.9)  # predicts 0.1 on every row: over-predicted by 0.08
    r = evaluate(y, x, "sigmoid", train_rates=[0.01, 0.9, 0.9])
    assert r["citl_rare"] == pytest.approx(0.08) and r["citl_abs_rare"] == pytest.approx(0.08)
    x[:, 0] = np.log(0.01 / 0.99)  # under-predicted by 0.01
    assert evaluate(y, x, "sigmoid", train_rates=[0.01, 0.9, 0.9])["citl_rare"] == pytest.approx(
        -0.01
    )
    s = evaluate(y, x, "softmax", cardinality=2.0, train_rates=[0.01, 0.9, 0.9])
    p = np.clip(2.0 * softmax(x, axis=1), 0, 1)[:, 0]
    assert s["citl_rare"] == pytest.approx(p.mean() - 0.02)


def test_rare_metrics_undefined_without_rates_or_rare_labels(data):
    y, x = data
    r = evaluate(y, x, "sigmoid")
    assert all(np.isnan(r[k]) for k in RARE_METRICS)
    assert np.isfinite(r["map_macro"])
    r = evaluate(y, x, "sigmoid", train_rates=np.full(7, 0.3))
    assert all(np.isnan(r[k]) for k in RARE_METRICS)
    with pytest.raises(ValueError, match="one rate per label"):
        evaluate(y, x, "sigmoid", train_rates=np.full(6, 0.01))


def test_run_records_the_rare_set_from_the_training_split():
    from multilabel_ls.data import load_yeast

    from .conftest import tiny_config

    spec = tiny_config(strategies=("prior",), epsilons=(0.1,), seeds=(0,)).expand()[0]
    r = run_one(spec)
    ds = load_yeast()
    rates = ds.Y_train.mean(axis=0)
    rare = r["data"]["rare"]
    assert rare["labels"] == np.flatnonzero(rates < 0.05).tolist() == [13]  # yeast: Class14
    assert rare["n"] == 1 and rare["names"] == [ds.label_names[13]]
    assert rare["train_rates"] == pytest.approx(rates[[13]].tolist())
    assert rare["threshold"] == RARE_THRESHOLD and rare["n_with_test_positives"] == 1
    ref = evaluate(ds.Y_test, r["test_logits"], "sigmoid", train_rates=rates)
    for k in RARE_METRICS:
        assert r["metrics"][k] == pytest.approx(ref[k], abs=1e-6), k
