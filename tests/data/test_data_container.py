"""MultiLabelDataset validation and summaries, label_stats, train-only preprocessing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from multilabel_ls.data import (
    MultiLabelDataset,
    Standardizer,
    label_stats,
    standardize,
    validation_split,
)


def _ds(**over) -> MultiLabelDataset:
    kw = {
        "name": "toy",
        "X_train": np.arange(12, dtype=np.float64).reshape(4, 3),
        "Y_train": np.array([[1, 0], [0, 0], [1, 1], [0, 0]]),
        "X_test": np.ones((2, 3)),
        "Y_test": np.array([[True, False], [False, False]]),
        "feature_names": ["a", "b", "c"],
        "label_names": ["p", "q"],
        "source": "unit test",
    }
    kw.update(over)
    return MultiLabelDataset(**kw)


def test_dtypes_and_sizes():
    ds = _ds()
    assert ds.X_train.dtype == np.float32 and ds.Y_train.dtype == np.uint8
    assert ds.Y_test.dtype == np.uint8
    assert (ds.n_train, ds.n_test, ds.n_features, ds.n_labels) == (4, 2, 3, 2)
    assert ds.feature_names == ("a", "b", "c")
    assert "n_train=4" in repr(ds)


def test_describe_counts_empty_rows_and_is_json():
    d = _ds().describe()
    json.dumps(d)
    assert d["train"]["n_empty_rows"] == 2 and d["test"]["n_empty_rows"] == 1
    assert d["train"]["cardinality"] == pytest.approx(0.75)
    assert d["train"]["density"] == pytest.approx(0.375)
    assert d["train"]["base_rates"] == [0.5, 0.25]
    assert d["train"]["label_counts"] == [2, 1]
    assert d["train"]["n_distinct_labelsets"] == 3
    assert d["feature_kind"] == "tabular" and d["image_shape"] is None
    text = _ds().summary()
    assert "empty rows" in text and "toy: 4 train / 2 test" in text


def test_label_stats_edge_cases():
    s = label_stats(np.zeros((0, 3), dtype=np.uint8))
    assert s["n_rows"] == 0 and np.isnan(s["cardinality"]) and s["n_distinct_labelsets"] == 0
    assert label_stats(np.zeros((3, 2)))["n_empty_rows"] == 3
    with pytest.raises(ValueError, match="only 0 and 1"):
        label_stats(np.array([[0, 2]]))
    with pytest.raises(ValueError, match="2-D"):
        label_stats(np.array([0, 1]))
    with pytest.raises(TypeError, match="dtype"):
        label_stats(np.array([["a"]]))


@pytest.mark.parametrize(
    ("over", "exc", "match"),
    [
        ({"Y_train": np.array([[1, 0], [0, 0], [2, 1], [0, 0]])}, ValueError, "Y_train.*row 2"),
        ({"Y_train": np.zeros((3, 2))}, ValueError, "X_train has 4 rows but Y_train has 3"),
        ({"X_test": np.ones((2, 4))}, ValueError, "X_train has 3 features but X_test has 4"),
        ({"Y_test": np.zeros((2, 3))}, ValueError, "Y_train has 2 labels but Y_test has 3"),
        ({"feature_names": ["a", "b"]}, ValueError, "feature_names has 2 entries"),
        ({"label_names": ["p", "p"]}, ValueError, "duplicate"),
        ({"label_names": "pq"}, TypeError, "single str"),
        ({"X_test": np.full((2, 3), np.nan)}, ValueError, "NaN"),
        ({"X_train": np.ones(4)}, ValueError, "2-D"),
        ({"image_shape": (1, 2, 2)}, ValueError, "image_shape"),
        ({"name": ""}, TypeError, "name"),
    ],
)
def test_validation_errors(over, exc, match):
    with pytest.raises(exc, match=match):
        _ds(**over)


def test_as_images_and_split():
    ds = _ds(
        X_train=np.zeros((4, 4)),
        X_test=np.zeros((2, 4)),
        feature_names=list("abcd"),
        image_shape=(1, 2, 2),
    )
    assert ds.as_images(ds.X_train[:3]).shape == (3, 1, 2, 2)
    with pytest.raises(ValueError, match="shape"):
        ds.as_images(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="not an image"):
        _ds().as_images(np.zeros((1, 3)))
    X, Y = ds.split("test")
    assert X is ds.X_test and Y is ds.Y_test
    with pytest.raises(ValueError, match="'train' or 'test'"):
        ds.split("val")


def test_with_train_labels_leaves_test_and_original_alone():
    ds = _ds()
    before = ds.Y_train.copy()
    new = ds.with_train_labels(np.zeros((4, 2), dtype=bool), note="x")
    assert new.Y_train.sum() == 0 and new.metadata["note"] == "x"
    assert new.Y_test is ds.Y_test and new.X_train is ds.X_train
    np.testing.assert_array_equal(ds.Y_train, before)
    with pytest.raises(ValueError, match="shape"):
        ds.with_train_labels(np.zeros((3, 2)))


def test_standardize_uses_train_statistics_only():
    rng = np.random.default_rng(0)
    Xtr = rng.normal(3.0, 2.0, size=(50, 3))
    Xtr[:, 2] = 7.0  # constant column: centred, not divided by ~0
    ds = _ds(
        X_train=Xtr,
        Y_train=np.zeros((50, 2)),
        X_test=rng.normal(100.0, 1.0, size=(2, 3)),
    )
    out, st = standardize(ds)
    np.testing.assert_allclose(out.X_train[:, :2].mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(out.X_train[:, :2].std(0), 1, atol=1e-5)
    assert np.all(out.X_train[:, 2] == 0) and st.scale[2] == 1.0
    # test rows are transformed with the train mean, so they stay far from 0
    assert out.X_test[:, 0].mean() > 10
    assert out.X_train.dtype == np.float32 and out.metadata["standardized"]
    np.testing.assert_array_equal(ds.X_train, Xtr.astype(np.float32))  # input untouched
    with pytest.raises(ValueError, match="shape"):
        st.transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="at least one row"):
        Standardizer.fit(np.zeros((0, 3)))


def test_validation_split():
    fit, val = validation_split(100, fraction=0.2, seed=3)
    assert len(val) == 20 and len(fit) == 80
    assert sorted(np.concatenate([fit, val]).tolist()) == list(range(100))
    _, val2 = validation_split(100, fraction=0.2, seed=3)
    np.testing.assert_array_equal(val, val2)
    assert not np.array_equal(val, validation_split(100, fraction=0.2, seed=4)[1])
    assert len(validation_split(2, fraction=0.01)[1]) == 1  # clipped to at least one row
    for bad, exc in (
        ({"n_rows": 1}, ValueError),
        ({"n_rows": 10, "fraction": 1.0}, ValueError),
        ({"n_rows": 10, "seed": -1}, ValueError),
        ({"n_rows": 10.0}, TypeError),
    ):
        with pytest.raises(exc):
            validation_split(**bad)
