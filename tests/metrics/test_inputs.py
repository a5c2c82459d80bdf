"""Bad input gives a clear error naming the argument and the offending value; junk under the mask is ignored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from multilabel_ls import metrics as M

Y = np.array([[1, 0], [0, 1], [1, 1]])
P = np.array([[0.8, 0.1], [0.3, 0.6], [0.9, 0.4]])

# every public function, with the keywords it needs
FUNCS = {
    "average_precision": (M.average_precision, {}),
    "binned_average_precision": (M.binned_average_precision, {"input_format": "probs"}),
    "lrap": (M.label_ranking_average_precision, {}),
    "ranking_loss": (M.label_ranking_loss, {}),
    "coverage_error": (M.coverage_error, {}),
    "one_error": (M.one_error, {}),
    "f1_score": (M.f1_score, {}),
    "hamming_loss": (M.hamming_loss, {}),
    "calibration_error": (M.calibration_error, {"input_format": "probs"}),
    "brier_score": (M.brier_score, {"input_format": "probs"}),
    "log_loss": (M.log_loss, {"input_format": "probs"}),
    "reliability_diagram": (M.reliability_diagram, {"input_format": "probs"}),
}
PROB_FUNCS = ["binned_average_precision", "calibration_error", "brier_score", "log_loss",
              "reliability_diagram"]  # fmt: skip


@pytest.fixture(params=sorted(FUNCS))
def func(request):
    fn, kw = FUNCS[request.param]
    return lambda y, s, **k: fn(y, s, **{**kw, **k})


def test_nan_scores(func):
    s = P.copy()
    s[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"y_score contains NaN at row 1, column 0"):
        func(Y, s)


def test_shape_mismatch(func):
    with pytest.raises(ValueError, match=r"y_true and y_score must have the same shape.*\(3, 2\).*\(3, 3\)"):  # fmt: skip
        func(Y, np.ones((3, 3)) / 2)


@pytest.mark.parametrize("bad", [2, -1, 0.9, 0.1, np.nan])
def test_non_binary_targets(func, bad):
    y = Y.astype(float)
    y[2, 1] = bad
    with pytest.raises(ValueError, match=r"y_true must contain only 0 and 1.*y_true\[2, 1\]"):
        func(y, P)


def test_label_smoothed_targets_are_rejected(func):
    smoothed = Y * 0.9 + 0.05
    with pytest.raises(ValueError, match="label-smoothed targets"):
        func(smoothed, P)


def test_torch_targets_checked_too(func):
    with pytest.raises(ValueError, match="y_true must contain only 0 and 1"):
        func(torch.tensor([[1.0, 0.5], [0.0, 1.0], [1.0, 1.0]]), torch.tensor(P))


@pytest.mark.parametrize("name", PROB_FUNCS)
@pytest.mark.parametrize("bad", [1.5, -0.1, np.inf])
def test_probabilities_outside_unit_interval(name, bad):
    fn, kw = FUNCS[name]
    s = P.copy()
    s[0, 1] = bad
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*y_score\[0, 1\].*logits"):
        fn(Y, s, **kw)
    fn(Y, s if np.isfinite(bad) else P, **{**kw, "input_format": "logits"})  # logits: fine


@pytest.mark.parametrize("name", PROB_FUNCS)
def test_input_format_is_required_and_checked(name):
    fn, _ = FUNCS[name]
    with pytest.raises(TypeError, match="input_format"):
        fn(Y, P)
    with pytest.raises(ValueError, match=r"input_format must be one of 'probs', 'logits'; got 'auto'"):  # fmt: skip
        fn(Y, P, input_format="auto")


@pytest.mark.parametrize(
    ("fn", "kw", "message"),
    [
        (M.average_precision, {"average": "binary"}, r"average must be one of .*'binary'"),
        (M.average_precision, {"empty_labels": "skip"}, r"empty_labels must be one of"),
        (M.binned_average_precision, {"input_format": "probs", "average": "samples"}, "average"),
        (M.f1_score, {"average": "mean"}, r"average must be one of"),
        (M.f1_score, {"zero_division": 2}, r"zero_division must be"),
        (M.one_error, {"ties": "random"}, r"ties must be one of"),
        (M.calibration_error, {"input_format": "probs", "norm": "l3"}, r"norm must be one of"),
        (M.calibration_error, {"input_format": "probs", "average": "macro"}, "average"),
        (M.calibration_error, {"input_format": "probs", "binning": "adaptive"}, "binning"),
        (M.calibration_error, {"input_format": "probs", "debias": True}, "debias"),
        (
            M.calibration_error,
            {"input_format": "probs", "n_bins": 0},
            r"n_bins must be >= 1; got 0",
        ),
        (M.binned_average_precision, {"input_format": "probs", "n_bins": -3}, "n_bins"),
        (M.f1_score, {"threshold": np.nan}, "threshold must be finite"),
    ],
)
def test_bad_options(fn, kw, message):
    with pytest.raises(ValueError, match=message):
        fn(Y, P, **kw)


@pytest.mark.parametrize("n_bins", [2.5, True, "10", None])
def test_n_bins_type(n_bins):
    with pytest.raises(TypeError, match="n_bins must be an int"):
        M.calibration_error(Y, P, input_format="probs", n_bins=n_bins)


def test_wrong_types_and_shapes():
    with pytest.raises(
        TypeError, match="y_score must be a numpy array or a torch tensor; got dict"
    ):
        M.average_precision(Y, {"a": 1})
    with pytest.raises(TypeError, match="y_score must hold real numbers"):
        M.average_precision(Y, np.array([["a", "b"]] * 3))
    with pytest.raises(ValueError, match="is empty"):
        M.average_precision(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"must be 1-D .* or 2-D"):
        M.average_precision(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="must be 2-D"):
        M.label_ranking_loss([1, 0], [0.2, 0.3])
    with pytest.raises(TypeError, match="ignore_mask must be a boolean array"):
        M.average_precision(Y, P, ignore_mask=np.zeros((3, 2), int))
    with pytest.raises(ValueError, match="ignore_mask must have the shape"):
        M.average_precision(Y, P, ignore_mask=np.zeros((2, 2), bool))
    with pytest.raises(TypeError, match="threshold must be a real number"):
        M.hamming_loss(Y, P, threshold="0.5")


def test_masked_entries_are_not_validated():
    y = np.array([[1, -1], [0, 1], [1, 7]])
    s = np.array([[0.8, np.nan], [0.3, 0.6], [0.9, 5.0]])
    mask = np.array([[False, True], [False, False], [False, True]])
    assert M.calibration_error(y, s, input_format="probs", ignore_mask=mask) >= 0
    assert M.average_precision(y, s, ignore_mask=mask) == 1.0
    assert np.isfinite(M.log_loss(y, s, input_format="probs", ignore_mask=mask))


def test_cpu_tensors_are_not_copied_to_torch_kernels_by_accident():
    from multilabel_ls.metrics._inputs import prepare

    s = torch.tensor(P)
    data = prepare(torch.tensor(Y), s)
    assert isinstance(data.y_score, np.ndarray)  # CPU tensors take the NumPy kernels
    assert np.shares_memory(data.y_score, s.numpy())  # ... as zero-copy views
