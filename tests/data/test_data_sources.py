"""LIBSVM files, OpenML (never touching the network) and the registry."""

from __future__ import annotations

import http.server
import socket
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import sklearn.datasets
import sklearn.datasets._openml as sk_openml
from sklearn.utils import Bunch

from multilabel_ls.data import (
    BUILTIN_DATASETS,
    OpenMLUnavailableError,
    list_datasets,
    load_dataset,
    load_libsvm,
    load_openml,
)

# --------------------------------------------------------------------------- LIBSVM


@pytest.fixture
def svm_pair(tmp_path: Path) -> tuple[Path, Path]:
    tr = tmp_path / "toy_train.svm"
    te = tmp_path / "toy_test.svm"
    tr.write_text("0,2 1:0.5 3:1\n1 2:1.0\n 3:2\n")  # third row: no labels
    te.write_text("2 1:1\n0,1 2:0.25 4:1\n")
    return tr, te


def test_libsvm_multilabel(svm_pair):
    ds = load_libsvm(*svm_pair)
    assert ds.name == "toy_train"
    np.testing.assert_array_equal(ds.X_train, [[0.5, 0, 1, 0], [0, 1, 0, 0], [0, 0, 2, 0]])
    np.testing.assert_array_equal(ds.Y_train, [[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(ds.X_test, [[1, 0, 0, 0], [0, 0.25, 0, 1]])
    np.testing.assert_array_equal(ds.Y_test, [[0, 0, 1], [1, 1, 0]])
    assert ds.label_names == ("0", "1", "2")
    assert ds.describe()["train"]["n_empty_rows"] == 1  # kept, not dropped


def test_libsvm_label_ids_and_errors(svm_pair, tmp_path):
    ds = load_libsvm(*svm_pair, label_ids=range(5))
    assert ds.n_labels == 5 and ds.Y_train[:, 3:].sum() == 0
    with pytest.raises(ValueError, match="not in label_ids"):
        load_libsvm(*svm_pair, label_ids=[0, 1])
    with pytest.raises(FileNotFoundError):
        load_libsvm(tmp_path / "missing.svm", svm_pair[1])
    bad = tmp_path / "bad.svm"
    bad.write_text("0 1:x\n")
    with pytest.raises(ValueError, match="cannot parse LIBSVM"):
        load_libsvm(bad, svm_pair[1])


# --------------------------------------------------------------------------- OpenML


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _point_openml_at(monkeypatch, base: str) -> None:
    for const in ("_SEARCH_NAME", "_DATA_INFO", "_DATA_FEATURES", "_DATA_QUALITIES"):
        monkeypatch.setattr(sk_openml, const, base + "/api/v1/json/" + const.lower() + "/{}")


def _fake_bunch(n: int = 10) -> Bunch:
    rng = np.random.default_rng(0)
    y = np.where(rng.random((n, 3)) < 0.4, "TRUE", "FALSE").astype(object)
    return Bunch(
        data=rng.normal(size=(n, 4)),
        target=y,
        feature_names=["a", "b", "c", "d"],
        target_names=["l1", "l2", "l3"],
        details={"id": "123", "name": "toy", "version": "1"},
    )


def test_openml_unreachable_fails_fast(monkeypatch, tmp_path):
    """Nothing cached, nothing listening: one refused probe, no retries, no sleeping."""
    _point_openml_at(monkeypatch, f"http://127.0.0.1:{_closed_port()}")
    t0 = time.monotonic()
    with pytest.raises(OpenMLUnavailableError, match="cannot reach OpenML") as info:
        load_openml("yeast", data_home=tmp_path, timeout=2)
    assert time.monotonic() - t0 < 1.5
    assert "not cached" in str(info.value) and "'yeast'" in str(info.value)
    assert isinstance(info.value, ConnectionError)
    assert sk_openml.urlopen is urllib.request.urlopen  # the cache-only patch was undone


def test_openml_silent_server_times_out(monkeypatch, tmp_path):
    """A server that accepts connections but never answers: bounded by ``timeout``."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        _point_openml_at(monkeypatch, f"http://127.0.0.1:{srv.getsockname()[1]}")
        before = socket.getdefaulttimeout()
        t0 = time.monotonic()
        with pytest.raises(OpenMLUnavailableError, match="timed out"):
            load_openml(data_id=40597, data_home=tmp_path, timeout=0.3)
        assert time.monotonic() - t0 < 1.5
        assert socket.getdefaulttimeout() == before


def test_openml_cached_copy_needs_no_network(monkeypatch, tmp_path):
    """A fetch served from the cache (no URL opened) succeeds in the cache-only pass."""
    _point_openml_at(monkeypatch, f"http://127.0.0.1:{_closed_port()}")
    calls = []

    def fake_fetch(name, **kw):
        calls.append(dict(kw, name=name))
        return _fake_bunch()

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_fetch)
    ds = load_openml("toy", data_home=tmp_path, test_fraction=0.3, seed=1)
    assert len(calls) == 1  # no probe, no second attempt
    assert (ds.n_train, ds.n_test, ds.n_labels) == (7, 3, 3)
    assert ds.label_names == ("l1", "l2", "l3") and ds.name == "toy"
    assert calls[0]["data_home"] == str(tmp_path) and calls[0]["as_frame"] is False
    assert calls[0]["target_column"] == "default-target"
    assert "random" in ds.metadata["split"]
    again = load_openml("toy", data_home=tmp_path, test_fraction=0.3, seed=1)
    np.testing.assert_array_equal(again.X_test, ds.X_test)
    np.testing.assert_array_equal(again.Y_train, ds.Y_train)


def test_openml_downloads_when_reachable(monkeypatch, tmp_path):
    """Not cached, OpenML (a local HTTP server here) answers: probe, then a real fetch."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    _point_openml_at(monkeypatch, base)
    passes = []

    def fake_fetch(name, **kw):
        # A real fetch opens URLs through this module attribute (refused in the first pass).
        with sk_openml.urlopen(base + "/data"):
            pass
        passes.append(socket.getdefaulttimeout())
        return _fake_bunch()

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_fetch)
    try:
        ds = load_openml("toy", data_home=tmp_path, timeout=3)
    finally:
        server.shutdown()
        server.server_close()
    assert passes == [3.0] and ds.n_labels == 3


def test_openml_label_conversion(monkeypatch, tmp_path):
    bunch = _fake_bunch()
    bunch.target = np.array([["1", "0", "0"], ["0", "2", "1"]] * 5, dtype=object)
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", lambda name, **kw: bunch)
    with pytest.raises(ValueError, match="binary"):
        load_openml("toy", data_home=tmp_path)
    bunch.target = np.array([[1.0, 0, 0], [0, 1, 1]] * 5)
    assert load_openml("toy", data_home=tmp_path).Y_train.dtype == np.uint8
    bunch.target = None
    with pytest.raises(ValueError, match="label_columns"):
        load_openml("toy", data_home=tmp_path)


def test_openml_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="exactly one of name and data_id"):
        load_openml()
    with pytest.raises(ValueError, match="test_fraction"):
        load_openml("x", test_fraction=1.0)
    with pytest.raises(ValueError, match="timeout"):
        load_openml("x", timeout=0)


# --------------------------------------------------------------------------- registry


def test_list_and_unknown(shared_datasets):
    assert list_datasets() == ["digits-multi", "yeast"] == sorted(BUILTIN_DATASETS)
    names = list_datasets(shared_datasets)
    assert {"emotions", "scene", "medical", "enron"} <= set(names)
    assert names.count("yeast") == 1
    with pytest.raises(ValueError, match=r"unknown dataset 'nope'.*'digits-multi', 'yeast'"):
        load_dataset("nope")
    with pytest.raises(ValueError, match="emotions"):
        load_dataset("nope", data_dir=shared_datasets)


def test_dispatch(shared_datasets, svm_pair, monkeypatch):
    assert load_dataset("yeast").source.startswith("river")
    assert load_dataset("digits-multi", n_train=10, n_test=5).n_train == 10
    emo = load_dataset("emotions", data_dir=shared_datasets)
    assert emo.name == "emotions" and emo.n_train == 391
    assert load_dataset(f"mulan:{shared_datasets / 'emotions'}").n_test == 202
    assert load_dataset(shared_datasets / "emotions").n_test == 202
    assert load_dataset(str(shared_datasets / "emotions" / "emotions.xml")).n_test == 202
    assert load_dataset(f"libsvm:{svm_pair[0]},{svm_pair[1]}").n_train == 3
    assert load_dataset(f"libsvm:{svm_pair[0]}", test_path=svm_pair[1]).n_test == 2
    with pytest.raises(ValueError, match="libsvm:<train>,<test>"):
        load_dataset(f"libsvm:{svm_pair[0]}")
    seen = {}
    monkeypatch.setattr(
        "multilabel_ls.data.registry.load_openml", lambda *a, **k: seen.update(a=a, k=k)
    )
    load_dataset("openml:yeast")
    assert seen["a"] == ("yeast",)
    load_dataset("openml:40597")
    assert seen["k"] == {"data_id": 40597}
    with pytest.raises(TypeError):
        load_dataset(3)
