"""Offline yeast (river's CSV + shipped split) against Mulan's official split files."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

import multilabel_ls.data.yeast as yeast_mod
from multilabel_ls.data import load_mulan, load_yeast
from multilabel_ls.data._make_yeast_split import match_split


@pytest.fixture(scope="module")
def offline():
    return load_yeast()


def test_shapes_and_stats(offline):
    assert (offline.n_train, offline.n_test, offline.n_features, offline.n_labels) == (
        1500,
        917,
        103,
        14,
    )
    d = offline.describe()
    assert round(d["train"]["cardinality"], 3) == 4.228
    assert round(d["test"]["cardinality"], 3) == 4.252
    assert d["train"]["n_distinct_labelsets"] == 164
    assert d["test"]["n_distinct_labelsets"] == 140
    assert offline.label_names == tuple(f"Class{i}" for i in range(1, 15))
    assert "river" in offline.source and offline.metadata["split"] == "official"


def test_equals_official_arff_split_row_for_row(offline, shared_datasets):
    official = load_mulan(shared_datasets / "yeast")
    assert official.feature_names == offline.feature_names
    assert official.label_names == offline.label_names
    for name in ("X_train", "Y_train", "X_test", "Y_test"):
        np.testing.assert_array_equal(getattr(offline, name), getattr(official, name))


def test_shipped_split_file_is_a_partition():
    rec = json.loads(resources.files("multilabel_ls.data").joinpath("yeast_split.json").read_text())
    tr, te = rec["train"], rec["test"]
    assert (len(tr), len(te)) == (1500, 917)
    assert sorted(tr + te) == list(range(2417))
    assert rec["facts"]["identical_rows"] == 0


def test_changed_river_file_is_detected(monkeypatch):
    values, cols = yeast_mod.read_river_yeast_csv()
    changed = values.copy()
    changed[0, 0] += 1e-6
    monkeypatch.setattr(yeast_mod, "read_river_yeast_csv", lambda: (changed, cols))
    with pytest.raises(ValueError, match="differ from the ones the shipped split"):
        load_yeast()
    monkeypatch.setattr(yeast_mod, "read_river_yeast_csv", lambda: (values[:-1], cols))
    with pytest.raises(ValueError, match="unexpected header"):
        load_yeast()


def test_match_split_assigns_duplicates_deterministically():
    # Rows 0 and 2 of `full` are identical; the first occurrence in train gets index 0.
    full = np.array([[1.0, 0], [2, 1], [1, 0], [3, 1]])
    train = np.array([[1.0, 0], [3, 1]])
    test = np.array([[2.0, 1], [1, 0]])
    tr, te, facts = match_split(full, train, test)
    assert (tr, te) == ([0, 3], [1, 2])
    assert facts["identical_rows"] == 1
    with pytest.raises(ValueError, match="no unused identical row"):
        match_split(full, np.array([[1.0, 0], [1, 0], [1, 0]]), test[:1])
    with pytest.raises(ValueError, match="matched neither split"):
        match_split(full, train, test[:1])
