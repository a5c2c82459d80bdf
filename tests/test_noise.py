"""Label-noise models: spec parsing, realised rates, determinism, no mutation, train only.

Statistical checks compare realised counts with their binomial expectation and accept
``|count - mean| <= 5 * sd``: a false alarm has probability ~6e-7 per check, and since every
check runs at a fixed seed the tests are deterministic, never flaky.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from multilabel_ls.data import load_yeast
from multilabel_ls.noise import (
    NOISE_MODELS,
    NoiseSpec,
    add_positives,
    add_positives_per_row,
    apply_noise,
    apply_noise_to_dataset,
    class_conditional_noise,
    drop_positives,
    flip_labels,
    parse_noise_spec,
)

TOL_SD = 5.0
SEEDS = (0, 1, 2)


def _within(count: int, n: float, p: float | np.ndarray) -> bool:
    """``count`` is within TOL_SD binomial sds of its mean (``n`` and ``p`` may be arrays)."""
    mean = np.sum(n * p)
    sd = np.sqrt(np.sum(n * p * (1 - p)))
    return abs(count - mean) <= TOL_SD * sd + 1e-9


@pytest.fixture(scope="module")
def Y() -> np.ndarray:
    rng = np.random.default_rng(123)
    base = rng.uniform(0.05, 0.6, size=30)  # per-label base rates
    return (rng.random((2000, 30)) < base).astype(np.uint8)


# --------------------------------------------------------------------------- spec parsing


@pytest.mark.parametrize(
    ("spec", "canonical"),
    [
        (None, "none"),
        ("none", "none"),
        ("clean", "none"),
        ("missing:0.2", "missing:0.2"),
        ("MISSING: p = 0.2", "missing:0.2"),
        ({"model": "missing", "p": 0.2}, "missing:0.2"),
        ({"model": "missing", "params": {"p": 0.2}}, "missing:0.2"),
        ("spurious:0.01", "spurious:0.01"),
        ("spurious-per-row:0.5", "spurious_per_row:0.5"),
        ("symmetric:0.1", "flip:0.1"),
        ("class_conditional:drop=0.2,add=0.01", "class_conditional:drop=0.2,add=0.01"),
        (
            '{"model": "class_conditional", "drop": [0.1, 0.3], "add": 0}',
            '{"model":"class_conditional","drop":[0.1,0.3],"add":0.0}',
        ),
    ],
)
def test_parse_and_canonical_round_trip(spec, canonical):
    parsed = parse_noise_spec(spec)
    assert str(parsed) == canonical
    assert parse_noise_spec(str(parsed)) == parsed
    assert parse_noise_spec(parsed.to_dict()) == parsed
    assert parse_noise_spec(parsed) == parsed
    json.dumps(parsed.to_dict())
    hash(parsed)


@pytest.mark.parametrize(
    ("spec", "exc", "match"),
    [
        ("gaussian:0.1", ValueError, r"unknown noise model 'gaussian'.*'missing'"),
        ("missing", ValueError, "needs a value"),
        ("missing:", ValueError, "empty"),
        ("missing:1.5", ValueError, r"missing\.p must be a probability"),
        ("missing:-0.1", ValueError, "probability"),
        ("flip:nan", ValueError, "finite"),
        ("missing:abc", ValueError, "must be a number"),
        ("missing:q=0.1", ValueError, r"no parameter\(s\) \['q'\]"),
        ("flip:r=0.1,r=0.2", ValueError, "given twice"),
        ("class_conditional:0.1", ValueError, "named parameters"),
        ("class_conditional:drop=0.1", ValueError, r"needs parameter\(s\) \['add'\]"),
        ("class_conditional:drop0.1,add=0", ValueError, "name=value"),
        ('{"model": "class_conditional", "drop": [0.1, 2], "add": 0}', ValueError, r"\[2.0\]"),
        ('{"model": "class_conditional", "drop": [], "add": 0}', ValueError, "empty"),
        ("spurious_per_row:-1", ValueError, ">= 0"),
        ("{not json", ValueError, "not valid JSON"),
        ('["missing", 0.1]', ValueError, "unknown noise model"),
        ({"p": 0.1}, ValueError, "'model' key"),
        (0.1, TypeError, "noise spec must be"),
        ({"model": 3}, TypeError, "model name"),
        ({"model": "missing", "p": True}, ValueError, "finite number"),
    ],
)
def test_parse_errors(spec, exc, match):
    with pytest.raises(exc, match=match):
        parse_noise_spec(spec)


def test_every_model_is_documented_and_parseable():
    examples = {
        "none": "none",
        "missing": "missing:0.1",
        "spurious": "spurious:0.1",
        "spurious_per_row": "spurious_per_row:1",
        "flip": "flip:0.1",
        "class_conditional": "class_conditional:drop=0.1,add=0.1",
    }
    assert set(examples) == set(NOISE_MODELS)
    for model, spec in examples.items():
        assert parse_noise_spec(spec).model == model


# --------------------------------------------------------------------------- realised rates


@pytest.mark.parametrize("seed", SEEDS)
def test_missing_rate(Y, seed):
    n_pos = int(Y.sum())
    out, rec = drop_positives(Y, 0.2, seed=seed)
    assert rec["n_added"] == 0 and rec["n_dropped"] == int((Y == 1).sum() - out.sum())
    assert _within(rec["n_dropped"], n_pos, 0.2)
    assert np.all(out <= Y)  # only removals


@pytest.mark.parametrize("seed", SEEDS)
def test_spurious_rate(Y, seed):
    n_neg = Y.size - int(Y.sum())
    out, rec = add_positives(Y, 0.05, seed=seed)
    assert rec["n_dropped"] == 0 and np.all(out >= Y)
    assert _within(rec["n_added"], n_neg, 0.05)
    assert rec["realised_add_rate"] == pytest.approx(rec["n_added"] / n_neg)


@pytest.mark.parametrize("seed", SEEDS)
def test_spurious_per_row_rate(Y, seed):
    k = 0.5
    n_neg = Y.shape[1] - Y.sum(axis=1)
    q = np.minimum(1.0, k / np.maximum(n_neg, 1)) * (n_neg > 0)
    out, rec = add_positives_per_row(Y, k, seed=seed)
    assert rec["n_dropped"] == 0 and np.all(out >= Y)
    assert _within(rec["n_added"], n_neg, q)
    assert rec["n_added"] / Y.shape[0] == pytest.approx(k, abs=0.1)


def test_spurious_per_row_caps_at_available_negatives():
    Y = np.array([[1, 1, 1], [1, 1, 0], [0, 0, 0]], dtype=np.uint8)
    out, rec = add_positives_per_row(Y, 5, seed=0)  # k > n_neg: every negative flips
    assert out.sum() == 9 and rec["n_added"] == 4


@pytest.mark.parametrize("seed", SEEDS)
def test_flip_rate(Y, seed):
    n_pos = int(Y.sum())
    out, rec = flip_labels(Y, 0.1, seed=seed)
    assert _within(rec["n_dropped"], n_pos, 0.1)
    assert _within(rec["n_added"], Y.size - n_pos, 0.1)
    assert rec["n_flipped"] == int((out != Y).sum())


@pytest.mark.parametrize("seed", SEEDS)
def test_class_conditional_per_label_rates(Y, seed):
    L = Y.shape[1]
    drop = np.linspace(0.0, 0.5, L)
    add = np.linspace(0.1, 0.0, L)
    _, rec = class_conditional_noise(Y, drop, add, seed=seed)
    pos, neg = Y.sum(axis=0), Y.shape[0] - Y.sum(axis=0)
    for j in range(L):
        assert _within(rec["per_label_dropped"][j], pos[j], drop[j]), j
        assert _within(rec["per_label_added"][j], neg[j], add[j]), j
    assert rec["per_label_dropped"][0] == 0 and rec["per_label_added"][-1] == 0  # rate 0 exact


def test_class_conditional_scalars_and_length_check(Y):
    a, _ = class_conditional_noise(Y, 0.2, 0.0, seed=5)
    b, _ = drop_positives(Y, 0.2, seed=5)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="3 rates but Y has 30 labels"):
        class_conditional_noise(Y, [0.1, 0.2, 0.3], 0.0, seed=0)


# --------------------------------------------------------------------------- determinism


def test_determinism_and_seed_dependence(Y):
    a, ra = apply_noise(Y, "flip:0.1", seed=7)
    b, rb = apply_noise(Y, "flip:0.1", seed=7)
    np.testing.assert_array_equal(a, b)
    assert ra == rb
    c, _ = apply_noise(Y, "flip:0.1", seed=8)
    assert not np.array_equal(a, c)


def test_front_ends_equal_apply_noise(Y):
    pairs = [
        (drop_positives(Y, 0.3, seed=1), "missing:0.3"),
        (add_positives(Y, 0.02, seed=1), "spurious:0.02"),
        (add_positives_per_row(Y, 1.0, seed=1), "spurious_per_row:1"),
        (flip_labels(Y, 0.05, seed=1), "flip:0.05"),
    ]
    for (out, rec), spec in pairs:
        ref, ref_rec = apply_noise(Y, spec, seed=1)
        np.testing.assert_array_equal(out, ref)
        assert rec == ref_rec
    np.testing.assert_array_equal(
        flip_labels(Y, 0.1, seed=3)[0], class_conditional_noise(Y, 0.1, 0.1, seed=3)[0]
    )


def test_monotone_in_rate_for_a_fixed_seed(Y):
    low, _ = drop_positives(Y, 0.1, seed=4)
    high, _ = drop_positives(Y, 0.3, seed=4)
    dropped_low, dropped_high = (Y == 1) & (low == 0), (Y == 1) & (high == 0)
    assert np.all(dropped_high[dropped_low]) and dropped_high.sum() > dropped_low.sum()


# --------------------------------------------------------------------------- no mutation, dtypes


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.float32, bool])
def test_input_untouched_and_dtype_kept(Y, dtype):
    Yd = Y.astype(dtype)
    Yd.setflags(write=False)  # any in-place write would raise
    before = Yd.copy()
    out, _ = apply_noise(Yd, "flip:0.2", seed=0)
    np.testing.assert_array_equal(Yd, before)
    assert out.dtype == Yd.dtype and out is not Yd and not np.shares_memory(out, Yd)
    same, rec = apply_noise(Yd, "none", seed=0)
    np.testing.assert_array_equal(same, Yd)
    assert same is not Yd and rec["n_flipped"] == 0


def test_record_is_json_and_consistent(Y):
    out, rec = apply_noise(Y, "class_conditional:drop=0.2,add=0.01", seed=2)
    text = json.dumps(rec, allow_nan=False)
    assert json.loads(text) == rec
    assert rec["model"] == "class_conditional" and rec["seed"] == 2
    assert rec["params"] == {"drop": 0.2, "add": 0.01}
    assert rec["spec"] == "class_conditional:drop=0.2,add=0.01"
    assert rec["n_positives_after"] == int(out.sum())
    assert rec["n_positives_after"] == rec["n_positives_before"] - rec["n_dropped"] + rec["n_added"]
    assert sum(rec["per_label_dropped"]) == rec["n_dropped"]
    assert rec["n_empty_rows_after"] == int((out.sum(axis=1) == 0).sum())


def test_edge_cases():
    Y = np.array([[1, 0], [1, 1]], dtype=np.uint8)
    out, rec = drop_positives(Y, 1.0, seed=0)
    assert out.sum() == 0 and rec["n_empty_rows_after"] == 2 and rec["n_empty_rows_before"] == 0
    out, rec = add_positives(np.ones((2, 2)), 0.5, seed=0)
    assert rec["realised_add_rate"] is None  # no negatives: undefined, not NaN
    out, rec = flip_labels(np.zeros((0, 4), dtype=np.uint8), 0.5, seed=0)
    assert out.shape == (0, 4) and rec["realised_drop_rate"] is None
    out, rec = drop_positives(Y, 0.0, seed=0)
    np.testing.assert_array_equal(out, Y)


@pytest.mark.parametrize(
    ("Y", "seed", "exc", "match"),
    [
        (np.array([0, 1]), 0, ValueError, "2-D"),
        (np.array([[0, 2]]), 0, ValueError, "only 0 and 1"),
        (np.array([["a"]]), 0, TypeError, "dtype"),
        (np.zeros((2, 2)), -1, ValueError, "seed must be >= 0"),
        (np.zeros((2, 2)), 1.5, TypeError, "seed must be an int"),
        (np.zeros((2, 2)), True, TypeError, "seed must be an int"),
    ],
)
def test_bad_inputs(Y, seed, exc, match):
    with pytest.raises(exc, match=match):
        apply_noise(Y, "flip:0.1", seed=seed)


# --------------------------------------------------------------------------- train split only


def test_dataset_noise_touches_train_labels_only():
    ds = load_yeast()
    Ytr, Yte, Xtr = ds.Y_train.copy(), ds.Y_test.copy(), ds.X_train.copy()
    noisy, rec = apply_noise_to_dataset(ds, "missing:0.3", seed=0)
    assert noisy.Y_test is ds.Y_test and noisy.X_test is ds.X_test and noisy.X_train is ds.X_train
    np.testing.assert_array_equal(noisy.Y_test, Yte)
    assert rec["split"] == "train" and rec["dataset"] == "yeast"
    assert rec["n_dropped"] == int((Ytr != noisy.Y_train).sum()) > 0
    assert noisy.metadata["noise"] == "missing:0.3" and noisy.metadata["noise_seed"] == 0
    # the original data set is unchanged
    np.testing.assert_array_equal(ds.Y_train, Ytr)
    np.testing.assert_array_equal(ds.X_train, Xtr)
    assert "noise" not in ds.metadata
    with pytest.raises(TypeError, match="MultiLabelDataset"):
        apply_noise_to_dataset(ds.Y_train, "none", seed=0)


def test_noise_spec_param_access():
    spec = parse_noise_spec("missing:0.25")
    assert isinstance(spec, NoiseSpec) and spec.param("p") == 0.25
    with pytest.raises(KeyError):
        spec.param("q")
