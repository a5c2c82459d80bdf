"""Score conventions and the single evaluation entry point."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, log_softmax, softmax

from multilabel_ls import metrics as M
from multilabel_ls.experiments.evaluate import METRICS, evaluate
from multilabel_ls.experiments.scores import presence_probabilities, ranking_scores


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
    a, b = (
        evaluate(y, x, "softmax", cardinality=2.1),
        evaluate(y, x + shift, "softmax", cardinality=2.1),
    )
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
