"""The grid runner: resume after a real SIGKILL (bit-identical to fresh runs), failures, fail-fast."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

import multilabel_ls.experiments.runner as runner_mod
from multilabel_ls.experiments.config import ConfigError
from multilabel_ls.experiments.runner import run_grid
from multilabel_ls.experiments.store import ResultStore
from multilabel_ls.experiments.training import run_one

from .conftest import tiny_config

# Slow enough (about 0.3 s per run) that the kill lands in the middle of the grid.
KILL_FLAGS = ["--strategies", "binary,uniform", "--epsilons", "0,0.1,0.2,0.3", "--seed-list",
              "0,1", "--hidden", "32", "--max-epochs", "25", "--patience", "30",
              "--batch-size", "128", "--no-report", "--no-progress"]  # fmt: skip


KILL_TRAIN = {"hidden": (32,), "max_epochs": 25, "patience": 30, "batch_size": 128}


def _cli(out, *extra):
    return [
        sys.executable,
        "-m",
        "multilabel_ls.cli",
        "run",
        "--out",
        str(out),
        *KILL_FLAGS,
        *extra,
    ]


def _rows(path):
    con = sqlite3.connect(path, timeout=30)
    try:
        return con.execute("SELECT key, created_at FROM runs ORDER BY rowid").fetchall()
    except sqlite3.OperationalError:  # the table does not exist yet
        return []
    finally:
        con.close()


def test_grid_killed_midway_resumes_without_loss_or_duplicates(tmp_path):
    store = tmp_path / "results.sqlite"
    proc = subprocess.Popen(_cli(tmp_path, "--workers", "2"), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if store.exists() and len(_rows(store)) >= 3:
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run's whole process group, workers included
        proc.wait()
    before = _rows(store)
    total = 16
    assert 3 <= len(before) < total, f"kill did not land mid-grid ({len(before)} runs stored)"
    con = sqlite3.connect(store)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()

    out = subprocess.run(_cli(tmp_path, "--workers", "1"), capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"{total - len(before)} runs trained, {len(before)} already in the store" in out.stdout
    after = _rows(store)
    assert len(after) == total == len({k for k, _ in after})  # nothing lost, nothing twice
    assert after[: len(before)] == before  # finished runs untouched (same rows, same times)
    expected = {s.key for s in tiny_config(epsilons=(0, 0.1, 0.2, 0.3), train=KILL_TRAIN).expand()}
    assert {k for k, _ in after} == expected
    again = run_grid(tiny_config(epsilons=(0, 0.1, 0.2, 0.3), train=KILL_TRAIN), store,
                     workers=1, progress=False)  # fmt: skip
    assert (again.completed, again.skipped) == (0, total)

    # Runs trained by the spawned workers before the kill are bit-identical to a fresh run in
    # this process: results depend on the seed only, not on the schedule or the worker.
    spec = next(s for s in tiny_config(epsilons=(0, 0.1, 0.2, 0.3), train=KILL_TRAIN).expand()
                if s.key == before[0][0])  # fmt: skip
    fresh = run_one(spec)
    with ResultStore(store, readonly=True) as st:
        np.testing.assert_array_equal(st.logits(spec.key), fresh["test_logits"])
        val_logits, val_labels = st.validation(spec.key)  # for post-hoc calibration
        np.testing.assert_array_equal(val_logits, fresh["val_logits"])
        np.testing.assert_array_equal(val_labels, fresh["val_labels"])
        stored = next(r for r in st.runs() if r["key"] == spec.key)
        assert stored["metrics"] == fresh["metrics"]


def test_failed_runs_are_logged_and_retried(tmp_path, monkeypatch):
    cfg = tiny_config()
    real = runner_mod.run_one
    bad = cfg.expand()[1].key

    def flaky(spec, **kw):
        if spec.key == bad:
            raise RuntimeError("injected failure")
        return real(spec, **kw)

    monkeypatch.setattr(runner_mod, "run_one", flaky)
    s = run_grid(cfg, tmp_path / "r.sqlite", workers=1, progress=False)
    assert not s.ok and s.completed == 7 and s.failed[0]["key"] == bad
    assert "RuntimeError: injected failure" in s.failed[0]["error"]
    with ResultStore(tmp_path / "r.sqlite") as st:
        assert bad not in st.done_keys() and st.failures()[0]["key"] == bad
    monkeypatch.setattr(runner_mod, "run_one", real)
    s = run_grid(cfg, tmp_path / "r.sqlite", workers=1, progress=False)
    assert s.ok and (s.completed, s.skipped) == (1, 7)


def test_grid_fails_fast_on_bad_data_or_policy(tmp_path):
    with pytest.raises(ConfigError, match=r"datasets\[0\]: cannot load 'nope'"):
        run_grid(tiny_config(datasets=("nope",)), tmp_path / "r.sqlite", progress=False)
    bad = tiny_config(strategies=("binary",), train={"empty_rows": "renormalize"})
    with pytest.raises(ConfigError, match=r"strategies\[0\].*renormalize"):
        run_grid(bad, tmp_path / "r.sqlite", progress=False)
    with pytest.raises(ConfigError, match="workers"):
        run_grid(tiny_config(), tmp_path / "r.sqlite", workers=0, progress=False)
    assert not (tmp_path / "r.sqlite").exists() or not _rows(tmp_path / "r.sqlite")
