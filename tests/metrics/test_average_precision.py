"""average_precision: identical to scikit-learn, exact on every key-encoding path, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import average_precision_score

from multilabel_ls.metrics import UndefinedMetricWarning, average_precision

from .conftest import call, quiet
from .reference import ap_textbook

AVERAGES = [None, "macro", "micro", "weighted", "samples"]
TOL = 1e-12


def sk_ap(Y, S, average):
    if Y.ndim == 1:
        return quiet(average_precision_score, Y, S)
    if Y.shape[1] == 1 and average == "samples":  # scikit-learn reads (n, 1) as binary
        return np.mean([quiet(average_precision_score, y, s) for y, s in zip(Y, S, strict=True)])
    return quiet(average_precision_score, Y, S, average=average)


def assert_close(got, ref, tol=TOL):
    np.testing.assert_allclose(np.asarray(got, float), np.asarray(ref, float), rtol=0, atol=tol)


SCORES = {
    "continuous": st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
    "ties": st.sampled_from([0.0, 0.25, 0.5, 1.0]),
    "float32": st.floats(-10, 10, width=32, allow_nan=False, allow_infinity=False),
    "extremes": st.sampled_from(
        [0.0, -0.0, 1.0, 5e-324, -5e-324, 1e-310, 1e308, -1e308, 0.5, float(np.nextafter(0.5, 1))]
    ),
    "probs": st.floats(0, 1),
}


@st.composite
def labelled_scores(draw, max_n=25, max_l=6):
    n, l = draw(st.integers(1, max_n)), draw(st.integers(1, max_l))
    kind = draw(st.sampled_from(sorted(SCORES)))
    dtype = np.float32 if kind == "float32" else np.float64
    S = draw(arrays(dtype, (n, l), elements=SCORES[kind]))
    Y = draw(arrays(np.bool_, (n, l)))
    return Y, S


@settings(max_examples=120, deadline=None)
@given(data=labelled_scores(), backend=st.sampled_from(["numpy", "torch"]))
def test_matches_sklearn_on_random_inputs(data, backend):
    Y, S = data
    for average in AVERAGES:
        got = quiet(call, average_precision, Y, S, backend=backend, average=average,
                    empty_labels="zero")  # fmt: skip
        assert_close(got, sk_ap(Y, S, average))


@pytest.mark.parametrize(
    "kind",
    [
        "float32",
        "float64_as_float32",
        "float64_one_sign",
        "float64_logits",
        "float64_mixed",
        "int",
        "bool",
    ],
)
def test_every_key_encoding_matches_sklearn(kind, backend, tiny_chunks):
    rng = np.random.default_rng(3)
    Y = rng.random((60, 7)) < 0.3
    base = np.round(rng.normal(size=(60, 7)), 1)  # plenty of ties
    S = {
        "float32": base.astype(np.float32),
        "float64_as_float32": base.astype(np.float32).astype(np.float64),
        "float64_one_sign": np.abs(base) + 1e-3 * rng.random((60, 7)),  # 63-bit offset keys
        "float64_logits": base * 7 + 1e-9 * rng.normal(size=(60, 7)),  # exponents cut
        "float64_mixed": np.where(base > 1, 5e-324, base * 300 + 1e-9),  # argsort path
        "int": (base * 10).astype(np.int64),
        "bool": base > 0,
    }[kind]
    for average in AVERAGES:
        got = quiet(call, average_precision, Y, S, backend=backend, average=average,
                    empty_labels="zero")  # fmt: skip
        assert_close(got, sk_ap(Y, S.astype(np.float64), average))


def test_against_textbook_loop():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(1, 40))
        y, s = rng.random(n) < 0.4, np.round(rng.random(n), 1)
        if y.any():
            assert_close(average_precision(y, s), ap_textbook(y, s))


@pytest.mark.parametrize(
    ("y", "s", "expected"),
    [
        ([1, 0, 1, 0], [0.9, 0.9, 0.5, 0.1], 7 / 12),  # a tied block enters at once
        ([0, 1, 1, 0], [0.9, 0.9, 0.5, 0.1], 7 / 12),  # ... whatever the order inside the tie
        ([1, 0], [0.5, 0.5], 0.5),  # not 0.75, the mean over random tie-breaking
        ([1, 0, 0], [0.5, 0.5, 0.5], 1 / 3),  # constant scores: the prevalence
        ([1, 1, 1], [0.1, 0.7, 0.3], 1.0),  # all positive
        ([1], [0.3], 1.0),  # single sample
        ([1, 0, 1], [0.0, 1.0, 1.0], ap_textbook([1, 0, 1], [0.0, 1.0, 1.0])),  # exact 0 and 1
    ],
)
def test_adversarial_cases(y, s, expected, backend):
    assert_close(call(average_precision, np.array(y), np.array(s), backend=backend), expected)
    assert_close(expected, sk_ap(np.array(y), np.array(s), None))


NEXT32 = float(np.nextafter(np.float32(0.5), np.float32(1)))
NEXT64 = float(np.nextafter(0.5, 1.0))


@pytest.mark.parametrize(
    ("dtype", "scores", "path"),
    [
        (np.float32, [0.5, NEXT32, 0.5, -3.0], "_keys_f32"),
        (np.float64, [0.5, NEXT32, 0.5, -3.0], "_keys_f32"),  # exactly float32: same keys
        (np.float64, [0.5, NEXT64, 0.5, 0.25], "_keys_u64"),  # one sign: 63-bit offset keys
        (np.float64, [0.5, NEXT64, 0.5, -300.0], "_squeeze_exponents"),  # cut exponents
        (np.float64, [0.5, NEXT64, -300.0, 5e-324], "_dense_stats_np"),  # subnormal: argsort
    ],
)
def test_distinct_neighbouring_floats_are_not_tied(dtype, scores, path, monkeypatch):
    # Adjacent floats differ only in the last mantissa bit: an encoding that dropped a bit to
    # make room for the label would tie them and give 0.5 instead of 1.0.
    from multilabel_ls.metrics import _sorted_stats

    calls = []
    original = getattr(_sorted_stats, path)
    monkeypatch.setattr(_sorted_stats, path, lambda *a: calls.append(1) or original(*a))
    s, y = np.array(scores, dtype=dtype), np.array([0, 1, 0, 0])
    assert average_precision(y, s) == 1.0
    assert calls, f"the {path} path was not taken"
    assert sk_ap(y, s.astype(np.float64), None) == 1.0
    assert call(average_precision, y, s, backend="torch") == 1.0


def test_signed_zero_and_subnormals(backend):
    # -0.0 == 0.0: one tie (scikit-learn agrees); subnormals are ordered exactly.
    y = np.array([1, 0, 1, 0, 1])
    for dtype in (np.float32, np.float64):
        tiny = np.finfo(dtype).smallest_subnormal
        s = np.array([-0.0, 0.0, tiny, -tiny, 2 * tiny], dtype=dtype)
        got = call(average_precision, y, s, backend=backend)
        assert_close(got, sk_ap(y, s.astype(np.float64), None))
        assert_close(got, ap_textbook(y, s))
    assert call(average_precision, np.array([1, 0]), np.array([-0.0, 0.0]), backend=backend) == 0.5
    for dtype in (np.float32, np.float64):  # non-negative scores take the 2 * bits keys
        tiny = np.finfo(dtype).smallest_subnormal
        s = np.array([-0.0, 0.0, tiny, 2 * tiny, np.inf, 0.5], dtype=dtype)
        y = np.array([1, 0, 1, 0, 0, 1])
        stand_in = np.where(np.isinf(s), 1e300, s.astype(np.float64))
        got = call(average_precision, y, s, backend=backend)
        assert_close(got, sk_ap(y, stand_in, None))
        assert_close(got, ap_textbook(y, s))


def test_infinities_rank_beyond_every_finite_score(backend):
    # Documented behaviour (scikit-learn rejects inf): +inf above and -inf below every finite
    # score, equal infinities tied; so the AP equals that of any finite stand-ins.
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0]])
    s = np.array([[np.inf, -np.inf], [np.inf, 2.0], [0.5, np.inf], [-np.inf, -np.inf], [3.0, 0.0]])
    stand_in = np.where(np.isposinf(s), 1e6, np.where(np.isneginf(s), -1e6, s))
    for average in AVERAGES:
        got = quiet(call, average_precision, y, s, backend=backend, average=average,
                    empty_labels="zero")  # fmt: skip
        assert_close(got, sk_ap(y, stand_in, average))
    with pytest.raises(ValueError, match="infinity"):
        quiet(average_precision_score, y, s)


def test_logits_do_not_saturate_unlike_torchmetrics(backend):
    from torchmetrics.functional.classification import binary_average_precision

    logits, y = np.array([18.0, 20.0, 25.0, 30.0]), np.array([0, 1, 0, 1])
    ours = call(average_precision, y, logits, backend=backend)
    assert_close(ours, 5 / 6)
    assert_close(ours, sk_ap(y, logits, None))
    # torchmetrics applies a float32 sigmoid to scores outside [0, 1]: all four become 1.0
    tm = binary_average_precision(torch.tensor(logits, dtype=torch.float32), torch.tensor(y))
    assert float(tm) == pytest.approx(0.5)


def test_empty_label_policies():
    Y = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 0], [0, 0, 1]])
    S = np.array([[0.9, 0.2, 0.8], [0.1, 0.3, 0.7], [0.8, 0.6, 0.1], [0.2, 0.1, 0.9]])
    per_label = sk_ap(Y, S, None)
    with pytest.warns(UndefinedMetricWarning, match="1 of 3 labels have no positive"):
        assert_close(average_precision(Y, S, empty_labels="zero"), sk_ap(Y, S, "macro"))
    with pytest.warns(UndefinedMetricWarning, match="empty_labels='zero'"):
        assert_close(average_precision(Y, S), per_label[[0, 2]].mean())  # default: exclude
    with pytest.warns(UndefinedMetricWarning):
        got = average_precision(Y, S, average=None)
    assert np.isnan(got[1]) and got.dtype == np.float64
    assert_close(got[[0, 2]], per_label[[0, 2]])
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(average_precision(Y, S, empty_labels="nan"))
    with pytest.warns(UndefinedMetricWarning):  # weighted: weight 0 either way
        assert_close(average_precision(Y, S, average="weighted"), sk_ap(Y, S, "weighted"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_close(average_precision(Y, S, average="micro"), sk_ap(Y, S, "micro"))


def test_nothing_positive_anywhere():
    Y, S = np.zeros((3, 2), int), np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    with pytest.warns(UndefinedMetricWarning):
        assert average_precision(Y, S, average="weighted", empty_labels="zero") == 0.0
    assert sk_ap(Y, S, "weighted") == 0  # scikit-learn's int 0
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(average_precision(Y, S, average="weighted"))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(average_precision(Y, S, average="micro"))


def test_samples_average_policy_applies_to_rows():
    Y = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 1]])
    S = np.array([[0.9, 0.2, 0.8], [0.1, 0.3, 0.7], [0.8, 0.6, 0.1]])
    with pytest.warns(UndefinedMetricWarning, match="1 of 3 samples"):
        assert_close(average_precision(Y, S, average="samples", empty_labels="zero"),
                     sk_ap(Y, S, "samples"))  # fmt: skip
    rows = [sk_ap(Y[i], S[i], None) for i in (0, 2)]
    with pytest.warns(UndefinedMetricWarning):
        assert_close(average_precision(Y, S, average="samples"), np.mean(rows))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("junk", [np.nan, 0.5])
def test_ignore_mask_removes_entries(backend, tiny_chunks, dtype, junk):
    rng = np.random.default_rng(7)
    Y = rng.random((40, 5)) < 0.4
    S = np.round(rng.random((40, 5)), 1).astype(dtype)
    mask = rng.random((40, 5)) < 0.3
    Yd, Sd = np.where(mask, -1, Y.astype(int)), np.where(mask, dtype(junk), S)  # masked junk
    got = call(average_precision, Yd, Sd, backend=backend, average=None, ignore_mask=mask)
    ref = [sk_ap(Y[~mask[:, k], k], S[~mask[:, k], k], None) for k in range(5)]
    assert_close(got, ref)
    got = call(average_precision, Yd, Sd, backend=backend, average="micro", ignore_mask=mask)
    assert_close(got, sk_ap(Y[~mask], S[~mask], None))
    got = quiet(call, average_precision, Yd, Sd, backend=backend, average="samples",
                ignore_mask=mask, empty_labels="zero")  # fmt: skip
    rows = [quiet(average_precision_score, Y[i, ~mask[i]], S[i, ~mask[i]]) for i in range(40)]
    assert_close(got, np.mean(rows))


def test_invariances():
    rng = np.random.default_rng(11)
    Y = rng.random((50, 6)) < 0.3
    Y[0] = True
    S = np.round(rng.normal(size=(50, 6)), 1)
    ref = average_precision(Y, S, average=None)
    perm, lperm = rng.permutation(50), rng.permutation(6)
    assert_close(average_precision(Y[perm], S[perm], average=None), ref)
    assert_close(average_precision(Y[:, lperm], S[:, lperm], average=None), ref[lperm])
    for f in (np.tanh, lambda x: 3 * x - 7, lambda x: 1 / (1 + np.exp(-x))):  # monotone maps
        assert_close(average_precision(Y, f(S), average=None), ref)
    assert_close(average_precision(Y.T, S.T, average="samples"), average_precision(Y, S))


def test_one_label_column_equals_1d():
    y, s = np.array([1, 0, 1, 1, 0]), np.array([0.3, 0.2, 0.9, 0.3, 0.5])
    for average in ("macro", "micro", "weighted"):  # "samples" is per row, a different problem
        assert_close(average_precision(y[:, None], s[:, None], average=average),
                     average_precision(y, s))  # fmt: skip
    assert isinstance(average_precision(y, s, average=None), float)


def test_larger_input_matches_sklearn():
    rng = np.random.default_rng(5)
    Y = rng.random((3000, 40)) < 0.05
    S = np.round(rng.random((3000, 40)), 2).astype(np.float32)
    for average in AVERAGES:
        assert_close(quiet(average_precision, Y, S, average=average, empty_labels="zero"),
                     sk_ap(Y, S, average))  # fmt: skip


def test_torch_tensors_and_numpy_mix():
    y = np.array([[1, 0], [0, 1], [1, 1]])
    s = torch.tensor([[0.3, 0.2], [0.1, 0.9], [0.8, 0.4]], dtype=torch.bfloat16)
    ref = sk_ap(y, s.float().numpy(), "macro")
    assert_close(average_precision(y, s), ref)
    assert_close(average_precision(torch.tensor(y), s.float().requires_grad_()), ref)
    assert isinstance(average_precision(y, s), float)
