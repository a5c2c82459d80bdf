"""The SQLite store: atomic inserts, no duplicates, round trips, read-only access, failures."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from multilabel_ls.experiments.store import ResultStore


def _result(key="k1", seed=0, logits=True):
    spec = {"dataset": "yeast", "strategy": "binary", "epsilon": 0.1, "epsilon_pos": None,
            "epsilon_neg": None, "noise": "none", "seed": seed, "train": {"lr": 1e-3},
            "eval": {"n_bins": 15}}  # fmt: skip
    return {"key": key, "spec": spec, "family": "sigmoid", "metrics": {"map_macro": 0.5},
            "history": {"best_val_map": float("-inf")}, "data": {"n_fit": 3},
            "test_logits": np.arange(6, dtype=np.float32).reshape(3, 2) if logits else None,
            "test_labels": np.array([[1, 0], [0, 1], [1, 1]], dtype=np.uint8)}  # fmt: skip


def test_put_is_idempotent_and_round_trips(tmp_path):
    path = tmp_path / "sub" / "r.sqlite"
    with ResultStore(path) as st:
        assert st.put(_result()) is True
        assert st.put(_result()) is False  # same key: ignored, not duplicated
        assert st.put(_result("k2", seed=1, logits=False)) is True
        assert len(st) == 2 and st.done_keys() == {"k1", "k2"}
        np.testing.assert_array_equal(st.logits("k1"), np.arange(6).reshape(3, 2))
        assert st.logits("k2") is None
        with pytest.raises(KeyError, match="k3"):
            st.logits("k3")
        np.testing.assert_array_equal(st.test_labels("yeast"), [[1, 0], [0, 1], [1, 1]])
        assert st.test_labels("scene") is None
    with ResultStore(path, readonly=True) as st:
        rows = list(st.runs(with_record=True))
        assert [r["key"] for r in rows] == ["k1", "k2"]
        assert rows[0]["metrics"] == {"map_macro": 0.5}
        assert rows[0]["record"]["history"]["best_val_map"] == float("-inf")
        assert "test_logits" not in rows[0]["record"] and "metrics" not in rows[0]["record"]
        assert rows[0]["setting"] == rows[1]["setting"]  # same train/eval configuration
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)


def test_failures_are_logged(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as st:
        st.record_failure("k9", "yeast/x", "ValueError: boom", "Traceback...")
        assert st.failures()[0]["error"] == "ValueError: boom"
        assert st.done_keys() == set()


def test_readonly_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no result store"):
        ResultStore(tmp_path / "nope.sqlite", readonly=True)
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database at all" * 100)
    with pytest.raises(ValueError, match="not a multilabel_ls result store"):
        ResultStore(junk, readonly=True)
