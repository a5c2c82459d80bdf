"""digits-multi: composition, labels, determinism and disjoint source images."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from multilabel_ls.data import load_digits_multi


@pytest.fixture(scope="module")
def small():
    return load_digits_multi(n_train=300, n_test=200, seed=3)


@pytest.fixture(scope="module")
def source():
    d = load_digits()
    images = (d.images / 16.0).astype(np.float32)
    return {im.tobytes(): (i, int(d.target[i])) for i, im in enumerate(images)}


def _tiles(img: np.ndarray) -> list[np.ndarray]:
    return [img[r : r + 8, c : c + 8] for r in (0, 8) for c in (0, 8)]


def test_shapes_and_dtypes(small):
    assert small.X_train.shape == (300, 256) and small.X_test.shape == (200, 256)
    assert small.Y_train.shape == (300, 10) and small.Y_train.dtype == np.uint8
    assert small.image_shape == (1, 16, 16)
    imgs = small.as_images(small.X_train)
    assert imgs.shape == (300, 1, 16, 16) and imgs.dtype == np.float32
    assert np.shares_memory(imgs, small.X_train)  # a view, not a copy
    assert small.X_train.min() >= 0 and small.X_train.max() <= 1
    assert small.label_names == tuple(str(c) for c in range(10))


def test_tiles_are_real_digits_labels_match_and_sources_are_disjoint(small, source):
    used = {}
    for split in ("train", "test"):
        X, Y = small.split(split)
        ids = set()
        for img, y in zip(small.as_images(X)[:, 0], Y, strict=True):
            tiles = [t for t in _tiles(img) if t.any()]
            assert 2 <= len(tiles) <= 4
            found = [source[t.tobytes()] for t in tiles]  # KeyError if not a real digit
            assert len({i for i, _ in found}) == len(found)  # distinct source images
            assert set(np.flatnonzero(y)) == {c for _, c in found}
            ids |= {i for i, _ in found}
        used[split] = ids
    assert not used["train"] & used["test"]


def test_determinism_and_seed(small):
    again = load_digits_multi(n_train=300, n_test=200, seed=3)
    np.testing.assert_array_equal(again.X_train, small.X_train)
    np.testing.assert_array_equal(again.Y_test, small.Y_test)
    other = load_digits_multi(n_train=300, n_test=200, seed=4)
    assert not np.array_equal(other.X_train, small.X_train)
    # Independent streams: the test set does not depend on n_train.
    more = load_digits_multi(n_train=50, n_test=200, seed=3)
    np.testing.assert_array_equal(more.X_test, small.X_test)


def test_defaults_and_stats():
    ds = load_digits_multi()
    assert (ds.n_train, ds.n_test) == (2000, 1000)
    assert ds.metadata["n_source_train"] + ds.metadata["n_source_test"] == 1797
    d = ds.describe()
    assert d["train"]["n_empty_rows"] == 0
    # k uniform on {2,3,4} -> about 3 digits, a little less in distinct classes
    assert 2.4 < d["train"]["cardinality"] < 3.0


def test_digit_count_range():
    ds = load_digits_multi(n_train=100, n_test=20, min_digits=4, max_digits=4, seed=0)
    assert all(sum(t.any() for t in _tiles(im)) == 4 for im in ds.as_images(ds.X_train)[:, 0])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_train": 0}, ValueError, "n_train"),
        ({"n_test": 1.5}, TypeError, "n_test"),
        ({"seed": -1}, ValueError, "seed"),
        ({"min_digits": 3, "max_digits": 2}, ValueError, "max_digits"),
        ({"max_digits": 5}, ValueError, "max_digits"),
        ({"source_test_fraction": 1.0}, ValueError, "source_test_fraction"),
        ({"source_test_fraction": 0.001}, ValueError, "source_test_fraction"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        load_digits_multi(**kwargs)
