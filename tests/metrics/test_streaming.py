"""Streaming classes: one pass, k batches and merged objects all equal the independent reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from multilabel_ls import metrics as M
from multilabel_ls.metrics import _inputs

from .registry import CASES, IDS


def make_data(kind, seed=0, n=90, l=5):
    rng = np.random.default_rng(seed)
    p = np.round(rng.random((n, l)), 2)  # ties
    y = rng.random((n, l)) < p
    y[:, 0], y[:, 1] = True, False  # every sample has a positive and a negative ...
    y[1, 0], y[0, 1], y[1, 2] = False, True, True  # ... and so has every label
    s = np.log(p + 0.01) - np.log1p(0.01 - p) if kind == "logit" else p
    return y, s


def assert_same(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=1e-12)


def split_points(n, rng, k):
    return np.sort(rng.choice(np.arange(1, n), size=k - 1, replace=False))


@pytest.mark.parametrize(("name", "fn", "cls", "kw", "kind", "reference"), CASES, ids=IDS)
def test_batches_and_merges_equal_one_pass(name, fn, cls, kw, kind, reference):
    y, s = make_data(kind)
    ref = reference(y, s)
    assert_same(fn(y, s, **kw), ref)
    one = cls(**kw)
    one.update(y, s)
    assert_same(one.compute(), ref)
    rng = np.random.default_rng(1)
    for k in (2, 7):
        cuts = split_points(len(y), rng, k)
        m = cls(**kw)
        for yb, sb in zip(np.split(y, cuts), np.split(s, cuts), strict=True):
            m.update(yb, sb)
        assert_same(m.compute(), ref)
        parts = []
        for yb, sb in zip(np.split(y, cuts), np.split(s, cuts), strict=True):
            part = cls(**kw)
            part.update(torch.as_tensor(yb), torch.as_tensor(sb))  # tensors or arrays alike
            parts.append(part)
        merged = parts[0]
        for part in parts[1:]:
            merged.merge(part)
        assert_same(merged.compute(), ref)
    one.reset()
    with pytest.raises(RuntimeError, match="before any update"):
        one.compute()
    one.update(y[:30], s[:30])
    assert_same(one.compute(), reference(y[:30], s[:30]))


@pytest.mark.parametrize(("name", "fn", "cls", "kw", "kind", "reference"), CASES, ids=IDS)
def test_torch_path_streaming(name, fn, cls, kw, kind, reference):
    y, s = make_data(kind, seed=3, n=40)
    ref = reference(y, s)
    with _inputs.force_torch_backend():
        m = cls(**kw)
        for yb, sb in zip(np.array_split(y, 3), np.array_split(s, 3), strict=True):
            m.update(torch.as_tensor(yb), torch.as_tensor(sb))
        assert_same(m.compute(), ref)


def test_ignore_mask_in_streaming():
    y, s = make_data("prob", seed=4)
    mask = np.random.default_rng(4).random(y.shape) < 0.2
    for cls, fn, kw in [
        (M.AveragePrecision, M.average_precision, {"average": None}),
        (M.CalibrationError, M.calibration_error, {"input_format": "probs"}),
        (M.F1Score, M.f1_score, {"average": "samples", "zero_division": 1.0}),
        (M.LabelRankingLoss, M.label_ranking_loss, {}),
    ]:
        m = cls(**kw)
        m.update(y[:50], s[:50], ignore_mask=mask[:50])
        m.update(y[50:], s[50:])
        m.update(y[:1], s[:1], ignore_mask=np.ones((1, y.shape[1]), bool))  # all unknown
        full_mask = mask.copy()
        full_mask[50:] = False
        y2, s2 = np.vstack([y, y[:1]]), np.vstack([s, s[:1]])
        mask2 = np.vstack([full_mask, np.ones((1, y.shape[1]), bool)])
        assert_same(m.compute(), fn(y2, s2, ignore_mask=mask2, **kw))


def test_exact_ap_keeps_copies_of_the_inputs():
    y, s = make_data("prob")
    m = M.AveragePrecision()
    t = torch.tensor(s)
    m.update(y, t)
    t.zero_()  # a caller reusing its buffer must not change the stored scores
    y[:] = False
    assert_same(m.compute(), M.average_precision(*make_data("prob")))


def test_binned_ap_bounds_contain_the_exact_value():
    y, s = make_data("prob", seed=5, n=300)
    m = M.AveragePrecision(n_bins=10, input_format="probs", average=None)
    m.update(y[:100], s[:100])
    m.update(y[100:], s[100:])
    lower, upper = m.bounds()
    exact = M.average_precision(y, s, average=None)
    assert np.all(lower <= exact + 1e-12) and np.all(exact <= upper + 1e-12)
    with pytest.raises(ValueError, match="binned mode"):
        M.AveragePrecision().bounds()


def test_shape_and_configuration_checks():
    y, s = make_data("prob")
    m = M.CalibrationError(input_format="probs")
    m.update(y, s)
    with pytest.raises(ValueError, match="updated with 5 labels"):
        m.update(y[:, :3], s[:, :3])
    with pytest.raises(TypeError, match="same class and configuration"):
        m.merge(M.CalibrationError(input_format="probs", n_bins=7))
    with pytest.raises(ValueError, match="input_format"):
        M.CalibrationError(input_format="guess")
    with pytest.raises(ValueError, match="average"):
        M.AveragePrecision(n_bins=5, input_format="probs", average="samples")
    assert "n_bins=15" in repr(m)


def test_reliability_diagram_of_streamed_data():
    y, s = make_data("prob", n=200)
    m = M.CalibrationError(input_format="probs", n_bins=10)
    m.update(y[:120], s[:120])
    m.update(y[120:], s[120:])
    for label in (None, 2, -1):
        got = m.reliability_diagram(label)
        ref = M.reliability_diagram(y, s, input_format="probs", n_bins=10, label=label)
        np.testing.assert_array_equal(got.count, ref.count)
        np.testing.assert_allclose(got.confidence, ref.confidence, atol=1e-12)
        np.testing.assert_allclose(got.frequency, ref.frequency, atol=1e-12)
        np.testing.assert_allclose(got.edges, ref.edges)


def test_calibration_state_does_not_grow_with_the_data():
    m = M.CalibrationError(input_format="probs", n_bins=15)
    rng = np.random.default_rng(0)
    for _ in range(5):
        p = rng.random((1000, 7))
        m.update(rng.random((1000, 7)) < p, p)
    assert {k: v.shape for k, v in m._sums.items()} == {k: (7, 15) for k in m._sums}


def test_logits_inside_unit_interval_stay_logits():
    # torchmetrics decides per batch whether scores are logits (any value outside [0, 1]);
    # a batch of logits that happen to lie in [0, 1] is then read as probabilities.
    from torchmetrics.classification import BinaryCalibrationError

    from .reference import ece_textbook

    z1, y1 = np.array([0.2, 0.9, 0.5, 0.1]), np.array([1, 1, 0, 1])
    z2, y2 = np.array([-3.0, 2.5, 4.0, -1.0]), np.array([0, 1, 1, 0])
    z, y = np.concatenate([z1, z2]), np.concatenate([y1, y2])
    ref = ece_textbook(y, 1 / (1 + np.exp(-z)), 15)
    m = M.CalibrationError(input_format="logits")
    m.update(y1, z1)
    m.update(y2, z2)
    assert m.compute() == pytest.approx(ref, abs=1e-12)
    tm = BinaryCalibrationError(n_bins=15)
    tm.update(torch.tensor(z1), torch.tensor(y1))
    tm.update(torch.tensor(z2), torch.tensor(y2))
    assert abs(float(tm.compute()) - ref) > 0.05
