"""Input handling: NumPy scalars accepted; bad values named, never silently truncated or ignored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from multilabel_ls import PositiveIndices, make_config, multilabel_smoothing_loss
from multilabel_ls.data import ArffFormatError, load_mulan
from multilabel_ls.metrics import average_precision

X = torch.zeros(2, 3)
Y = torch.tensor([[1, 0, 0], [0, 1, 0]])


# ----------------------------------------------------------------------------- epsilon


@pytest.mark.parametrize(
    "value", [np.float32(0.1), np.float64(0.1), np.float16(0.5), np.int64(0), np.uint8(1)]
)
def test_epsilon_accepts_numpy_scalars(value):
    assert make_config("binary", epsilon=value).epsilon == float(value)
    c = make_config("asymmetric", epsilon_pos=value, epsilon_neg=np.int64(0))
    assert (c.epsilon_pos, c.epsilon_neg) == (float(value), 0.0)
    ref = multilabel_smoothing_loss(X, Y, strategy="binary", epsilon=float(value))
    assert multilabel_smoothing_loss(X, Y, strategy="binary", epsilon=value) == ref


@pytest.mark.parametrize("arg", ["epsilon_pos", "epsilon_neg"])
@pytest.mark.parametrize(
    "value, error, match",
    [
        (np.bool_(True), TypeError, "must be a real number"),
        (True, TypeError, "must be a real number"),
        ("0.1", TypeError, "must be a real number"),
        (torch.tensor(0.1), TypeError, r"must be a real number.*is a constant, not a tensor"),
        (np.float32("nan"), ValueError, r"must lie in \[0, 1\]"),
        (np.float64(1.5), ValueError, r"must lie in \[0, 1\]"),
        pytest.param(10**400, ValueError, r"must lie in \[0, 1\]", id="huge-int"),
    ],
)
def test_asymmetric_epsilons_still_rejected(arg, value, error, match):
    kw = {"epsilon_pos": 0.1, "epsilon_neg": 0.1, arg: value}
    with pytest.raises(error, match=rf"{arg} {match}"):
        make_config("asymmetric", **kw)


def test_epsilon_numpy_bool_rejected():
    with pytest.raises(TypeError, match=r"epsilon must be a real number.*np.True_"):
        make_config("binary", epsilon=np.bool_(True))


# ----------------------------------------------------------------------------- prior


@pytest.mark.parametrize(
    "prior",
    ["0.2", b"0.2", ["0.1", "0.2", "0.3"], [0.1, None, 0.3], [[0.1, 0.2], [0.3]],
     [True, False, True], torch.tensor([True, False, True]), np.array(["a", "b", "c"]),
     torch.tensor([0.1, 0.2, 0.3], dtype=torch.complex64)],
)  # fmt: skip
def test_bad_prior_type_names_prior(prior):
    with pytest.raises(TypeError, match=r"^prior must be a 1-D tensor, array or sequence"):
        make_config("prior", epsilon=0.1, prior=prior)


def test_prior_numpy_scalars_accepted():
    c = make_config("prior", epsilon=0.1, prior=[np.float32(0.5), np.int64(0), 0.25])
    assert c.prior.tolist() == [0.5, 0.0, 0.25]


# ----------------------------------------------------------------------------- ignore_index


@pytest.mark.parametrize("target", [Y, Y.float()])
@pytest.mark.parametrize("nan", [float("nan"), np.float64("nan"), np.float32("nan")])
def test_ignore_index_nan_rejected(target, nan):
    with pytest.raises(ValueError, match=r"ignore_index=nan would ignore nothing"):
        multilabel_smoothing_loss(X, target, strategy="binary", epsilon=0.1, ignore_index=nan)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), -100.5])
def test_ignore_index_that_cannot_match_an_integer_target(value):
    with pytest.raises(ValueError, match=r"can never match an entry of the integer target"):
        multilabel_smoothing_loss(X, Y, strategy="binary", epsilon=0.1, ignore_index=value)


@pytest.mark.parametrize("value", [-100, -100.0, np.int64(-100), np.float32(-100)])
@pytest.mark.parametrize("dtype", [torch.int64, torch.float32])
def test_ignore_index_minus_100_still_works(value, dtype):
    y = torch.tensor([[1, -100, 0], [0, 1, -100]], dtype=dtype)
    mask = y == -100
    a = multilabel_smoothing_loss(X, y, strategy="uniform", epsilon=0.1, ignore_index=value)
    b = multilabel_smoothing_loss(
        X, y.clamp(min=0), strategy="uniform", epsilon=0.1, ignore_mask=mask
    )
    torch.testing.assert_close(a, b)


def test_ignore_index_inf_marks_a_float_target():
    y = torch.tensor([[1.0, float("inf"), 0.0], [0.0, 1.0, 0.0]])
    a = multilabel_smoothing_loss(X, y, strategy="binary", epsilon=0.1, ignore_index=float("inf"))
    b = multilabel_smoothing_loss(
        X, y.nan_to_num(posinf=0.0), strategy="binary", epsilon=0.1, ignore_mask=y.isinf()
    )
    torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------- PositiveIndices


@pytest.mark.parametrize(
    "rows, match",
    [
        ([[0.5, 2.7]], r"rows\[0\] holds the non-integer index 0.5"),
        ([[1], [2, 2.5]], r"rows\[1\] holds the non-integer index 2.5 \(position 1\)"),
        ([[float("nan")]], r"rows\[0\] holds the non-integer index nan"),
        ([[float("inf")]], r"rows\[0\] holds the non-integer index inf"),
        ([np.array([0.5, 1.0])], r"rows\[0\] holds the non-integer index 0.5"),
        ([torch.tensor([3.25])], r"rows\[0\] holds the non-integer index 3.25"),
        ([[True, 2]], r"rows\[0\] holds the boolean True"),
        ([np.array([True, False])], r"rows\[0\] has dtype bool"),
        ([[[0, 1]]], r"rows\[0\] must be a flat sequence"),
        ([["1"]], r"rows\[0\] must be a flat sequence"),
        ([3, 4], r"rows\[0\] is the single number 3"),
        (torch.tensor([3, 4]), r"rows must be a sequence of rows"),
    ],
)
def test_from_lists_rejects_non_integers(rows, match):
    with pytest.raises(TypeError, match=match):
        PositiveIndices.from_lists(rows, 8)


def test_from_lists_integral_floats_exact():
    t = PositiveIndices.from_lists([[2.0, 7.0], [], np.array([16777217.0])], 2**25)
    assert t.indices.tolist() == [2, 7, 16777217] and t.offsets.tolist() == [0, 2, 2, 3]
    t = PositiveIndices.from_lists([[np.int64(3)], np.array([1], dtype=np.uint8)], np.int64(4))
    assert t.indices.tolist() == [3, 1] and t.num_labels == 4


@pytest.mark.parametrize(
    "target, value",
    [
        (torch.tensor([[1.0, 0.5]]), "0.5"),
        (torch.tensor([[1, -100]]), "-100"),
        (torch.tensor([[2, 0]], dtype=torch.uint8), "2"),
        (torch.tensor([[1.0, float("nan")]]), "nan"),
    ],
)
def test_from_dense_rejects_non_binary(target, value):
    with pytest.raises(ValueError, match=rf"target must hold only 0 and 1.*= {value}"):
        PositiveIndices.from_dense(target)


def test_from_dense_needs_a_tensor():
    with pytest.raises(TypeError, match=r"target must be a torch.Tensor, got list"):
        PositiveIndices.from_dense([[1, 0]])


# ----------------------------------------------------------------------------- metrics


@pytest.mark.parametrize(
    "y_true, y_score, name",
    [
        ([[1, 0], [1]], [[0.1, 0.2], [0.3, 0.4]], "y_true"),
        ([[1, 0], [0, 1]], [[0.1, 0.2], [0.3]], "y_score"),
        ([[1, [0]], [1, 0]], [[0.1, 0.2], [0.3, 0.4]], "y_true"),
    ],
)
def test_ragged_metric_input_names_argument(y_true, y_score, name):
    with pytest.raises(ValueError, match=rf"^{name} must be a rectangular array"):
        average_precision(y_true, y_score)


def test_ragged_ignore_mask_named():
    with pytest.raises(ValueError, match=r"^ignore_mask must be a rectangular array"):
        average_precision([[1, 0], [0, 1]], [[0.1, 0.2], [0.3, 0.4]], ignore_mask=[[True], []])


# ----------------------------------------------------------------------------- Mulan ARFF

HEADER = """% toy
@relation toy

@attribute f1 numeric
@attribute f2 numeric
@attribute A {0,1}
@attribute B {0,1}
@data
"""
XML = '<labels xmlns="http://mulan.sourceforge.net/labels"><label name="A"/><label name="B"/></labels>'


def _mulan(tmp_path: Path, train_rows: str) -> Path:
    (tmp_path / "toy.xml").write_text(XML)
    (tmp_path / "toy-train.arff").write_text(HEADER + train_rows)
    (tmp_path / "toy-test.arff").write_text(HEADER + "0.5,1,1,0\n")
    return tmp_path


def _line_of(d: Path, row_text: str) -> int:
    return (d / "toy-train.arff").read_text().splitlines().index(row_text) + 1


@pytest.mark.parametrize(
    "bad, shown",
    [("inf", "inf"), ("-inf", "-inf"), ("Infinity", "inf"), ("1e400", "inf"), ("nan", "nan")],
)
def test_arff_non_finite_feature_names_file_row_and_attribute(tmp_path, bad, shown):
    d = _mulan(tmp_path, f"1,2,0,1\n\n% a comment\n3,{bad},1,0\n")
    with pytest.raises(ArffFormatError) as info:
        load_mulan(d)
    line = _line_of(d, f"3,{bad},1,0")
    msg = str(info.value)
    assert f"toy-train.arff, line {line}:" in msg
    assert f"non-finite value {shown} at data row 2, attribute 'f2'" in msg
    assert info.value.line == line


def test_arff_sparse_non_finite_feature(tmp_path):
    d = _mulan(tmp_path, "{0 inf, 2 1}\n")
    with pytest.raises(ArffFormatError, match=r"line 9: non-finite value inf at data row 1, "):
        load_mulan(d)


def test_arff_float32_overflow_named(tmp_path):
    d = _mulan(tmp_path, "1e39,2,0,1\n")
    with pytest.raises(ArffFormatError, match=r"line 9: value 1e\+39 at data row 1, attribute "):
        load_mulan(d)


def test_arff_missing_value_names_first_row_and_attribute(tmp_path):
    d = _mulan(tmp_path, "1,2,0,1\n3,4,?,0\n5,?,1,1\n")
    with pytest.raises(ArffFormatError) as info:
        load_mulan(d)
    msg = str(info.value)
    assert "missing values ('?') in 2 attribute(s), e.g. ['f2', 'A']" in msg
    assert "(first at data row 2, attribute 'A')" in msg and "line 10:" in msg
