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


# ----------------------------------------------------------------- validation logits (schema 2)

_V1_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    key TEXT PRIMARY KEY, dataset TEXT NOT NULL, strategy TEXT NOT NULL, family TEXT NOT NULL,
    epsilon REAL NOT NULL, epsilon_pos REAL, epsilon_neg REAL, noise TEXT NOT NULL,
    seed INTEGER NOT NULL, setting TEXT NOT NULL, metrics TEXT NOT NULL, record TEXT NOT NULL,
    test_logits BLOB, created_at TEXT NOT NULL
);
CREATE TABLE labels (dataset TEXT PRIMARY KEY, y_test BLOB NOT NULL);
CREATE TABLE failures (
    key TEXT NOT NULL, label TEXT NOT NULL, error TEXT NOT NULL,
    traceback TEXT, created_at TEXT NOT NULL
);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO runs VALUES ('old', 'yeast', 'binary', 'sigmoid', 0.1, NULL, NULL, 'none', 0,
    'abc', '{"map_macro": 0.5}', '{"data": {}}', NULL, '2026-01-01T00:00:00+00:00');
"""


def _v1_store(path):
    """A store as schema 1 (before validation logits) wrote it."""
    con = sqlite3.connect(path)
    con.executescript(_V1_SCHEMA)
    con.commit()
    con.close()
    return path


def test_validation_logits_round_trip(tmp_path):
    r = _result()
    r["val_logits"] = np.array([[0.5, -1.0]], dtype=np.float32)
    r["val_labels"] = np.array([[1, 0]], dtype=np.uint8)
    with ResultStore(tmp_path / "r.sqlite") as st:
        st.put(r)
        st.put(_result("k2", seed=1))  # a result without validation arrays
        assert st.get_meta("schema_version") == "2"
        logits, labels = st.validation("k1")
        np.testing.assert_array_equal(logits, [[0.5, -1.0]])
        assert labels.dtype == np.uint8 and labels.tolist() == [[1, 0]]
        assert st.validation("k2") is None
        with pytest.raises(KeyError, match="k3"):
            st.validation("k3")
        rec = next(st.runs(with_record=True))["record"]
        assert "val_logits" not in rec and "val_labels" not in rec


def test_schema_1_store_loads_read_only_and_upgrades_for_writing(tmp_path):
    path = _v1_store(tmp_path / "old.sqlite")
    with ResultStore(path, readonly=True) as st:  # read-only: left exactly as it is
        assert [r["key"] for r in st.runs()] == ["old"]
        assert st.validation("old") is None and st.logits("old") is None
        with pytest.raises(KeyError):
            st.validation("nope")
        assert st.get_meta("schema_version") == "1"
    with ResultStore(path) as st:  # writable: upgraded in place, old rows kept
        assert st.get_meta("schema_version") == "2"
        assert st.validation("old") is None
        r = _result("new")
        r["val_logits"] = np.zeros((2, 2), np.float32)
        r["val_labels"] = np.ones((2, 2), np.uint8)
        assert st.put(r)
        assert st.validation("new")[1].tolist() == [[1, 1], [1, 1]]
        assert st.done_keys() == {"old", "new"}
    with ResultStore(path) as st:  # a second open does not upgrade twice
        assert len(st) == 2


def test_unknown_schema_version_is_refused(tmp_path):
    path = _v1_store(tmp_path / "future.sqlite")
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value='99' WHERE name='schema_version'")
    con.commit()
    con.close()
    for readonly in (True, False):
        with pytest.raises(ValueError, match="unsupported store schema '99'"):
            ResultStore(path, readonly=readonly)
